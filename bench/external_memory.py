"""Benchmark: the memory `inpaintbench score` needs per test image, and what scoring all of Places365-val needs.

The scorer (and the workflow's evaluation of an external method, the same code) holds the whole test set, its
predictions and the pasted predictions in memory. This runs `inpaintbench score` (no features) in a fresh process
on folders of 256 and 1,024 demo crops at 256 px (bench/external.py's folders) and reads each process's peak
resident memory; the slope between the two is the memory per test image, reported against the reference
measured alongside it: the bytes of one image, its mask and its prediction decoded as uint8. The projection to
36,500 images (all of Places365-val at 256 px, config/places-standard.yaml) is labelled as one.

    python bench/external_memory.py [--counts 256 1024] [--size 256]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from external import make_folders
from inpaintbench import provenance

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "external_memory.json"
PLACES_VAL = 36_500
PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_mb(test: Path, predicted: Path, out: Path) -> float:
    """Peak resident memory (MB) of `inpaintbench score` on the folders, in a process of its own."""
    command = [sys.executable, "-c", PEAK, sys.executable, "-m", "inpaintbench.cli", "score", "--images", str(test),
               "--masks", str(test), "--predictions", str(predicted), "--out", str(out), "--weights", "none"]
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs=2, default=[256, 1024])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            test, predicted = make_folders(Path(tmp) / str(count), args.size, count)
            peaks[count] = round(peak_mb(test, predicted, Path(tmp) / f"out{count}"), 1)
            print(f"{count} images at {args.size} px: peak {peaks[count]} MB")
    small, large = args.counts
    per_image_mb = (peaks[large] - peaks[small]) / (large - small)
    decoded_mb = (2 * 3 + 1) * args.size ** 2 / 2 ** 20  # image and prediction RGB, mask one channel
    projected_gb = (peaks[small] + per_image_mb * (PLACES_VAL - small)) / 1024
    print(f"{per_image_mb:.3f} MB per test image, {per_image_mb / decoded_mb:.2f}x its decoded image, mask and "
          f"prediction ({decoded_mb:.3f} MB); PROJECTED for all {PLACES_VAL} Places365-val photos at {args.size} px: "
          f"{projected_gb:.1f} GB")
    record = provenance.record(
        vars(args), peak_mb=peaks, mb_per_image=round(per_image_mb, 3), decoded_mb_per_image=round(decoded_mb, 3),
        over_decoded=round(per_image_mb / decoded_mb, 2),
        projected_gb_places_val=round(projected_gb, 1),
        projection=f"PROJECTED, not measured: {PLACES_VAL} images from the two measured peaks, linearly",
        clock="peak resident memory (ru_maxrss) of one `inpaintbench score` process, no features")
    provenance.write_json(RESULT, record)
    print(f"-> {RESULT}")


if __name__ == "__main__":
    main()
