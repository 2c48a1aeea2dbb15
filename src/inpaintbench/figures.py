"""The report's figures (PNG, matplotlib's Agg backend, no display needed).

snapshot_figure      the paper's Figures 3 and 4 for one model: original, damaged, and the
                     inpainting of fixed validation images at the first, a middle and the last
                     snapshot epoch;
training_curves      every loss of one model per epoch, each labelled with what it is;
comparison_grid      the same test images in rows: original | damaged | every method (one mask protocol),
                     the hole outlined, each fill's PSNR on it, the paper-exact methods set apart;
psnr_vs_hole_size    per-image PSNR against the hole's area fraction, every method (one mask protocol),
                     with the means and 95% intervals per bin of the hole-size table.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import stats  # noqa: E402

from . import provenance  # noqa: E402
from .aggregate import HOLE_SIZE_EDGES, defined_mean, hole_size_bin, hole_size_label  # noqa: E402
from .data.masks import damage  # noqa: E402

NOT_LOSSES = ("epoch", "step", "seconds", "images_per_s")
# Training curves: the figure at least this size (inches), a column of panels this wide: readable.
CURVES_WIDTH, CURVES_HEIGHT = 6.4, 4.4
# Comparison grid: a tile's side (inches) and the gap before the paper-exact columns (in tiles);
# the hole's outline, a colour no photo's hole or fill is likely to share.
TILE, GAP = 1.5, 0.3
OUTLINE, OUTLINE_NAME = "#ff00ff", "magenta"
# A method's marker and line style beside its colour: ten methods stay apart in print and in grey.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES = ("-", "--", "-.", ":")


@dataclass
class GridRow:
    """One test image of the comparison grid: its label, original, mask, and each method's fill and PSNR."""
    label: str
    original: np.ndarray
    mask: np.ndarray
    fills: dict[str, np.ndarray]
    psnr: dict[str, float]


def save(figure, path, dpi: int) -> None:
    """The figure as a PNG at `path`, written atomically and cropped to what is drawn; then closed."""
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
    """Original | damaged | first | middle | last snapshot epoch; returns the epochs shown (none: a model
    trained without training.snapshot_epochs gets a figure that says so, and its other figures)."""
    snapshot_dir = Path(snapshot_dir)
    reference_path = snapshot_dir / "reference.npz"
    epochs = snapshot_epochs(snapshot_dir)
    if not reference_path.is_file() and not epochs:
        _no_snapshots_figure(model, path, dpi)
        return []
    if not reference_path.is_file():
        raise FileNotFoundError(f"{reference_path}: no snapshot reference images")
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
    save(figure, path, dpi)
    return [epoch for epoch, _ in shown]


def _no_snapshots_figure(model: str, path, dpi: int) -> None:
    figure = plt.figure(figsize=(4.8, 0.8))
    figure.text(0.5, 0.5, f"{model}: no snapshots (its training.snapshot_epochs is empty)", ha="center",
                va="center", fontsize=9)
    save(figure, path, dpi)


def _losses(history: pd.DataFrame) -> list[str]:
    return [column for column in history.columns if column not in NOT_LOSSES]


def curves_figure(model: str, history: pd.DataFrame, descriptions: dict[str, str]):
    """One panel per loss of a history (the mean over each epoch's steps) against the epoch, its
    y axis the loss's name and its title what the loss is (descriptions: the kind's LOSSES)."""
    losses = _losses(history)
    columns = 1 if len(losses) <= 2 else 2
    rows = -(-len(losses) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(CURVES_WIDTH * columns, max(CURVES_HEIGHT, 2.8 * rows)),
                                squeeze=False)
    steps = (history["step"] / history["epoch"]).unique() if "step" in history else []
    per_epoch = f" ({int(steps[0])} training steps each)" if len(steps) == 1 else ""
    for axis, loss in zip(axes.flat, losses):
        axis.plot(history["epoch"], history[loss], marker="." if len(history) < 30 else None)
        axis.set_title(descriptions.get(loss, loss), fontsize=9, loc="left")
        axis.set_xlabel(f"epoch{per_epoch}")
        axis.set_ylabel(f"{loss} (epoch mean)")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(losses):]:
        axis.set_visible(False)
    figure.suptitle(f"{model}: training losses, each the mean over an epoch's steps", fontsize=10)
    figure.tight_layout()
    return figure


def training_curves(model: str, history_csv, path, dpi: int, descriptions: dict[str, str] | None = None) -> list[str]:
    """curves_figure of a model's history.csv, saved; returns the losses drawn."""
    history = pd.read_csv(history_csv)
    if history.empty or "epoch" not in history:
        raise ValueError(f"{history_csv}: no epoch rows")
    save(curves_figure(model, history, descriptions or {}), path, dpi)
    return _losses(history)


def _test_images(test_paths, image_size: int, ids: list[str], masks) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{id: (original, mask)} of the wanted test images, with their masks of `masks` (a MaskSource)."""
    from .data import tfrecords  # TensorFlow only here: the model figures start fast without it
    wanted, found = set(ids), {}
    for batch in tfrecords.load_dataset(test_paths, 64, image_size, with_meta=True, masks=masks):
        for image, mask, image_id in zip(batch["image"].numpy(), batch["mask"].numpy(), batch["id"].numpy()):
            image_id = image_id.decode()
            if image_id in wanted:
                found[image_id] = (image, mask)
        if len(found) == len(wanted):
            break
    return found


def _outline_hole(axis, mask) -> None:
    """The hole's border as a thin line of OUTLINE over the tile (the pixels stay as they are), on a
    thinner white edge so that it shows on a fill of its own colour too."""
    mask = np.asarray(mask, float).reshape(np.shape(mask)[:2])
    if mask.min() < 0.5 < mask.max():
        axis.contour(mask, levels=[0.5], colors=[OUTLINE], linewidths=1.1,
                     path_effects=[patheffects.withStroke(linewidth=2.0, foreground="white")])


def _label_psnr(axis, psnr: float) -> None:
    axis.text(0.03, 0.03, f"{psnr:.1f} dB", transform=axis.transAxes, fontsize=7, color="white", ha="left",
              va="bottom", bbox={"facecolor": "black", "alpha": 0.65, "pad": 1.5, "edgecolor": "none"})


def grid_figure(rows: list[GridRow], methods: list[str], reads_answer=(), title: str = ""):
    """The comparison grid: a row per test image (its label at the left), original | damaged | every
    method's fill with its whole-image PSNR, the hole outlined on every tile; the methods that read
    the answer (`reads_answer`, the paper-exact models) after a gap at the right, under a note."""
    honest = [m for m in methods if m not in reads_answer]
    exact = [m for m in methods if m in reads_answer]
    layout = ["original", "damaged", *honest, *([None, *exact] if exact else [])]
    widths = [GAP if column is None else 1.0 for column in layout]
    top, height = 1.0 if exact else 0.55, TILE * len(rows)
    figure, axes = plt.subplots(len(rows), len(layout), figsize=(TILE * sum(widths), height + top), squeeze=False,
                                gridspec_kw={"width_ratios": widths, "wspace": 0.04, "hspace": 0.04})
    figure.subplots_adjust(left=0, right=1, bottom=0, top=height / (height + top))
    for r, row in enumerate(rows):
        for c, column in enumerate(layout):
            axis = axes[r, c]
            if column is None:
                axis.set_axis_off()
                continue
            image = {"original": row.original, "damaged": damage(row.original, row.mask)}.get(column)
            _show(axis, row.fills[column] if image is None else image, column if r == 0 else None)
            _outline_hole(axis, row.mask)
            if column in row.psnr:
                _label_psnr(axis, row.psnr[column])
        axes[r, 0].set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=8, labelpad=6)
    if exact:
        first, last = axes[0, layout.index(exact[0])].get_position(), axes[0, -1].get_position()
        y = first.y1 + 0.32 / (height + top)
        figure.add_artist(plt.Line2D([first.x0, last.x1], [y, y], color="0.3", linewidth=0.8))
        figure.text((first.x0 + last.x1) / 2, y + 0.03 / (height + top), "reads the answer\n(given the original)",
                    ha="center", va="bottom", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9, y=1.0, va="top")
    return figure


def comparison_grid(methods: list[str], metrics_csvs, image_dirs, test_paths, image_size: int, path, *,
                    images: int, dpi: int, masks=None, reads_answer=()) -> list[str]:
    """Test images every method saved with the masks of `masks` (a MaskSource; default: the paper's
    square), in rows (grid_figure), each from another source photo while there are any (showcase_ids);
    returns their ids. Each fill's PSNR is its method's per-image one (metrics_csvs)."""
    from .evaluation import image_filename, showcase_ids
    tables = [pd.read_csv(csv, dtype={"id": str, "category": str}, keep_default_na=False) for csv in metrics_csvs]
    saved = [(i, c) for i, c in zip(tables[0]["id"], tables[0]["category"])
             if all((Path(d) / image_filename(i)).is_file() for d in image_dirs)]
    ids = showcase_ids(saved, images)
    if not ids:
        raise FileNotFoundError(f"no test image was saved by every method in {', '.join(map(str, image_dirs))} "
                                "(evaluation.save_images is 0?)")
    categories = dict(saved)
    psnr = {}
    for method, csv, table in zip(methods, metrics_csvs, tables):
        psnr[method] = dict(zip(table["id"], table["psnr"].astype(float)))
        missing = [i for i in ids if i not in psnr[method]]
        if missing:
            raise ValueError(f"{csv}: no row of test image {missing[0]} (method {method})")
    originals = _test_images(test_paths, image_size, ids, masks)
    rows = []
    for image_id in ids:
        original, mask = originals[image_id]
        fills = {}
        for method, directory in zip(methods, image_dirs):
            with Image.open(Path(directory) / image_filename(image_id)) as image:
                fills[method] = np.asarray(image)
        label = f"{image_id}\n{categories[image_id]}" if categories[image_id] else image_id
        rows.append(GridRow(label, original, mask, fills, {m: psnr[m][image_id] for m in methods}))
    title = f"hole outlined in {OUTLINE_NAME}; each fill's whole-image PSNR at its lower left"
    if masks is not None:
        title = f"{masks.protocol} masks: {title}"
    save(grid_figure(rows, methods, reads_answer, title), path, dpi)
    return ids


def t_half_width(values, confidence: float = 0.95) -> float:
    """Half the width of the Student-t confidence interval of the mean of the finite values (NaN
    below two). A t interval, not the bootstrap: bins of a few images are common here, and the
    percentile bootstrap is too narrow there (aggregate.MIN_IMAGES)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))


def method_style(index: int) -> dict:
    """The colour, marker and line style of the index-th method of the config's list: the same
    method looks the same in every figure, and no two of ten share a colour or a marker."""
    return {"color": plt.get_cmap("tab10")(index % 10), "marker": MARKERS[index % len(MARKERS)],
            "linestyle": LINESTYLES[index % len(LINESTYLES)]}


def hole_size_figure(methods: list[str], tables: list[pd.DataFrame], protocol: str = ""):
    """(figure, bin means) of per-image PSNR (dots) and its mean per bin of aggregate's hole-size
    table (HOLE_SIZE_EDGES, hole_size_bin, defined_mean) with 95% t intervals, the legend outside."""
    figure, axis = plt.subplots(figsize=(7.0, 4.5))
    edges = np.asarray(HOLE_SIZE_EDGES)
    dodge = 0.6 * (edges[1] - edges[0]) / max(len(methods), 1)
    records = []
    for index, (method, table) in enumerate(zip(methods, tables)):
        style = method_style(index)
        axis.scatter(table["hole_fraction"], table["psnr"], s=7, alpha=0.3, color=style["color"],
                     marker=style["marker"], linewidths=0)
        for bin_index, group in table.groupby(hole_size_bin(table["hole_fraction"]))["psnr"]:
            records.append({"method": method, "bin": hole_size_label(bin_index), "n": len(group),
                            "psnr": defined_mean(group), "half_width": t_half_width(group),
                            "x": (edges[bin_index] + edges[bin_index + 1]) / 2
                            + (index - (len(methods) - 1) / 2) * dodge})
        mine = [r for r in records if r["method"] == method]
        axis.errorbar([r["x"] for r in mine], [r["psnr"] for r in mine], yerr=[r["half_width"] for r in mine],
                      capsize=2, markersize=4, linewidth=1.1, label=method, **style)
    psnr = np.concatenate([table["psnr"].to_numpy(float) for table in tables])
    psnr = psnr[np.isfinite(psnr)]
    if psnr.size:  # the images' range: the t interval of a bin of two or three images may run far past it
        pad = max(0.08 * float(psnr.max() - psnr.min()), 1.0)
        axis.set_ylim(float(psnr.min()) - pad, float(psnr.max()) + pad)
    largest = max(float(table["hole_fraction"].max()) for table in tables)
    shown = edges if largest > edges[-2] else edges[:-1]  # the 50-100% bin only when a hole falls in it
    axis.set_xlim(0, shown[-1])
    axis.set_xticks(shown, [f"{100 * edge:.0f}%" for edge in shown])
    for edge in shown[1:-1]:
        axis.axvline(edge, color="0.85", linewidth=0.6, zorder=0)
    axis.set_xlabel("hole area (share of the image), in the bins of the hole-size table")
    axis.set_ylabel("PSNR of the whole image (dB)")
    axis.grid(alpha=0.3, axis="y")
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, fontsize=8, title="method")
    axis.set_title(f"{protocol + ' masks: ' if protocol else ''}PSNR against hole area\n"
                   "dots: images; markers: bin means with 95% t intervals (mean ± t·SE)", fontsize=9)
    return figure, pd.DataFrame(records, columns=["method", "bin", "n", "psnr", "half_width", "x"])


def psnr_vs_hole_size(methods: list[str], metrics_csvs, path, dpi: int, protocol: str = "") -> pd.DataFrame:
    """hole_size_figure of the methods' per-image metrics CSVs, saved; returns its bin means."""
    tables = [pd.read_csv(csv, dtype={"id": str}, keep_default_na=False) for csv in metrics_csvs]
    figure, means = hole_size_figure(methods, tables, protocol)
    save(figure, path, dpi)
    return means
