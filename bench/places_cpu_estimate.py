"""How long config/places-cpu.yaml runs on 2 cores and, projected, on 8, from the benchmarks' records.

Reads bench/results/demo_run.json (the strong models' training seconds from their meta, every
method's inference, each job's start-up), train_throughput.json (the paper models'
images/s) and prepare.json (data stage, 1 -> 2 core speed-up); sets the strong models'
steps_per_epoch in config/places-cpu.yaml to the most that fit 8 hours of the projection, rewrites
the estimate block of its header and writes bench/results/places_cpu_estimate.json. After
re-recording any of those benchmarks this one command refreshes the config (tests/test_places_cpu.py
checks that it was run):

    python bench/places_cpu_estimate.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from inpaintbench import cpu_estimate, provenance
from inpaintbench.config import load_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "places-cpu.yaml"
RESULTS = ROOT / "bench" / "results"
RESULT = RESULTS / "places_cpu_estimate.json"
INPUTS = ("demo_run", "train_throughput", "prepare")


def measured() -> dict:
    return {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in INPUTS}


def main() -> None:
    records = measured()
    fitted = cpu_estimate.fitted_steps_per_epoch(load_config(CONFIG), *records.values())
    provenance.write_text(CONFIG, cpu_estimate.with_steps_per_epoch(CONFIG.read_text(), fitted))
    config = load_config(CONFIG)
    result = cpu_estimate.estimate(config, *records.values())
    lines = cpu_estimate.lines(config, result)
    provenance.write_text(CONFIG, cpu_estimate.with_block(CONFIG.read_text(), lines))
    inputs = {f"bench/results/{name}.json": hashlib.sha256((RESULTS / f"{name}.json").read_bytes()).hexdigest()[:16]
              for name in INPUTS}
    provenance.write_json(RESULT, provenance.record(config, benchmark="places_cpu_estimate", inputs=inputs,
                                                    steps_per_epoch=fitted, **result))
    print("\n".join(lines))
    print(f"-> {CONFIG.relative_to(ROOT)} (steps_per_epoch {fitted}, estimate block), {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
