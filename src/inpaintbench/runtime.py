"""TensorFlow runtime settings shared by the pipeline's jobs (training, evaluation)."""

from __future__ import annotations

import tensorflow as tf


def set_threads(threads: int | None) -> None:
    """Keep TensorFlow within the job's cores (only possible before its runtime starts)."""
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        pass  # already initialised in this process (tests): the defaults stay
