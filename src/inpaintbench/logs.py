"""Logging for pipeline steps: one log file per job (the rule's `log:`), mirrored to stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from .runtime import verbose


def get_logger(name: str, log_file: str | Path | None = None) -> logging.Logger:
    logger = logging.getLogger(f"inpaintbench.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


@contextlib.contextmanager
def logged_errors(logger: logging.Logger):
    """An exception leaving the block is written to `logger` as one line (type: message), then raised again."""
    try:
        yield logger
    except Exception as error:
        logger.error("%s: %s", type(error).__name__, " ".join(str(error).split()))
        raise


@contextlib.contextmanager
def exit_on_error(logger: logging.Logger | None = None):
    """The end of a Snakemake job that fails: its error goes into the job's log as one line (through
    `logger`; None: the library function that failed has logged it), so that a SLURM user finds
    the cause there, and the job exits with status 1, its traceback shown only if verbose()."""
    try:
        with logged_errors(logger) if logger else contextlib.nullcontext():
            yield logger
    except Exception:
        if verbose():
            raise
        raise SystemExit(1) from None
