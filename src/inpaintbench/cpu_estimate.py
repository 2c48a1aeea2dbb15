"""How long a config runs on a CPU, from times measured on this machine, so config/places-cpu.yaml
quotes computed figures that follow every re-recording of the benchmarks, not hand-copied ones.

Each job's seconds on 2 cores come from the benchmark records: training steps from the demo run's
models (the training seconds of their meta, shown in its comparison table, not the job wall time
with start-up), the paper models' images/s (train_throughput), every method's inference per test
image (the demo's, at the same settings and threads: the diffusion's samples included), the
data stage (prepare). Each job runs on as many threads as the demo's jobs did when they were
measured (`job_threads`; the config must ask for the same), so Snakemake runs cores // threads of
them at once: the run on 2 cores and the projection for more are schedules of the jobs over those
slots (never shorter than the critical path or the work divided by the slots), each job as fast as
it was measured here.
"""

from __future__ import annotations

import copy
import math
import re
import statistics

from inpaintbench.aggregate import from_markdown
from inpaintbench.config import ConfigError, enabled_models
from inpaintbench.data.prepare import build_manifest

PLACES365_VAL_IMAGES = 36_500
TARGET_SECONDS = 8 * 3600  # overnight
# Trained for the paper's 1,000 batches, whose steps in the demo run are too few to time (tracing
# dominates): their images/s come from train_throughput.json instead.
PAPER_KINDS = ("gan_paper", "diffusion_paper")
BLOCK_START = "# --- estimate: written by `python bench/places_cpu_estimate.py`, do not edit by hand ---"
BLOCK_END = "# --- end of estimate ---"


def table_column(markdown: str, column: str) -> dict[str, str]:
    """{method: cell} of one column of the comparison table's markdown, from the first protocol a method
    appears in (the paper's square)."""
    header, *body = from_markdown(markdown)
    if column not in header:
        raise ValueError(f"demo_run.json comparison_markdown: no column {column!r} (columns: {header})")
    method, index = header.index("Method"), header.index(column)
    cells = {}
    for row in body:
        cells.setdefault(row[method], row[index])
    return cells


def _same_hparams(config: dict, name: str, measured: dict, source: str) -> None:
    model = config["models"][name]
    if model["hparams"] != measured["hparams"] or model["kind"] != measured["kind"]:
        raise ConfigError(f"models.{name}: kind and hparams differ from the model measured in {source} "
                          f"({measured['kind']}, {measured['hparams']}): its step time does not apply")


def _evaluation_walls(demo_run: dict) -> dict[str, float]:
    """{method: the demo's evaluation job wall seconds, mean over protocols} (jobs named protocol/method)."""
    by_method: dict[str, list[float]] = {}
    for job, seconds in demo_run["job_wall_seconds"]["evaluate"].items():
        by_method.setdefault(job.split("/")[-1], []).append(seconds)
    return {method: statistics.mean(walls) for method, walls in by_method.items()}


def _train_seconds(config: dict, demo_run: dict, throughput: dict) -> tuple[dict, dict]:
    """({model: training job seconds}, {model: the step time, steps and start-up they come from}): the
    paper models' steps from their measured throughput, the others' from the demo's training time."""
    demo = demo_run["config"]
    trained = table_column(demo_run["comparison_markdown"], "Training (s)")
    paper_rates = {row["kind"]: row["in_memory_images_per_s"] for row in throughput["models"]
                   if row["kind"] in PAPER_KINDS}
    units, train = {}, {}
    for name in enabled_models(config):
        model, wall = config["models"][name], demo_run["job_wall_seconds"]["train"][name]
        training, demo_training = model["training"], demo["models"][name]["training"]
        steps, demo_steps = (t["epochs"] * t["steps_per_epoch"] for t in (training, demo_training))
        _same_hparams(config, name, demo["models"][name], "bench/results/demo_run.json")
        if model["kind"] in paper_rates:
            per_image = 1 / paper_rates[model["kind"]]
            step = per_image * training["batch_size"]
            start_up = wall - demo_steps * per_image * demo_training["batch_size"]
            units[name] = {"step_seconds": round(step, 4), "basis": f"{paper_rates[model['kind']]} images/s "
                           "(train_throughput.json, batch 16)"}
        else:
            if training["batch_size"] != demo_training["batch_size"]:
                raise ConfigError(f"models.{name}.training.batch_size {training['batch_size']}: its step time "
                                  f"was measured at batch {demo_training['batch_size']}")
            step = float(trained[name]) / demo_steps
            start_up = wall - float(trained[name])
            units[name] = {"step_seconds": round(step, 4), "basis": f"{trained[name]} s of training for "
                           f"{demo_steps} steps (demo_run.json, the model's meta)"}
        units[name].update(steps=steps, start_up_seconds=round(max(start_up, 0.0), 1))
        train[name] = max(start_up, 0.0) + steps * step
    return train, units


def job_seconds(config: dict, demo_run: dict, throughput: dict, prepare: dict) -> dict:
    """Seconds of every job of `config` on 2 cores: {"data": s, "train": {model: s},
    "evaluate": {protocol/method: s}, "report": s}, with the per-unit figures they come from."""
    demo = demo_run["config"]
    if config["data"]["image_size"] != demo["data"]["image_size"]:
        raise ConfigError(f"data.image_size {config['data']['image_size']}: the step times were measured at "
                          f"{demo['data']['image_size']} px (bench/results/demo_run.json)")
    demo_test = sum(row["split"] == "test" for row in build_manifest(demo["data"]).rows)
    inference = table_column(demo_run["comparison_markdown"], "Inference (ms/image)")
    train, units = _train_seconds(config, demo_run, throughput)
    images = config["data"]["limit"] or PLACES365_VAL_IMAGES
    test = round(images * config["data"]["split"]["test"])
    test = min(test, config["evaluation"]["limit"] or test)
    per_image = {method: float(ms) / 1000 for method, ms in inference.items()}
    walls = _evaluation_walls(demo_run)
    evaluate = {}
    for protocol in config["evaluation"]["protocols"]:
        for method in [*enabled_models(config), *config["evaluation"]["baselines"]]:
            evaluate[f"{protocol}/{method}"] = walls[method] + max(test - demo_test, 0) * per_image[method]
    if "real_features" in walls:
        evaluate["real_features"] = walls["real_features"]
    speedup = prepare["workflow_speedup_2_over_1_cores"]
    data = prepare["projected_seconds_places365_val"]["stage_1_core"] * images / PLACES365_VAL_IMAGES / speedup
    return {"data": data, "train": train, "evaluate": evaluate,
            "report": demo_run["stage_wall_seconds_sum"]["report"],
            "units": {"train": units, "test_images": test,
                      "train_images": round(images * config["data"]["split"]["train"]),
                      "images": images, "demo_test_images": demo_test,
                      "inference_seconds_per_image": {m: round(s, 4) for m, s in per_image.items()},
                      "speedup_2_over_1_cores": speedup}}


def job_threads(config: dict, demo_run: dict) -> int:
    """The threads of every training and evaluation job: those the demo run measured its jobs with.
    A config asking for others would run at speeds nobody measured, so it is an error."""
    demo = demo_run["config"]
    threads = demo["models"]["diffusion"]["resources"]["threads"]
    asked = {f"models.{name}.resources.threads": config["models"][name]["resources"]["threads"]
             for name in enabled_models(config)}
    asked["evaluation.resources.threads"] = config["evaluation"]["resources"]["threads"]
    for key, value in asked.items():
        if value != threads:
            raise ConfigError(f"{key} {value}: the step times were measured with {threads}-thread jobs "
                              "(bench/results/demo_run.json)")
    return threads


def schedule(jobs: dict, slots: int) -> float:
    """Seconds of the run with `slots` jobs at once: the data stage, then training and
    evaluation (a model's evaluations once it is trained, the baselines' at once) with the earliest
    startable, then longest, job taken next, then the report."""
    pending = [(name, seconds, None) for name, seconds in jobs["train"].items()]
    pending += [(job, seconds, job.split("/")[-1] if job.split("/")[-1] in jobs["train"] else None)
                for job, seconds in jobs["evaluate"].items()]
    free, finished = [0.0] * slots, {}
    while pending:
        slot = min(range(slots), key=free.__getitem__)
        startable = [(max(free[slot], finished[after] if after else 0.0), -seconds, name, after)
                     for name, seconds, after in pending if after is None or after in finished]
        start, minus_seconds, name, after = min(startable)
        free[slot] = finished[name] = start - minus_seconds
        pending.remove((name, -minus_seconds, after))
    return jobs["data"] + max(free) + jobs["report"]


def estimate(config: dict, demo_run: dict, throughput: dict, prepare: dict, cores: int = 8) -> dict:
    """The run's seconds on 2 cores (measured basis) and projected for `cores`, with the bounds of the projection."""
    jobs, threads = job_seconds(config, demo_run, throughput, prepare), job_threads(config, demo_run)
    slots = cores // threads
    work = sum(jobs["train"].values()) + sum(jobs["evaluate"].values())
    critical = max(seconds + max(s for job, s in jobs["evaluate"].items() if job.endswith(f"/{name}"))
                   for name, seconds in jobs["train"].items())
    return {
        "two_cores_seconds": round(schedule(jobs, 2 // threads)),
        "job_threads": threads,
        "projection_cores": cores,
        "projection_parallel_jobs": slots,
        "projected_seconds": round(schedule(jobs, slots)),
        "projected_critical_path_seconds": round(jobs["data"] + critical + jobs["report"]),
        "projected_work_per_job_slot_seconds": round(jobs["data"] + work / slots + jobs["report"]),
        "one_job_on_all_cores_seconds": round(jobs["data"] + (work + jobs["report"])
                                              / jobs["units"]["speedup_2_over_1_cores"] ** math.log2(cores / threads)),
        "assumption": (f"Snakemake runs {slots} jobs of {threads} thread(s) at once on {cores} cores, each as fast "
                       "as it ran in the demo on this machine's 2 cores (no memory-bandwidth contention); the data "
                       "stage and "
                       "the report as measured here; the archive's download is not counted"),
        "data_seconds": round(jobs["data"]),
        "train_seconds": {name: round(s) for name, s in jobs["train"].items()},
        "evaluate_seconds": {job: round(s) for job, s in jobs["evaluate"].items()},
        "report_seconds": round(jobs["report"]),
        "units": jobs["units"],
    }


def _hours(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def lines(config: dict, result: dict) -> list[str]:
    """The estimate as the config's header quotes it."""
    units, train = result["units"], result["train_seconds"]
    out = ["ESTIMATED time, computed from times measured on this machine (bench/results/places_cpu_estimate.json):"]
    for name, unit in units["train"].items():
        batch = config["models"][name]["training"]["batch_size"]
        out.append(f"  train {name}: {unit['steps']:,} steps of {batch} x {unit['step_seconds']:.3f} s "
                   f"+ {unit['start_up_seconds']:.0f} s start-up = {train[name]:,} s  [{unit['basis']}]")
    evaluate = result["evaluate_seconds"]
    methods = len(enabled_models(config)) + len(config["evaluation"]["baselines"])
    out += [f"  evaluate: {units['test_images']:,} test images x {len(config['evaluation']['protocols'])} protocols x "
            f"{methods} methods = {sum(evaluate.values()):,} s in {len(evaluate)} jobs, the slowest "
            f"{max(evaluate.values()):,} s (diffusion: {units['inference_seconds_per_image'].get('diffusion', 0):.3f} "
            "s/image; every method's inference time and each job's start-up from the demo run)",
            f"  data stage: {units['images']:,} images, {result['data_seconds']} s (bench/results/prepare.json, "
            f"{units['speedup_2_over_1_cores']}x from 1 to 2 cores); report: {result['report_seconds']} s (demo run)",
            f"  on 2 cores, {2 // result['job_threads']} job(s) of {result['job_threads']} thread(s) at a time: "
            f"{_hours(result['two_cores_seconds'])} ({result['two_cores_seconds']:,} s), a schedule of the measured "
            "times",
            f"  PROJECTED for {result['projection_cores']} cores: {_hours(result['projected_seconds'])} "
            f"({result['projected_seconds']:,} s), a schedule of the jobs over {result['projection_parallel_jobs']} "
            f"slots, not a {result['projection_parallel_jobs']}x speed-up: critical path "
            f"{result['projected_critical_path_seconds']:,} s, "
            f"work / slots {result['projected_work_per_job_slot_seconds']:,} s",
            f"    assumption: {result['assumption']}",
            f"    for comparison, one job at a time on all {result['projection_cores']} cores: "
            f"{_hours(result['one_job_on_all_cores_seconds'])}, "
            f"if every job gained the {units['speedup_2_over_1_cores']}x "
            "per doubling of cores the data stage measured (training's own scaling is not measured)",
            f"  gan's and diffusion's steps_per_epoch are the most whose training and slowest evaluation end within "
            f"{TARGET_SECONDS / 3600:g} h of the projection"]
    return out


def fitted_steps_per_epoch(config: dict, demo_run: dict, throughput: dict, prepare: dict,
                           cores: int = 8, target_seconds: float = TARGET_SECONDS) -> dict:
    """{model: steps_per_epoch} of the strong models (the paper models keep the paper's budget): the most
    that end their training and slowest evaluation within `target_seconds` (their critical path), one
    fewer each while the projection's schedule over the job slots still exceeds it."""
    jobs, fitted = job_seconds(config, demo_run, throughput, prepare), {}
    for name, units in jobs["units"]["train"].items():
        model = config["models"][name]
        if model["kind"] in PAPER_KINDS:
            continue
        evaluation = max(s for job, s in jobs["evaluate"].items() if job.endswith(f"/{name}"))
        left = target_seconds - jobs["data"] - jobs["report"] - units["start_up_seconds"] - evaluation
        fitted[name] = int(left / units["step_seconds"] / model["training"]["epochs"])
    trial = copy.deepcopy(config)
    while all(steps >= 1 for steps in fitted.values()):
        for name, steps in fitted.items():
            trial["models"][name]["training"]["steps_per_epoch"] = steps
        slots = cores // job_threads(trial, demo_run)
        if schedule(job_seconds(trial, demo_run, throughput, prepare), slots) <= target_seconds:
            return fitted
        fitted = {name: steps - 1 for name, steps in fitted.items()}
    raise ConfigError(f"models {', '.join(fitted)}: no training step fits in {target_seconds / 3600:g} h "
                      f"on {cores} cores")


def _model_block(text: str, name: str) -> tuple[int, int]:
    start = text.index(f"\n  {name}:\n") + 1
    following = re.search(r"^  \w+:\n|^\S", text[start + len(name) + 4:], flags=re.M)
    return start, start + len(name) + 4 + (following.start() if following else len(text))


def with_steps_per_epoch(text: str, fitted: dict) -> str:
    """The config's text with each model's training.steps_per_epoch set (comments and layout kept)."""
    for name, steps in fitted.items():
        start, end = _model_block(text, name)
        block, count = re.subn(r"steps_per_epoch: \d+", f"steps_per_epoch: {steps}", text[start:end])
        if count != 1:
            raise ValueError(f"models.{name}: expected one steps_per_epoch in its block, found {count}")
        text = text[:start] + block + text[end:]
    return text


def with_block(text: str, lines: list[str]) -> str:
    """The config's text with the estimate block (between BLOCK_START and BLOCK_END) replaced by `lines`."""
    if BLOCK_START not in text or BLOCK_END not in text:
        raise ValueError(f"no estimate block: the config must hold the lines {BLOCK_START!r} and {BLOCK_END!r}")
    head, rest = text.split(BLOCK_START, 1)
    block = "\n".join([BLOCK_START, *(f"# {line}".rstrip() for line in lines), BLOCK_END])
    return head + block + rest.split(BLOCK_END, 1)[1]


def block(text: str) -> list[str]:
    """The estimate block's lines as with_block wrote them (without the markers and the leading '# ')."""
    inside = text.split(BLOCK_START, 1)[1].split(BLOCK_END, 1)[0].strip("\n")
    return [line[2:] if line.startswith("# ") else line[1:] for line in inside.splitlines()]
