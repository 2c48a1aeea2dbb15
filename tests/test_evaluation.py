"""Evaluation of baselines and a saved model on a small TFRecord test split built here."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintbench import baselines, evaluation, features, metrics, models, provenance
from inpaintbench.aggregate import aggregate
from inpaintbench.config import default_masks
from inpaintbench.data import tfrecords
from inpaintbench.data.masks import MaskSource, damage, hole_box
from inpaintbench.evaluation import COLUMNS, evaluate, image_filename
from test_metrics import numpy_hole_metrics

SIZE = 24
EVALUATION = {"batch_size": 3, "limit": None, "save_images": 2, "seed": 0}
RECIPES = default_masks()["protocols"]
SQUARE = MaskSource("square", RECIPES["square"], 5)
THICK = MaskSource("lama_thick", RECIPES["lama_thick"], 5)


@pytest.fixture(scope="module")
def test_split(tmp_path_factory):
    """Five real photo crops in two TFRecord shards (their masks come from their ids)."""
    folder = tmp_path_factory.mktemp("split")
    names = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
    images = {}
    paths = [folder / "test-0-of-2.tfrecord", folder / "test-1-of-2.tfrecord"]
    writers = [tfrecords.writer(path) for path in paths]
    for i, name in enumerate(names):
        photo = transform.resize(getattr(data, name)()[..., :3], (SIZE, SIZE), anti_aliasing=True)
        image = np.round(photo * 255).astype(np.uint8)
        images[f"{name}_{i}"] = image
        writers[i % 2].write(tfrecords.serialize(image, f"{name}_{i}", name))
    for writer in writers:
        writer.close()
    return paths, images


def run(tmp_path, method, paths, model_dir=None, masks=SQUARE, **overrides):
    out = tmp_path / masks.protocol / method
    summary = evaluate(method, paths, SIZE, {**EVALUATION, **overrides}, model_dir=model_dir, masks=masks,
                       metrics_csv=out / "metrics.csv", summary_json=out / "summary.json", images_dir=out / "images")
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return summary, rows, out


def expected_output(method, image, hole):
    """(reference, the baseline's output) of one image, float64, computed directly."""
    original = image[None].astype(np.float32) / 255.0
    mask = hole[None, ..., None].astype(np.float32)
    return original[0].astype(np.float64), baselines.get(method)(damage(original, mask), mask)[0].astype(np.float64)


@pytest.mark.parametrize("method", list(baselines.BASELINES))
def test_baseline_rows_match_a_direct_computation(tmp_path, test_split, method):
    paths, images = test_split
    summary, rows, out = run(tmp_path, method, paths)
    assert [row["id"] for row in rows] == ["astronaut_0", "chelsea_1", "coffee_2", "rocket_3", "immunohistochemistry_4"]
    assert list(rows[0]) == list(COLUMNS)
    for row in rows:
        box = hole_box(row["id"], SIZE, RECIPES["square"]["side"], SQUARE.seed)
        reference, expected = expected_output(method, images[row["id"]], SQUARE.image_mask(row["id"], SIZE))
        top, left, h, w = box
        assert row["category"] == row["id"].rsplit("_", 1)[0]
        assert float(row["hole_fraction"]) == pytest.approx(h * w / SIZE**2)
        assert float(row["psnr"]) == pytest.approx(peak_signal_noise_ratio(reference, expected, data_range=1), abs=1e-4)
        assert float(row["ssim"]) == pytest.approx(
            structural_similarity(reference, expected, data_range=1, channel_axis=-1), abs=1e-3)
        crop = (slice(top, top + h), slice(left, left + w))
        assert float(row["hole_psnr"]) == pytest.approx(
            peak_signal_noise_ratio(reference[crop], expected[crop], data_range=1), abs=1e-4)
        assert float(row["hole_ssim"]) == pytest.approx(
            structural_similarity(reference[crop], expected[crop], data_range=1, channel_axis=-1), abs=1e-3)
        assert float(row["l1"]) == pytest.approx(np.abs(reference - expected).mean(), abs=1e-6)
        assert float(row["mse"]) == pytest.approx(np.square(reference - expected).mean(), abs=1e-8)
        assert float(row["seconds"]) > 0
    assert summary["n"] == 5 and summary["kind"] == "baseline" and summary["needs_original"] is False
    assert summary["means"]["psnr"] == pytest.approx(np.mean([float(r["psnr"]) for r in rows]))
    assert json.loads((out / "summary.json").read_text())["method"] == method
    assert summary["protocol"] == "square" and summary["hole_ssim_defined"] == 5


@pytest.mark.parametrize("method", ["mean_fill", "pyramid_fill"])
def test_free_form_masks_rows_match_numpy_on_the_masked_pixels(tmp_path, test_split, method):
    paths, images = test_split
    summary, rows, _ = run(tmp_path, method, paths, masks=THICK)
    assert summary["protocol"] == "lama_thick" and len(rows) == 5
    for row in rows:
        hole = THICK.image_mask(row["id"], SIZE)
        reference, output = expected_output(method, images[row["id"]], hole)
        assert float(row["hole_fraction"]) == pytest.approx(hole.mean())
        for key, value in numpy_hole_metrics(reference, output, hole).items():
            assert float(row[key]) == pytest.approx(value, abs=1e-4, nan_ok=True), (row["id"], key)
    defined = [not np.isnan(float(row["hole_ssim"])) for row in rows]
    assert summary["hole_ssim_defined"] == sum(defined)
    if any(defined):
        assert summary["means"]["hole_ssim"] == pytest.approx(np.mean([float(r["hole_ssim"]) for r, d in
                                                                       zip(rows, defined) if d]))


def test_saved_images_keep_the_known_pixels(tmp_path, test_split):
    paths, images = test_split
    _, rows, out = run(tmp_path, "mean_fill", paths)
    saved = sorted(p.name for p in (out / "images").iterdir())
    assert saved == sorted(image_filename(row["id"]) for row in rows[:2])
    for row in rows[:2]:
        image = images[row["id"]]
        pixels = np.asarray(Image.open(out / "images" / image_filename(row["id"])))
        known = SQUARE.image_mask(row["id"], SIZE) == 0
        np.testing.assert_array_equal(pixels[known], image[known])
        hole = ~known
        assert not np.array_equal(pixels[hole], image[hole])  # the hole was filled, with the mean colour
        assert len(np.unique(pixels[hole].reshape(-1, 3), axis=0)) == 1


def test_limit_caps_the_images(tmp_path, test_split):
    summary, rows, _ = run(tmp_path, "black", test_split[0], limit=4, save_images=0)
    assert len(rows) == 4 and summary["n"] == 4 and summary["saved_images"] == 0


class ChangesKnownPixels(baselines.Black):
    name = "bad"

    def with_one_sample(self, damaged, masks, original=None, seed=None, **options):
        changed = np.asarray(damaged) + 0.01
        return changed, changed


def test_a_method_that_changes_known_pixels_is_an_error(tmp_path, test_split, monkeypatch):
    monkeypatch.setitem(baselines.BASELINES, "black", ChangesKnownPixels)
    with pytest.raises(AssertionError, match="known pixels"):
        run(tmp_path, "black", test_split[0])
    assert not (tmp_path / "square" / "black" / "metrics.csv").exists()


@pytest.mark.parametrize("paper_exact", [False, True])
def test_a_saved_model_is_evaluated_and_the_original_goes_only_to_paper_exact_models(tmp_path, test_split,
                                                                                    paper_exact):
    hparams = {"generator_units": [8], "discriminator_units": [8], "repair_units": [8], "noise_dim": 4}
    trainer = models.build_trainer("gan_paper", SIZE, hparams, paper_exact, seed=0)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    network = trainer.export()
    network.save(model_dir / models.MODEL_FILE)
    provenance.write_json(model_dir / models.META_FILE, {
        "name": "toy", "kind": "gan_paper", "image_size": SIZE, "paper_exact": paper_exact,
        "hparams": models.resolve_hparams("gan_paper", hparams)})
    summary, rows, _ = run(tmp_path, "toy", test_split[0], model_dir=model_dir)
    assert summary["kind"] == "gan_paper" and summary["needs_original"] is paper_exact and len(rows) == 5
    assert all(np.isfinite(float(row["psnr"])) for row in rows)
    # The same model fed a different "original" changes its output only when it reads the original.
    inpainter = models.load(model_dir)
    image = test_split[1]["astronaut_0"]
    original = image[None].astype(np.float32) / 255.0
    mask = SQUARE.image_mask("astronaut_0", SIZE)[None, ..., None].astype(np.float32)
    damaged = damage(original, mask)
    first = inpainter(damaged, mask, original=original)
    second = inpainter(damaged, mask, original=np.zeros_like(original))
    assert np.array_equal(first, second) is not paper_exact


def test_aggregation_marks_and_warns_of_methods_with_too_few_test_images(tmp_path, test_split):
    """Five test images: intervals and tests mean little, so the rows, the captions and the log say so;
    the same per-image values for 30 images (six copies under new ids) are not marked."""
    from inpaintbench.aggregate import MIN_IMAGES, aggregate
    from inpaintbench.logs import get_logger

    paths, _ = test_split
    files = {method: run(tmp_path, method, paths)[2] for method in ("black", "mean_fill")}
    settings = {"bootstrap_samples": 200, "confidence": 0.95, "hole_size_bins": 2, "seed": 0}

    def tables(name, copies):
        out = tmp_path / name
        for method, folder in files.items():
            rows = pd.read_csv(folder / "metrics.csv", dtype={"id": str})
            rows = pd.concat([rows.assign(id=rows["id"] + f"_{i}") for i in range(copies)])
            out.mkdir(exist_ok=True)
            rows.to_csv(out / f"{method}.csv", index=False)
        outputs = {key: out / f"table.{key}" for key in ("csv", "md", "tex", "pairwise", "by_hole_size", "by_category")}
        logger = get_logger(f"aggregate.{name}", out / "aggregate.log")
        table = aggregate(["square"], list(files), [out / f"{m}.csv" for m in files],
                          [f / "summary.json" for f in files.values()], outputs, model_metas={}, aggregation=settings,
                          logger=logger,
                          distribution=no_weights(tmp_path, list(files.values())))
        return table, outputs, (out / "aggregate.log").read_text()

    table, outputs, log = tables("few", 1)
    assert MIN_IMAGES == 30 and table["n"].tolist() == [5, 5] and table["few_images"].all()
    assert pd.read_csv(outputs["pairwise"])["few_images"].tolist() == [True]
    note = "Rows marked (few) rest on fewer than 30 test images, too few for a meaningful interval or test"
    assert note in outputs["md"].read_text() and note in outputs["tex"].read_text()
    assert "| square | black | no | 5 (few) |" in outputs["md"].read_text()
    assert "WARNING black on square: 5 test images, fewer than 30" in log and "WARNING mean_fill on square" in log

    table, outputs, log = tables("enough", 6)
    assert table["n"].tolist() == [30, 30] and not table["few_images"].any()
    assert "(few)" not in outputs["md"].read_text() + outputs["tex"].read_text() and "WARNING" not in log


# Distribution metrics: features saved by the evaluation, scored by the aggregation ---------------------

DISTRIBUTION = {"weights": "imagenet", "batch_size": 4, "kid_subsets": 20, "kid_subset_size": 3, "seed": 0}
TABLES = ("csv", "md", "tex", "pairwise", "by_hole_size", "by_category")


def no_weights(tmp_path, folders) -> dict:
    """The aggregation's distribution inputs of a run without weights: unavailable features everywhere."""
    real = tmp_path / "real.npz"
    features.save_features(real, features.unavailable_features("no weights in this test"))
    for folder in folders:
        features.save_features(folder / "features.npz", features.unavailable_features("no weights in this test"))
    return {"real": real, "features": [folder / "features.npz" for folder in folders], "settings": DISTRIBUTION}


@pytest.fixture(scope="module")
def extractor():
    """InceptionV3 with random weights, its md5 set to Keras's so the metrics accept its features: built
    here, as no config or spec can (test_features.py), to reach the path that produces numbers."""
    made = features.FeatureExtractor(None, batch_size=4)
    made.weights_md5 = features.WEIGHTS_MD5
    return made


def evaluate_with_features(tmp_path, paths, methods, real_npz, extractor=None):
    folders = []
    for method in methods:
        out = tmp_path / "square" / method
        summary = evaluate(method, paths, SIZE, EVALUATION, masks=SQUARE, metrics_csv=out / "metrics.csv",
                           summary_json=out / "summary.json", images_dir=out / "images",
                           real_features_npz=real_npz, features_npz=out / "features.npz", extractor=extractor)
        folders.append((out, summary))
    return folders


def aggregate_square(tmp_path, folders, real_npz):
    outputs = {key: tmp_path / "tables" / f"comparison.{key}" for key in TABLES}
    methods = [summary["method"] for _, summary in folders]
    table = aggregate(["square"], methods, [out / "metrics.csv" for out, _ in folders],
                      [out / "summary.json" for out, _ in folders], outputs, model_metas={},
                      aggregation={"bootstrap_samples": 200, "confidence": 0.95, "seed": 0},
                      distribution={"real": real_npz, "features": [out / "features.npz" for out, _ in folders],
                                    "settings": DISTRIBUTION})
    return table.set_index("method"), outputs


def test_features_saved_by_the_evaluation_give_the_tables_fid_and_kid(tmp_path, test_split, extractor):
    paths, images = test_split
    real_npz = tmp_path / "features" / "real.npz"
    real = evaluation.real_features(paths, SIZE, {**EVALUATION, "distribution": DISTRIBUTION}, real_npz,
                                    extractor=extractor)
    assert sorted(real.ids) == sorted(images) and real.values.shape == (5, features.DIMENSIONS)
    np.testing.assert_allclose(real.values[list(real.ids).index("coffee_2")],
                               extractor(images["coffee_2"][None])[0], rtol=1e-4, atol=1e-6)
    folders = evaluate_with_features(tmp_path, paths, ["black", "biharmonic"], real_npz, extractor)
    table, outputs = aggregate_square(tmp_path, folders, real_npz)

    real = features.load_features(real_npz)
    for out, summary in folders:
        made = features.load_features(out / "features.npz")
        assert list(made.ids) == list(pd.read_csv(out / "metrics.csv", dtype={"id": str})["id"]) == list(real.ids)
        assert summary["distribution"] == {"scored": "the output", "features": str(out / "features.npz"),
                                           "n": 5, "unavailable": None}
        row = table.loc[summary["method"]]
        r, f = real.values.astype(np.float64), made.values.astype(np.float64)
        assert row["fid"] == pytest.approx(metrics.fid(r, f), rel=1e-9) and row["fid"] > 0
        kid = metrics.kid(r, f, DISTRIBUTION["kid_subsets"], DISTRIBUTION["kid_subset_size"], DISTRIBUTION["seed"])
        assert (row["kid"], row["kid_sd"]) == pytest.approx((kid.mean, kid.sd), rel=1e-9)
        assert np.isnan(row["p_ids"]) and np.isnan(row["u_ids"]) and row["distribution_status"] == "partly scored"
        assert "p_ids, u_ids: ids: 5 pairs of 2048-d features are too few" in row["distribution_reason"]
        assert row["distribution_n"] == 5 and row["distribution_output"] == "the output"
    assert table.loc["black", "fid"] > table.loc["biharmonic", "fid"]  # a black hole is further from the truth
    csv_table = pd.read_csv(outputs["csv"]).set_index("method")
    assert csv_table.loc["black", "fid"] == pytest.approx(table.loc["black", "fid"], rel=1e-12)
    markdown = outputs["md"].read_text()
    black = table.loc["black"]
    assert (f"| {black['fid']:.2f} | {black['kid']:.4f} ± {black['kid_sd']:.4f} | n/a: needs > 2049 images | "
            f"n/a: needs > 2049 images | the output |") in markdown
    assert "unavailable" not in markdown and "not comparable with published values" in markdown


def test_without_weights_every_distribution_cell_is_unavailable_and_no_number_is_written(tmp_path, test_split):
    paths, _ = test_split
    real_npz = tmp_path / "real.npz"
    log = tmp_path / "real_features.log"
    settings = {**DISTRIBUTION, "weights": str(tmp_path / "missing.h5")}
    real = evaluation.real_features(paths, SIZE, {**EVALUATION, "distribution": settings}, real_npz, log_path=log)
    assert real.values is None and "missing.h5: no such file" in real.unavailable
    assert [line for line in log.read_text().splitlines() if "unavailable" in line] == [
        line for line in log.read_text().splitlines() if "FID, KID, P-IDS and U-IDS unavailable: " in line]
    folders = evaluate_with_features(tmp_path, paths, ["mean_fill"], real_npz)
    out, summary = folders[0]
    assert summary["distribution"]["unavailable"] == real.unavailable and summary["distribution"]["n"] == 0
    assert features.load_features(out / "features.npz").values is None
    table, outputs = aggregate_square(tmp_path, folders, real_npz)
    row = table.loc["mean_fill"]
    assert all(np.isnan(row[column]) for column in ("fid", "kid", "kid_sd", "p_ids", "u_ids"))
    assert row["distribution_status"] == "unavailable" and "missing.h5: no such file" in row["distribution_reason"]
    assert "| unavailable | unavailable | unavailable | unavailable |" in outputs["md"].read_text()
    assert "unavailable & unavailable & unavailable & unavailable" in outputs["tex"].read_text()
