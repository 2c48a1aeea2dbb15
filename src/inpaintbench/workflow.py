"""The workflow as a whole: a scratch copy of its own files, and the report's check that the results
follow the config.

Running in a copy never touches the checkout's results/, and the copy holds exactly what a
run reads: the Snakefile, rules, scripts, configs, envs, profiles, report captions and src/.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
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


def stale_report_warning(planned: Counter) -> str | None:
    """The one line `snakemake --report` prints when a run of the current config would plan jobs
    ({rule: jobs}): the report then shows the last run's results, not what the config asks for."""
    if not planned:
        return None
    jobs = ", ".join(f"{rule} {count}" for rule, count in sorted(planned.items()))
    return (f"inpaintbench: warning: the report describes the last run, not the current config: a run would "
            f"plan {planned.total()} jobs ({jobs}); `snakemake -n` says why")


def warn_on_stale_report(workflow) -> None:
    """Make Snakemake's `workflow.create_report` (what `snakemake --report` calls once the Snakefile is
    read) print stale_report_warning's line after the report, or after its error (an output the config
    adds is missing): only then is the DAG of jobs known."""
    create_report = workflow.create_report

    def create_report_and_warn(*args, **kwargs):
        try:
            create_report(*args, **kwargs)
        finally:
            planned = Counter(job.rule.name for job in workflow.dag.needrun_jobs()) if workflow.dag else Counter()
            warning = stale_report_warning(planned)
            if warning:
                print(warning, file=sys.stderr)

    workflow.create_report = create_report_and_warn
