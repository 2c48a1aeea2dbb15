"""TensorFlow runtime settings shared by the pipeline's jobs (training, evaluation) and the command.

Importable without TensorFlow: the entry points call start_tensorflow() before anything loads it.
"""

from __future__ import annotations

import os
import sys

VERBOSE = "INPAINTBENCH_VERBOSE"


def verbose() -> bool:
    """Whether the user asked for verbose output (`inpaintbench --verbose`, `snakemake --verbose`):
    TensorFlow's start-up lines and the traceback of a failed job are shown then."""
    return os.environ.get(VERBOSE, "") not in ("", "0")


def start_tensorflow() -> None:
    """Import TensorFlow and find its devices without its start-up noise on stderr, unless verbose().

    The noise (absl's "All log messages before absl::InitializeLog()", the CUDA stub and cuInit
    on a machine without a GPU, CPU-feature notes) is written by C++ straight to file
    descriptor 2, before TF_CPP_MIN_LOG_LEVEL applies to some of it: so the descriptor points
    to /dev/null meanwhile. Later TensorFlow warnings and errors still show.
    """
    if verbose() or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def set_threads(threads: int | None) -> None:
    """Keep TensorFlow within the job's cores (only possible before its runtime starts)."""
    import tensorflow as tf

    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        pass  # already initialised in this process (tests): the defaults stay
