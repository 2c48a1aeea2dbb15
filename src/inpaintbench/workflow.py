"""A scratch copy of the workflow's own files, for tests and benchmarks that run Snakemake.

Running in a copy never touches the checkout's results/, and the copy holds exactly what a
run reads: the Snakefile, rules, scripts, configs, envs, profiles, report captions and src/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PARTS = ("Snakefile", "rules", "scripts", "config", "envs", "profiles", "src", "report")


def copy_workflow(root: str | Path, destination: str | Path) -> Path:
    """Copy the workflow at `root` (without results or caches) into `destination`; returns it."""
    root, destination = Path(root), Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        source = root / part
        if source.is_dir():
            shutil.copytree(source, destination / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif source.exists():
            shutil.copy2(source, destination / part)
    return destination
