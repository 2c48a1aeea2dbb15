"""The report's figures (PNG, matplotlib's Agg backend, no display needed).

snapshot_figure      the paper's Figures 3 and 4 for one model: original, damaged, and the
                     inpainting of fixed validation images at the first, a middle and the last
                     snapshot epoch;
training_curves      every loss of one model per epoch;
comparison_grid      the same test images in rows: original | damaged | every method (one mask protocol);
psnr_vs_hole_size    per-image PSNR against the hole's area fraction, every method (one mask protocol),
                     with the means per bin of the hole-size table.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from . import provenance  # noqa: E402
from .aggregate import HOLE_SIZE_EDGES, hole_size_bin  # noqa: E402
from .data.masks import damage  # noqa: E402

NOT_LOSSES = ("epoch", "step", "seconds", "images_per_s")


def _save(figure, path, dpi: int) -> None:
    with provenance.atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(figure)


def _show(axis, image, title: str | None = None) -> None:
    axis.imshow(image, interpolation="nearest")
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=8)


def snapshot_epochs(snapshot_dir) -> list[tuple[int, Path]]:
    """(epoch, file) of every snapshot in a model's snapshots/ folder, by epoch."""
    found = []
    for path in Path(snapshot_dir).glob("epoch_*.npz"):
        match = re.fullmatch(r"epoch_(\d+)\.npz", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def snapshot_figure(model: str, snapshot_dir, path, dpi: int, rows: int = 4) -> list[int]:
    """Original | damaged | first | middle | last snapshot epoch; returns the epochs shown."""
    snapshot_dir = Path(snapshot_dir)
    reference_path = snapshot_dir / "reference.npz"
    if not reference_path.is_file():
        raise FileNotFoundError(f"{reference_path}: no snapshot reference images (training.snapshot_epochs empty?)")
    epochs = snapshot_epochs(snapshot_dir)
    if not epochs:
        raise FileNotFoundError(f"{snapshot_dir}: no epoch_*.npz snapshot")
    chosen = sorted({0, len(epochs) // 2, len(epochs) - 1})
    shown = [epochs[i] for i in chosen]
    with np.load(reference_path) as reference:
        original, damaged = reference["original"], reference["damaged"]
    inpainted = []
    for _, snapshot in shown:
        with np.load(snapshot) as data:
            inpainted.append(data["inpainted"])
    rows = min(rows, len(original))
    columns = 2 + len(shown)
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.6 * rows), squeeze=False)
    for r in range(rows):
        _show(axes[r, 0], original[r], "original" if r == 0 else None)
        _show(axes[r, 1], damaged[r], "damaged" if r == 0 else None)
        for c, ((epoch, _), images) in enumerate(zip(shown, inpainted)):
            _show(axes[r, 2 + c], images[r], f"epoch {epoch}" if r == 0 else None)
    figure.suptitle(f"{model}: inpainting of fixed validation images during training", fontsize=9)
    _save(figure, path, dpi)
    return [epoch for epoch, _ in shown]


def training_curves(model: str, history_csv, path, dpi: int) -> list[str]:
    """One panel per loss of history.csv against the epoch; returns the losses drawn."""
    history = pd.read_csv(history_csv)
    if history.empty or "epoch" not in history:
        raise ValueError(f"{history_csv}: no epoch rows")
    losses = [column for column in history.columns if column not in NOT_LOSSES]
    figure, axes = plt.subplots(1, len(losses), figsize=(3.0 * len(losses), 2.6), squeeze=False)
    for axis, loss in zip(axes[0], losses):
        axis.plot(history["epoch"], history[loss], marker="." if len(history) < 30 else None)
        axis.set_title(loss, fontsize=9)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    figure.suptitle(f"{model}: training losses per epoch", fontsize=9)
    figure.tight_layout()
    _save(figure, path, dpi)
    return losses


def _test_images(test_paths, image_size: int, ids: list[str], masks) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{id: (original, damaged)} of the wanted test images, damaged by their masks of `masks` (a MaskSource)."""
    from .data import tfrecords  # TensorFlow only here: the model figures start fast without it
    wanted, found = set(ids), {}
    for batch in tfrecords.load_dataset(test_paths, 64, image_size, with_meta=True, masks=masks):
        for image, mask, image_id in zip(batch["image"].numpy(), batch["mask"].numpy(), batch["id"].numpy()):
            image_id = image_id.decode()
            if image_id in wanted:
                found[image_id] = (image, damage(image, mask))
        if len(found) == len(wanted):
            break
    return found


def comparison_grid(methods: list[str], metrics_csvs, image_dirs, test_paths, image_size: int, path,
                    images: int, dpi: int, masks=None) -> list[str]:
    """Test images every method saved with the masks of `masks` (a MaskSource; default: the paper's
    square), in rows, each from another source photo while there are any (showcase_ids); returns their ids."""
    from .evaluation import image_filename, showcase_ids
    tested = pd.read_csv(metrics_csvs[0], dtype={"id": str, "category": str}, keep_default_na=False)
    saved = [(i, c) for i, c in zip(tested["id"], tested["category"])
             if all((Path(d) / image_filename(i)).is_file() for d in image_dirs)]
    ids = showcase_ids(saved, images)
    if not ids:
        raise FileNotFoundError(f"no test image was saved by every method in {', '.join(map(str, image_dirs))} "
                                "(evaluation.save_images is 0?)")
    originals = _test_images(test_paths, image_size, ids, masks)
    columns = 2 + len(methods)
    figure, axes = plt.subplots(len(ids), columns, figsize=(1.5 * columns, 1.5 * len(ids)), squeeze=False)
    for r, image_id in enumerate(ids):
        original, damaged = originals[image_id]
        _show(axes[r, 0], original, "original" if r == 0 else None)
        _show(axes[r, 1], damaged, "damaged" if r == 0 else None)
        for c, (method, directory) in enumerate(zip(methods, image_dirs)):
            with Image.open(Path(directory) / image_filename(image_id)) as image:
                _show(axes[r, 2 + c], np.asarray(image), method if r == 0 else None)
        axes[r, 0].set_ylabel(image_id, fontsize=6)
    if masks is not None:
        figure.suptitle(f"{masks.protocol} masks", fontsize=9)
    _save(figure, path, dpi)
    return ids


def psnr_vs_hole_size(methods: list[str], metrics_csvs, path, dpi: int, protocol: str = "") -> None:
    """Per-image PSNR (dots) and its mean per bin of the hole-size table (lines) for every method."""
    figure, axis = plt.subplots(figsize=(6.0, 4.0))
    edges = np.asarray(HOLE_SIZE_EDGES)
    for method, csv in zip(methods, metrics_csvs):
        table = pd.read_csv(csv, dtype={"id": str}, keep_default_na=False)
        points = axis.scatter(table["hole_fraction"], table["psnr"], s=6, alpha=0.35)
        means = table.groupby(hole_size_bin(table["hole_fraction"]))["psnr"].mean()
        centres = (edges[means.index] + edges[means.index + 1]) / 2
        axis.plot(centres, means.to_numpy(), marker="o", color=points.get_facecolor()[0][:3], label=method)
    for edge in edges[1:-1]:
        axis.axvline(edge, color="0.85", linewidth=0.6, zorder=0)
    axis.set_xlabel("hole area fraction")
    axis.set_ylabel("PSNR (dB)")
    axis.grid(alpha=0.3, axis="y")
    axis.legend(fontsize=7)
    axis.set_title(f"{protocol + ' masks: ' if protocol else ''}PSNR against hole area "
                   "(dots: images; lines: bin means)", fontsize=9)
    _save(figure, path, dpi)
