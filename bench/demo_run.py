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

On a shared machine wall time measures the other users too, so the record also holds every
job's CPU seconds (Snakemake's cpu_time), their total against the target's CPU budget (cores x
15 minutes), and the load average before and after. --rescan rereads the benchmark files of
the last run (e.g. after adding a figure to the record) and keeps its measured wall times.

--readme rewrites the README's demo table (between its demo-table markers) from the record's
comparison table, so the README quotes one recorded run and nothing else (tests/test_readme.py
checks that it does).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from inpaintbench import provenance
from inpaintbench.aggregate import from_markdown
from inpaintbench.config import enabled_models, load_config
from inpaintbench.workflow import copy_workflow

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "demo_run"
RESULT = ROOT / "bench" / "results" / "demo_run.json"
TARGET_SECONDS = 15 * 60
STAGES = ("data", "train", "evaluate", "report")
README = ROOT / "README.md"
README_MARKERS = ("<!-- demo-table: written by `python bench/demo_run.py --readme` "
                  "from bench/results/demo_run.json -->", "<!-- /demo-table -->")
# The README's columns of the comparison table: (column, keep its interval)
README_COLUMNS = (("Protocol", False), ("Method", False), ("Reads original", False), ("PSNR (dB)", True),
                  ("SSIM", False), ("Hole PSNR (dB)", False), ("Sharpness (hole detail / truth)", False),
                  ("Training (s)", False))


def fresh_workflow(disable: list[str]) -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    copy_workflow(ROOT, WORK)
    config_path = WORK / "config" / "demo.yaml"
    config = yaml.safe_load(config_path.read_text())
    unknown = set(disable) - set(config["models"])
    if unknown:
        raise SystemExit(f"--disable: no model {', '.join(sorted(unknown))} in config/demo.yaml")
    for name in disable:
        config["models"][name]["enabled"] = False
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def run(*args: str) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", *args]
    result = subprocess.run(command, cwd=WORK, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (WORK / f"snakemake_{args[-1].replace('/', '_')}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed after {seconds:.0f} s:\n{result.stderr[-4000:]}")
    return seconds


def job_seconds(column: str) -> dict[str, dict[str, float]]:
    """{stage: {job: seconds}} from results/benchmarks/{stage}/{job}.tsv (column s: wall, cpu_time: CPU);
    an evaluation job is named protocol/method (results/benchmarks/evaluate/{protocol}/{method}.tsv)."""
    stages = {}
    for stage in STAGES:
        jobs, folder = {}, WORK / "results" / "benchmarks" / stage
        for path in sorted(folder.rglob("*.tsv")):
            with open(path, newline="") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            jobs[str(path.relative_to(folder).with_suffix(""))] = round(float(rows[-1][column]), 2)
        stages[stage] = jobs
    return stages


def summed(stages: dict[str, dict[str, float]]) -> dict[str, float]:
    return {stage: round(sum(jobs.values()), 1) for stage, jobs in stages.items()}


def per_protocol(evaluate: dict[str, float]) -> dict[str, float]:
    """Seconds of the evaluation jobs summed per mask protocol (jobs named protocol/method; the
    real_features job belongs to no protocol)."""
    totals = {}
    for job, seconds in evaluate.items():
        if "/" not in job:
            continue
        protocol = job.split("/")[0]
        totals[protocol] = round(totals.get(protocol, 0.0) + seconds, 1)
    return totals


def readme_table(comparison_markdown: str) -> str:
    """The README's demo table: README_COLUMNS of the recorded comparison table, means only where
    the interval is not kept, method names as code and "yes" in bold where a method reads the answer."""
    header, *rows = from_markdown(comparison_markdown)
    index = [header.index(column) for column, _ in README_COLUMNS]
    lines = ["| " + " | ".join(column.split(" (hole")[0] for column, _ in README_COLUMNS) + " |",
             "|" + " --- |" * len(README_COLUMNS)]
    for row in rows:
        cells = [row[i] if keep else row[i].split(" [")[0] for i, (_, keep) in zip(index, README_COLUMNS)]
        cells[1] = f"`{cells[1]}`"
        cells[2] = "**yes**" if cells[2] == "yes" else cells[2]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme_table(record: dict) -> None:
    text = README.read_text()
    start, end = (text.index(marker) for marker in README_MARKERS)
    table = readme_table(record["comparison_markdown"])
    provenance.write_text(README, text[:start] + README_MARKERS[0] + "\n\n" + table + "\n\n" + text[end:])
    print(f"{README}: demo table rewritten from {RESULT} ({record['created']}, {record['git_commit']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--disable", default="", help="comma-separated models to leave out")
    parser.add_argument("--rescan", action="store_true", help="reread the last run's benchmark files")
    parser.add_argument("--readme", action="store_true", help="rewrite the README's demo table from the record")
    args = parser.parse_args()
    if args.readme:
        write_readme_table(json.loads(RESULT.read_text()))
        return
    if args.rescan:
        measured = json.loads(RESULT.read_text())
        cores, disable = measured["cores"], measured["models_left_out"]
        pipeline, report = measured["pipeline_seconds"], measured["report_seconds"]
        load = measured.get("load_average", {"before": None, "after": None})
    else:
        cores, disable = args.cores, [name for name in args.disable.split(",") if name]
        fresh_workflow(disable)
        load = {"before": round(os.getloadavg()[0], 2)}
        pipeline = run("--cores", str(cores), "--configfile", "config/demo.yaml")
        report = run("--configfile", "config/demo.yaml", "--report", "results/report.html")
        load["after"] = round(os.getloadavg()[0], 2)
    config = load_config(WORK / "config" / "demo.yaml")
    total = pipeline + report
    wall, cpu = job_seconds("s"), job_seconds("cpu_time")
    cpu_total = sum(summed(cpu).values())
    comparison = (WORK / "results" / "tables" / "comparison.md").read_text()
    record = provenance.record(
        config, benchmark="demo_run", cores=cores, target_seconds=TARGET_SECONDS,
        pipeline_seconds=round(pipeline, 1), report_seconds=round(report, 1), total_seconds=round(total, 1),
        ratio_to_target=round(total / TARGET_SECONDS, 3), within_target=total <= TARGET_SECONDS,
        load_average=load, stage_wall_seconds_sum=summed(wall), stage_cpu_seconds_sum=summed(cpu),
        cpu_seconds_total=round(cpu_total, 1), cpu_budget_seconds=cores * TARGET_SECONDS,
        cpu_ratio_to_budget=round(cpu_total / (cores * TARGET_SECONDS), 3),
        evaluation_wall_seconds_per_protocol=per_protocol(wall["evaluate"]),
        evaluation_cpu_seconds_per_protocol=per_protocol(cpu["evaluate"]),
        job_wall_seconds=wall, job_cpu_seconds=cpu, models=enabled_models(config), models_left_out=disable,
        baselines=config["evaluation"]["baselines"], comparison_markdown=comparison,
    )
    provenance.write_json(RESULT, record)
    print(comparison)
    for stage in STAGES:
        print(f"{stage:9s} wall {summed(wall)[stage]:7.1f} s, CPU {summed(cpu)[stage]:7.1f} s "
              f"in {len(wall[stage])} job(s)")
    for protocol, seconds in per_protocol(wall["evaluate"]).items():
        print(f"  evaluation with {protocol} masks: wall {seconds:7.1f} s, "
              f"CPU {per_protocol(cpu['evaluate'])[protocol]:7.1f} s")
    print(f"pipeline {pipeline:.1f} s + report {report:.1f} s = {total:.1f} s on {cores} cores; "
          f"target {TARGET_SECONDS} s, ratio {total / TARGET_SECONDS:.2f}; CPU {cpu_total:.0f} s of a "
          f"{cores * TARGET_SECONDS} s budget ({cpu_total / (cores * TARGET_SECONDS):.2f}); load average "
          f"{load['before']} -> {load['after']}"
          + (f"; models left out: {', '.join(disable)}" if disable else "") + f" -> {RESULT}")


if __name__ == "__main__":
    main()
