"""Atomic output writes and the provenance record (config, seed, versions, commit) kept beside results."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "inpaintbench", "tensorflow", "tensorflow-probability", "keras", "numpy", "pandas",
    "scikit-image", "scikit-learn", "pillow", "matplotlib", "snakemake",
)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None):
    """Yield a temporary path next to `path`; move it into place only if the block succeeds.

    A crash or error leaves any earlier file at `path` untouched and no partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(directory: str | Path | None = None) -> str | None:
    """The commit of the workflow checkout, '-dirty' if tracked files changed; None outside git.

    A failing dirty check (a damaged or unreadable index) still reports the
    commit, marked '-unknown-state', rather than losing it.
    """
    directory = Path(directory or Path.cwd())

    def git(*args):
        return subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return None
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return commit + "-unknown-state"
    return commit + ("-dirty" if dirty else "")


def record(config: dict | None = None, **extra) -> dict:
    """What a reader needs to trace a number back: config, versions, commit, host and time."""
    return {
        "config": config,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "host": platform.node(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
