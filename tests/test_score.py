"""The referee's scorer (inpaintbench.external, `inpaintbench score`) on a tiny seeded test folder: pairing by
name, the checks on prediction files, the known-pixel policy, the polarity check, numbers equal to the library's."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from conftest import TENSORFLOW_NOISE
from inpaintbench import cli, config, external, features, metrics

SIZE = 32
IDS = ["a/scene 1", "b", ".c", "d%2F", "e", "f"]  # a '/', a space, a leading dot, a literal escape


def _stem(image_id: str) -> str:
    return external.file_stem(image_id)


@pytest.fixture
def folders(tmp_path):
    """(images-and-masks folder, predictions folder, originals, holes, predictions): smooth seeded images,
    a box hole each (hole_white masks), predictions that fill the hole with a flat colour."""
    rng = np.random.default_rng(0)
    test, predicted = tmp_path / "test", tmp_path / "predicted"
    test.mkdir()
    predicted.mkdir()
    ramp = np.linspace(0, 1, SIZE)
    originals, holes, predictions = [], [], []
    for image_id in IDS:
        colour = rng.uniform(0.1, 0.9, 3)
        image = np.round(255 * np.clip(np.add.outer(ramp, ramp)[..., None] / 2 * colour + rng.uniform(0, 0.1), 0, 1))
        image = image.astype(np.uint8)
        hole = np.zeros((SIZE, SIZE), bool)
        top, left = rng.integers(2, 14, 2)
        hole[top:top + 12, left:left + 14] = True
        prediction = image.copy()
        prediction[hole] = rng.integers(0, 256, 3)
        Image.fromarray(image).save(test / f"{_stem(image_id)}.png")
        Image.fromarray(external.mask_image(hole, "hole_white")).save(test / f"{_stem(image_id)}_mask.png")
        Image.fromarray(prediction).save(predicted / f"{_stem(image_id)}.png")
        originals.append(image)
        holes.append(hole)
        predictions.append(prediction)
    return test, predicted, np.stack(originals), np.stack(holes), np.stack(predictions)


def _score(test: Path, predicted: Path, out: Path, *extra: str, masks: Path | None = None) -> int:
    return cli.main(["score", "--images", str(test), "--masks", str(masks or test), "--predictions", str(predicted),
                     "--out", str(out), "--weights", "none", *extra])


def _rows(out: Path) -> dict[str, dict]:
    with open(out / "scores.csv", newline="") as handle:
        return {row["id"]: {key: (value if key in ("id", "category") else float(value)) for key, value in row.items()}
                for row in csv.DictReader(handle)}


def _error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("inpaintbench: error:")]
    assert len(lines) == 1
    return lines[0]


def test_file_stems_are_safe_and_reversible():
    stems = [external.file_stem(image_id) for image_id in IDS]
    assert all("/" not in stem and not stem.startswith(".") for stem in stems)
    assert len(set(stems)) == len(IDS)
    assert [unquote(stem) for stem in stems] == IDS


def test_mask_polarities_are_each_others_inverse():
    hole = np.array([[True, False], [False, False]])
    assert external.mask_image(hole, "hole_white").tolist() == [[255, 0], [0, 0]]
    assert external.mask_image(hole, "keep_white").tolist() == [[0, 255], [255, 255]]
    for polarity in external.POLARITIES:
        assert np.array_equal(external.hole_of(external.mask_image(hole, polarity), polarity), hole)


def test_scores_equal_the_library_metrics_of_the_pasted_predictions(folders, tmp_path):
    test, predicted, originals, holes, predictions = folders
    assert _score(test, predicted, tmp_path / "out") == 0
    rows = _rows(tmp_path / "out")
    order = sorted(IDS, key=_stem)
    expected = metrics.all_metrics(originals / 255.0, predictions / 255.0, holes[..., None].astype(np.float32))
    for i, image_id in enumerate(IDS):
        row = rows[image_id]
        assert row["hole_fraction"] == pytest.approx(holes[i].mean(), abs=1e-12)
        assert row["known_change"] == 0 and math.isinf(row["known_psnr"])
        for key, values in expected.items():
            assert row[key] == pytest.approx(values[i], abs=1e-6, nan_ok=True), (image_id, key)
    assert list(rows) == order
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n"] == len(IDS) and summary["means"]["psnr"] == pytest.approx(expected["psnr"].mean(), abs=1e-6)
    assert summary["distribution"]["fid"] is None
    table = (tmp_path / "out" / "scores.md").read_text()
    assert "known-pixel change" in table and "sharpness" in table and "pasted back" in table


def test_a_prediction_that_changes_known_pixels_shows_it_and_scores_only_its_hole(folders, tmp_path):
    test, predicted, originals, holes, predictions = folders
    assert _score(test, predicted, tmp_path / "clean") == 0
    changed = predictions[1].astype(int)
    changed[~holes[1]] += 10
    Image.fromarray(np.clip(changed, 0, 255).astype(np.uint8)).save(predicted / f"{_stem(IDS[1])}.png")
    assert _score(test, predicted, tmp_path / "changed") == 0
    clean, dirty = _rows(tmp_path / "clean"), _rows(tmp_path / "changed")
    expected_change = np.abs(np.clip(changed, 0, 255) - originals[1].astype(int))[~holes[1]].mean()
    assert dirty[IDS[1]]["known_change"] == pytest.approx(expected_change) and expected_change > 9
    assert dirty[IDS[1]]["known_psnr"] == pytest.approx(10 * np.log10(255 ** 2 / expected_change ** 2), abs=0.2)
    assert all(dirty[i]["known_change"] == 0 for i in IDS if i != IDS[1])
    for key in ("psnr", "ssim", "hole_psnr", "l1", "hole_l1", "sharpness"):
        assert dirty[IDS[1]][key] == pytest.approx(clean[IDS[1]][key], abs=1e-9, nan_ok=True)


@pytest.mark.bad_input
def test_inverted_polarity_is_caught(folders, tmp_path, capsys):
    test, predicted, originals, holes, _ = folders
    for image_id, image, hole in zip(IDS, originals, holes):  # made with the masks read the other way round
        wrong = image.copy()
        wrong[~hole] = 128
        Image.fromarray(wrong).save(predicted / f"{_stem(image_id)}.png")
    assert _score(test, predicted, tmp_path / "out") == 2
    line = _error(capsys)
    assert str(predicted) in line and "polarity looks inverted" in line and "--mask-polarity keep_white" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_missing_predictions_are_counted_and_named_and_nothing_is_lost(folders, tmp_path, capsys):
    test, predicted, *_ = folders
    out = tmp_path / "out"
    assert _score(test, predicted, out) == 0
    before = (out / "scores.csv").read_bytes()
    for image_id in IDS[:2]:
        (predicted / f"{_stem(image_id)}.png").unlink()
    assert _score(test, predicted, out) == 2
    line = _error(capsys)
    assert f"{predicted}: 2 of 6 predictions missing" in line and f"{_stem(IDS[0])}.png" in line
    assert (out / "scores.csv").read_bytes() == before


@pytest.mark.bad_input
def test_a_wrong_size_is_refused_unless_resizing_is_asked_for(folders, tmp_path, capsys):
    test, predicted, *_ = folders
    path = predicted / f"{_stem(IDS[2])}.png"
    Image.open(path).resize((64, 64), Image.Resampling.BICUBIC).save(path)
    assert _score(test, predicted, tmp_path / "out") == 2
    line = _error(capsys)
    assert f"{predicted}: 1 prediction(s) not 32x32 px" in line and f"{path.name} (64x64)" in line
    assert _score(test, predicted, tmp_path / "out", "--size", str(SIZE)) == 0
    assert "1 prediction(s) resized to 32x32 px" in capsys.readouterr().err


@pytest.mark.bad_input
def test_an_unreadable_prediction_is_named(folders, tmp_path, capsys):
    test, predicted, *_ = folders
    (predicted / f"{_stem(IDS[3])}.png").write_bytes(b"not a png")
    assert _score(test, predicted, tmp_path / "out") == 2
    line = _error(capsys)
    assert f"{predicted}: 1 unreadable prediction(s): {_stem(IDS[3])}.png" in line
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.bad_input
def test_grey_and_rgba_predictions_are_converted_and_said(folders, tmp_path, capsys):
    test, predicted, _, _, predictions = folders
    grey = np.asarray(Image.fromarray(predictions[0]).convert("L"))
    Image.fromarray(grey).save(predicted / f"{_stem(IDS[0])}.png")
    rgba = np.dstack([predictions[4], np.full((SIZE, SIZE), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(predicted / f"{_stem(IDS[4])}.png")
    assert _score(test, predicted, tmp_path / "out") == 0
    said = capsys.readouterr().err
    assert f"1 prediction(s) grey, converted to RGB: {_stem(IDS[0])}.png" in said
    assert f"1 prediction(s) with alpha, alpha dropped: {_stem(IDS[4])}.png" in said
    converted = external.read_predictions(predicted, [_stem(IDS[0]), _stem(IDS[4])], SIZE, report=lambda line: None)
    assert np.array_equal(converted[0], np.repeat(grey[..., None], 3, axis=-1))
    assert np.array_equal(converted[1], predictions[4])  # the colours kept, never composited on white


@pytest.mark.bad_input
def test_files_of_other_ids_are_ignored_with_a_warning(folders, tmp_path, capsys):
    test, predicted, *_ = folders
    Image.new("RGB", (SIZE, SIZE)).save(predicted / "stranger.jpg")
    assert _score(test, predicted, tmp_path / "out") == 0
    assert "1 file(s) for ids outside the test set ignored: stranger.jpg" in capsys.readouterr().err
    assert len(_rows(tmp_path / "out")) == len(IDS)


def test_other_projects_namings_pair_by_name(folders, tmp_path):
    """MAT's and MI-GAN's masks (<id>.png, 255 = keep) and LaMa's outputs (named after the mask) score the same."""
    test, predicted, _, holes, _ = folders
    assert _score(test, predicted, tmp_path / "ours") == 0
    keep_white, lama = tmp_path / "keep_white", tmp_path / "lama"
    keep_white.mkdir()
    lama.mkdir()
    for image_id, hole in zip(IDS, holes):
        Image.fromarray(external.mask_image(hole, "keep_white")).save(keep_white / f"{_stem(image_id)}.png")
        (lama / f"{_stem(image_id)}_mask.png").write_bytes((predicted / f"{_stem(image_id)}.png").read_bytes())
    assert _score(test, lama, tmp_path / "theirs", "--mask-polarity", "keep_white", masks=keep_white) == 0
    assert _rows(tmp_path / "theirs") == _rows(tmp_path / "ours")


@pytest.mark.bad_input
def test_a_mask_folder_with_both_namings_for_one_id_is_refused(folders, tmp_path, capsys):
    test, predicted, _, holes, _ = folders
    masks = tmp_path / "masks"
    masks.mkdir()
    for image_id, hole in zip(IDS, holes):
        Image.fromarray(external.mask_image(hole, "hole_white")).save(masks / f"{_stem(image_id)}_mask.png")
    Image.fromarray(external.mask_image(holes[5], "hole_white")).save(masks / f"{_stem(IDS[5])}.png")
    assert _score(test, predicted, tmp_path / "out", masks=masks) == 2
    line = _error(capsys)
    assert f"{masks}: masks of two namings (<id>_mask, <id>_mask<N>, <id>) for one image" in line
    assert "f.png, f_mask.png" in line


def test_lamas_evaluation_layout_scores_each_mask_of_an_image(folders, tmp_path):
    """LaMa's gen_mask_dataset layout: `<stem>_crop000.png` beside `<stem>_crop000_mask000.png`, `..._mask001.png`
    (one folder), predictions named after the mask: one row per mask, each equal to the same image and hole scored
    in our own layout."""
    test, predicted, originals, holes, predictions = folders
    assert _score(test, predicted, tmp_path / "ours") == 0
    lama, lama_predicted = tmp_path / "lama", tmp_path / "lama_predicted"
    lama.mkdir()
    lama_predicted.mkdir()
    for i, image_id in enumerate(IDS):
        crop = f"{_stem(image_id)}_crop000"
        Image.fromarray(originals[i]).save(lama / f"{crop}.png")
        for number, j in (("000", i), ("001", (i + 1) % len(IDS))):  # the second mask: the next image's hole
            Image.fromarray(external.mask_image(holes[j], "hole_white")).save(lama / f"{crop}_mask{number}.png")
            Image.fromarray(np.where(holes[j][..., None], predictions[j], originals[i])).save(
                lama_predicted / f"{crop}_mask{number}.png")
    assert _score(lama, lama_predicted, tmp_path / "lama_out") == 0
    ours, theirs = _rows(tmp_path / "ours"), _rows(tmp_path / "lama_out")
    assert sorted(theirs) == sorted(f"{image_id}_crop000_mask{n}" for image_id in IDS for n in ("000", "001"))
    for image_id in IDS:
        first = theirs[f"{image_id}_crop000_mask000"]
        for key in external.COLUMNS[2:]:
            assert first[key] == pytest.approx(ours[image_id][key], rel=1e-12, nan_ok=True), key
    second = theirs[f"{IDS[0]}_crop000_mask001"]
    assert second["hole_fraction"] == pytest.approx(holes[1].mean())
    assert second["psnr"] != first["psnr"]


def test_masks_saved_as_0_and_1_are_read_as_black_and_white(folders, tmp_path, capsys):
    """A mask PNG holding the 0/1 array as it is (keep = 1, MAT's in-memory convention) scores as its 0/255 copy."""
    test, predicted, _, holes, _ = folders
    assert _score(test, predicted, tmp_path / "ours") == 0
    binary = tmp_path / "binary"
    binary.mkdir()
    for image_id, hole in zip(IDS, holes):
        Image.fromarray((~hole).astype(np.uint8)).save(binary / f"{_stem(image_id)}.png")
    capsys.readouterr()
    assert _score(test, predicted, tmp_path / "theirs", "--mask-polarity", "keep_white", masks=binary) == 0
    assert f"{binary}: {len(IDS)} mask(s) hold only 0 and 1, read with 1 as white" in capsys.readouterr().err
    assert _rows(tmp_path / "theirs") == _rows(tmp_path / "ours")


def test_a_folder_of_plain_names_pairs_by_those_names(folders, tmp_path):
    """Files named by another project ('photo 1.png', no percent-encoding) pair as they are; the id is the name."""
    test, predicted, *_ = folders
    plain, plain_predicted = tmp_path / "plain", tmp_path / "plain_predicted"
    plain.mkdir()
    plain_predicted.mkdir()
    for suffix in (".png", "_mask.png"):
        (plain / f"photo 1{suffix}").write_bytes((test / f"{_stem(IDS[1])}{suffix}").read_bytes())
    (plain_predicted / "photo 1.png").write_bytes((predicted / f"{_stem(IDS[1])}.png").read_bytes())
    assert _score(test, predicted, tmp_path / "ours") == 0
    assert _score(plain, plain_predicted, tmp_path / "plain_out") == 0
    ours, theirs = _rows(tmp_path / "ours")[IDS[1]], _rows(tmp_path / "plain_out")["photo 1"]
    assert theirs["category"] == ours["category"] == ""
    for key in external.COLUMNS[2:]:  # to float rounding: a batch of one is reduced in another order
        assert theirs[key] == pytest.approx(ours[key], rel=1e-12, nan_ok=True), key


@pytest.mark.slow  # builds InceptionV3 twice: over a minute on a loaded two-core machine
def test_distribution_metrics_come_with_weights(folders, tmp_path, monkeypatch):
    """With a weights file (a random InceptionV3's, accepted as Keras's here), FID and KID of the pasted
    predictions against the images, as features.distribution_metrics gives them; IDS says why it cannot."""
    test, predicted, originals, holes, predictions = folders
    extractor = features.FeatureExtractor(None, batch_size=8)
    weights = tmp_path / features.WEIGHTS_FILE
    extractor.save_weights(weights)
    monkeypatch.setattr(features, "WEIGHTS_MD5", hashlib.md5(weights.read_bytes()).hexdigest())
    assert cli.main(["score", "--images", str(test), "--masks", str(test), "--predictions", str(predicted),
                     "--out", str(tmp_path / "out"), "--weights", str(weights)]) == 0
    found = json.loads((tmp_path / "out" / "summary.json").read_text())["distribution"]
    order = np.argsort([_stem(image_id) for image_id in IDS])
    ids = np.asarray(IDS)[order]
    real = features.extract_features(extractor, [(ids, originals[order])]).values
    fake = features.extract_features(extractor, [(ids, predictions[order])]).values
    settings = config.validate_config({"data": {}, "masks": {}, "models": {}})["evaluation"]["distribution"]
    kid_mean = metrics.kid(real, fake, settings["kid_subsets"], settings["kid_subset_size"], settings["seed"])[0]
    assert found["n"] == len(IDS) and found["fid"] == pytest.approx(metrics.fid(real, fake), rel=1e-6)
    assert found["fid"] > 0 and found["kid_mean"] == pytest.approx(kid_mean, rel=1e-6, abs=1e-9)
    assert found["p_ids"] is None and "p_ids" in found["unavailable"]
    assert "FID" in (tmp_path / "out" / "scores.md").read_text()


@pytest.mark.bad_input
def test_the_command_says_one_line_and_exits_2(folders, tmp_path):
    """As a user runs it: no traceback and none of TensorFlow's start-up lines, only the error."""
    test, _, *_ = folders
    result = subprocess.run([sys.executable, "-m", "inpaintbench.cli", "score", "--images", str(test), "--masks",
                             str(test), "--predictions", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"),
                             "--weights", "none"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"inpaintbench: error: {tmp_path / 'nowhere'}: no such folder"
    assert "Traceback" not in result.stderr and not any(noise in result.stderr for noise in TENSORFLOW_NOISE)


def test_known_pixel_change_in_integers_is_the_float64_formula():
    """The integer arithmetic (for speed) gives the float64 values exactly: a noisy prediction, an untouched one
    (0 and inf) and an all-hole image (no known pixel: NaN)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    predictions = images.copy()
    predictions[0] = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    holes = rng.random((3, 20, 20)) < 0.3
    holes[2] = True
    change, change_psnr = metrics.known_pixel_change(images, predictions, holes)
    difference = np.abs(predictions.astype(np.float64) - images.astype(np.float64))[0][~holes[0]]
    assert change[0] == difference.mean() and change_psnr[0] == 10 * np.log10(255.0 ** 2 / np.mean(difference ** 2))
    assert change[1] == 0 and math.isinf(change_psnr[1])
    assert math.isnan(change[2]) and math.isnan(change_psnr[2])
