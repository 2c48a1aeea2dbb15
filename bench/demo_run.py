"""Benchmark: the whole demo pipeline from nothing to the HTML report, against the 15-minute target.

Copies the workflow (no results) to bench/work/demo_run/, runs
  snakemake --cores 2 --configfile config/demo.yaml      (data, training, evaluation, tables, figures)
  snakemake --configfile config/demo.yaml --report results/report.html
and records the wall time of each, the time of every job and of every stage (data, train,
evaluate, report) from Snakemake's benchmark files, the methods covered, and the ratio of the
total to the 15-minute target in bench/results/demo_run.json.

    python bench/demo_run.py [--cores 2] [--disable model,...]

--disable turns models off in the copied config (e.g. models not yet available); the record
names the models left out, so a partial run is never mistaken for the whole one.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from inpaintbench import provenance
from inpaintbench.config import enabled_models, load_config

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "demo_run"
RESULT = ROOT / "bench" / "results" / "demo_run.json"
PARTS = ("Snakefile", "rules", "scripts", "config", "envs", "profiles", "src", "report")
TARGET_SECONDS = 15 * 60
STAGES = ("data", "train", "evaluate", "report")


def fresh_workflow(disable: list[str]) -> Path:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    for part in PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, WORK / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, WORK / part)
    config_path = WORK / "config" / "demo.yaml"
    config = yaml.safe_load(config_path.read_text())
    unknown = set(disable) - set(config["models"])
    if unknown:
        raise SystemExit(f"--disable: no model {', '.join(sorted(unknown))} in config/demo.yaml")
    for name in disable:
        config["models"][name]["enabled"] = False
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config_path


def run(*args: str) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", *args]
    result = subprocess.run(command, cwd=WORK, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (WORK / f"snakemake_{args[-1].replace('/', '_')}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed after {seconds:.0f} s:\n{result.stderr[-4000:]}")
    return seconds


def job_seconds() -> dict[str, dict[str, float]]:
    """{stage: {job: wall seconds}} from results/benchmarks/{stage}/{job}.tsv."""
    stages = {}
    for stage in STAGES:
        jobs = {}
        for path in sorted((WORK / "results" / "benchmarks" / stage).glob("*.tsv")):
            with open(path, newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            jobs[path.stem] = round(float(rows[-1]["s"]), 2)
        stages[stage] = jobs
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--disable", default="", help="comma-separated models to leave out")
    args = parser.parse_args()
    disable = [name for name in args.disable.split(",") if name]
    config_path = fresh_workflow(disable)
    config = load_config(config_path)

    pipeline = run("--cores", str(args.cores), "--configfile", "config/demo.yaml")
    report = run("--configfile", "config/demo.yaml", "--report", "results/report.html")
    total = pipeline + report
    stages = job_seconds()
    comparison = (WORK / "results" / "tables" / "comparison.md").read_text()
    record = provenance.record(
        None, benchmark="demo_run", cores=args.cores, target_seconds=TARGET_SECONDS,
        pipeline_seconds=round(pipeline, 1), report_seconds=round(report, 1), total_seconds=round(total, 1),
        ratio_to_target=round(total / TARGET_SECONDS, 3), within_target=total <= TARGET_SECONDS,
        stage_job_seconds_sum={stage: round(sum(jobs.values()), 1) for stage, jobs in stages.items()},
        job_seconds=stages, models=enabled_models(config), models_left_out=disable,
        baselines=config["evaluation"]["baselines"], comparison_markdown=comparison,
    )
    provenance.write_json(RESULT, record)
    print(comparison)
    for stage, jobs in stages.items():
        print(f"{stage:9s} {sum(jobs.values()):7.1f} s in {len(jobs)} job(s) (job wall times summed)")
    print(f"pipeline {pipeline:.1f} s + report {report:.1f} s = {total:.1f} s on {args.cores} cores; "
          f"target {TARGET_SECONDS} s, ratio {total / TARGET_SECONDS:.2f}"
          + (f"; models left out: {', '.join(disable)}" if disable else "") + f" -> {RESULT}")


if __name__ == "__main__":
    main()
