"""The report's figures read as a paper's would: measured on the PNGs and on the drawn figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from inpaintbench import figures
from inpaintbench.aggregate import HOLE_SIZE_EDGES, METRICS, by_hole_size, hole_size_bin, hole_size_label

DPI = 100
SIDE = 32


def runs(columns: np.ndarray) -> int:
    """How many runs of consecutive True values `columns` holds."""
    padded = np.concatenate([[False], columns, [False]]).astype(int)
    return int((np.diff(padded) == 1).sum())


def colour(pixels: np.ndarray, rgb) -> np.ndarray:
    """Where the PNG's pixels are near the colour `rgb` (0-255)."""
    return (np.abs(pixels[..., :3].astype(int) - np.asarray(rgb)) < 70).all(axis=-1)


def magenta(pixels: np.ndarray) -> np.ndarray:
    """Where the PNG's pixels are the outline's magenta, also blended half with grey, black or a fill."""
    red, green, blue = np.moveaxis(pixels[..., :3].astype(int), -1, 0)
    return (red - green > 60) & (blue - green > 60)


def box(where: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the True pixels."""
    ys, xs = np.nonzero(where)
    return xs.min(), ys.min(), xs.max(), ys.max()


@pytest.fixture
def grid_row():
    """A grey test image with a square hole (pixels 8-23), an honest fill painted green in the hole and a
    paper-exact one painted blue: the outline must surround each fill."""
    original = np.full((SIDE, SIDE, 3), 0.5, np.float32)
    mask = np.zeros((SIDE, SIDE, 1), np.float32)
    mask[8:24, 8:24] = 1
    fills = {}
    for method, rgb in (("exact", (0, 0, 255)), ("honest", (0, 255, 0))):
        fill = np.full((SIDE, SIDE, 3), 128, np.uint8)
        fill[8:24, 8:24] = rgb
        fills[method] = fill
    return figures.GridRow("img_7\nkitchen", original, mask, fills, {"exact": 31.24, "honest": 12.5})


def test_the_grid_outlines_the_hole_on_every_tile_and_sets_the_paper_exact_columns_apart(grid_row, tmp_path):
    figure = figures.grid_figure([grid_row], ["exact", "honest"], reads_answer=["exact"], title="square masks")
    labels = [axis.get_ylabel() for axis in figure.axes if axis.get_ylabel()]
    rotations = [axis.yaxis.label.get_rotation() for axis in figure.axes if axis.get_ylabel()]
    texts = {axis.get_title(): [t.get_text() for t in axis.texts] for axis in figure.axes if axis.get_title()}
    notes = [text.get_text() for text in figure.texts]
    figures.save(figure, tmp_path / "grid.png", DPI)
    pixels = np.asarray(Image.open(tmp_path / "grid.png").convert("RGB"))

    assert labels == ["img_7\nkitchen"] and rotations == [0.0]  # the id and the category, horizontal
    assert texts["honest"] == ["12.5 dB"] and texts["exact"] == ["31.2 dB"] and texts["original"] == []
    assert any("reads the answer" in note for note in notes)
    green, blue = box(colour(pixels, (0, 255, 0))), box(colour(pixels, (0, 0, 255)))
    # listed first, shown at the right after a gap: more than the quarter tile either side of two holes
    assert blue[0] - green[2] > figures.TILE * DPI * (0.5 + figures.GAP / 2)
    outline = magenta(pixels)
    assert runs(outline.any(axis=0)) == 4  # original, damaged and both fills each carry one
    for fill in (green, blue):  # the outline hugs each fill's border: the pixels stay as they were
        x0, y0, x1, y1 = fill
        near = outline[y0 - 4:y1 + 5, x0 - 4:x1 + 5]
        assert near[:, :8].any() and near[:, -8:].any() and near[:8].any() and near[-8:].any()
        assert not near[8:-8, 8:-8].any()


def test_the_grid_without_paper_exact_methods_has_no_note(grid_row):
    figure = figures.grid_figure([grid_row], ["exact", "honest"])

    assert [axis.get_title() for axis in figure.axes if axis.get_title()] == ["original", "damaged", "exact", "honest"]
    assert not [text for text in figure.texts if "reads the answer" in text.get_text()]


def per_image_metrics(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    holes = np.concatenate([HOLE_SIZE_EDGES[1:-1], rng.uniform(0.02, 0.5, n - 5)])  # upper edges: (low, high] bins
    table = pd.DataFrame({"id": [f"{i:03d}" for i in range(n)], "category": "", "hole_fraction": holes})
    for metric in METRICS:
        table[metric] = rng.normal(0.5, 0.1, n)
    table["psnr"] = 30 - 25 * holes + rng.normal(0, 1.0 + seed, n)
    return table


def test_psnr_against_hole_size_uses_the_tables_bins_with_t_intervals_and_the_legend_outside(tmp_path):
    methods = [f"method_{i}" for i in range(3)]
    tables = [per_image_metrics(seed) for seed in range(len(methods))]
    paths = []
    for method, table in zip(methods, tables):
        paths.append(tmp_path / f"{method}.csv")
        table.to_csv(paths[-1], index=False)
    figure, _ = figures.hole_size_figure(methods, tables, "square")
    figure.canvas.draw()
    axis = figure.axes[0]
    legend, plot = axis.get_legend().get_window_extent(), axis.get_window_extent()
    means = figures.psnr_vs_hole_size(methods, paths, tmp_path / "psnr.png", DPI, "square")

    assert not legend.overlaps(plot) and legend.x0 > plot.x1
    assert np.allclose(axis.get_xticks(), HOLE_SIZE_EDGES[:-1])  # no hole above 50%: no 50-100% bin
    table = by_hole_size(dict(zip(methods, tables)))
    merged = means.merge(table, on=["method", "bin"], suffixes=("", "_table"))
    assert len(merged) == len(means) == len(table)
    assert np.allclose(merged["psnr"], merged["psnr_table"]) and (merged["n"] == merged["n_table"]).all()
    for _, row in means.iterrows():  # each bar is the 95% Student-t interval of its bin's images
        images = tables[methods.index(row["method"])]
        bins = [hole_size_label(i) for i in hole_size_bin(images["hole_fraction"])]
        values = images.loc[np.asarray(bins) == row["bin"], "psnr"]
        interval = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert row["half_width"] == pytest.approx(interval[1] - values.mean())
    with Image.open(tmp_path / "psnr.png") as image:
        assert image.format == "PNG"


def test_ten_methods_differ_in_colour_and_marker():
    styles = [figures.method_style(i) for i in range(10)]

    assert len({style["color"] for style in styles}) == len({style["marker"] for style in styles}) == 10


def test_a_model_trained_without_snapshots_gets_a_figure_saying_so(tmp_path):
    """Its training wrote an empty snapshots/ folder (README's own-model example): no crash of the report."""
    (tmp_path / "snapshots").mkdir()
    assert figures.snapshot_figure("mine", tmp_path / "snapshots", tmp_path / "snapshots.png", DPI) == []
    pixels = np.asarray(Image.open(tmp_path / "snapshots.png").convert("L"))
    assert pixels.shape[1] > 3 * pixels.shape[0] and (pixels < 128).any()  # a line of text
    np.savez(tmp_path / "snapshots" / "epoch_00001.npz", inpainted=np.zeros((1, SIDE, SIDE, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match="reference.npz: no snapshot reference images"):
        figures.snapshot_figure("mine", tmp_path / "snapshots", tmp_path / "snapshots.png", DPI)


def test_training_curves_are_a_readable_size_with_labelled_axes(tmp_path):
    history = pd.DataFrame({"epoch": [1, 2, 3], "step": [10, 20, 30], "loss": [0.3, 0.2, 0.15],
                            "seconds": [1.0, 1.0, 1.0], "images_per_s": [160.0, 160.0, 160.0]})
    history.to_csv(tmp_path / "history.csv", index=False)
    figure = figures.curves_figure("diffusion", history, {"loss": "denoising error"})
    losses = figures.training_curves("diffusion", tmp_path / "history.csv", tmp_path / "curves.png", DPI,
                                     {"loss": "denoising error"})

    assert losses == ["loss"]
    axis = figure.axes[0]
    assert axis.get_ylabel() == "loss (epoch mean)" and axis.get_title(loc="left") == "denoising error"
    assert axis.get_xlabel() == "epoch (10 training steps each)"
    with Image.open(tmp_path / "curves.png") as image:  # at least 6 x 3.6 in at the configured dpi
        assert image.size[0] >= 6 * DPI and image.size[1] >= 3.6 * DPI, image.size
