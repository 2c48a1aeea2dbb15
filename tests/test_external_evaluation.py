"""The external evaluation job's library function on a small TFRecord split built here: predictions made
elsewhere scored into the outputs our methods' evaluations write (features included), or one line and no file."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from skimage import data, transform

from inpaintbench import baselines, external, features, metrics
from inpaintbench.config import default_masks
from inpaintbench.data import tfrecords
from inpaintbench.data.masks import MaskSource
from inpaintbench.evaluation import image_filename, inpaint, real_features
from inpaintbench.external_evaluation import check_external, evaluate_external

SIZE = 24
MASKS = MaskSource("square", default_masks()["protocols"]["square"], 5)
PARAMS = {"masks": {"protocol": "square", "recipe": MASKS.recipe, "seed": 5}, "image_size": SIZE,
          "evaluation": {"limit": None, "save_images": 2}, "mask_polarity": "hole_white",
          "external": {"predictions": "x/{protocol}", "family": "gan", "description": "", "resize": False}}
DISTRIBUTION = {"weights": "unused", "batch_size": 4}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """(shard paths, {id: uint8 image}, {id: boolean hole}): five photo crops in two shards, square masks."""
    folder = tmp_path_factory.mktemp("split")
    paths = [folder / "test-0-of-2.tfrecord", folder / "test-1-of-2.tfrecord"]
    writers = [tfrecords.writer(path) for path in paths]
    images, holes = {}, {}
    for i, name in enumerate(("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")):
        photo = transform.resize(getattr(data, name)()[..., :3], (SIZE, SIZE), anti_aliasing=True)
        images[f"{name}_{i}"] = np.round(photo * 255).astype(np.uint8)
        holes[f"{name}_{i}"] = MASKS.image_mask(f"{name}_{i}", SIZE).astype(bool)
        writers[i % 2].write(tfrecords.serialize(images[f"{name}_{i}"], f"{name}_{i}", name))
    for writer in writers:
        writer.close()
    return paths, images, holes


@pytest.fixture(scope="module")
def extractor():
    """InceptionV3 with random weights, its md5 set to Keras's so the metrics accept its features."""
    made = features.FeatureExtractor(None, batch_size=4)
    made.weights_md5 = features.WEIGHTS_MD5
    return made


def _predictions(folder, images, holes) -> dict[str, np.ndarray]:
    """Biharmonic fills with a changed known pixel each, written as PNGs named by id."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for image_id, image in images.items():
        hole = holes[image_id][None, ..., None].astype(np.float32)
        filled = inpaint(baselines.get("biharmonic"), image[None] / 255.0, hole, seed=0)[0]
        made[image_id] = np.round(np.clip(filled, 0, 1) * 255).astype(np.uint8)
        made[image_id][0, 0] = 255 - image[0, 0]  # a known pixel changed: measured, then pasted back
        Image.fromarray(made[image_id]).save(folder / f"{external.file_stem(image_id)}.png")
    return made


def _run(tmp_path, paths, folder, extractor, real_npz):
    out = tmp_path / "out"
    return out, evaluate_external(
        "theirs", folder, paths, PARAMS, metrics_csv=out / "theirs.csv", summary_json=out / "theirs.json",
        features_npz=out / "theirs.features.npz", images_dir=out / "images", real_features_npz=real_npz,
        extractor=extractor)


def test_predictions_are_scored_into_our_methods_outputs_with_their_features(tmp_path, split, extractor):
    paths, images, holes = split
    made = _predictions(tmp_path / "predictions", images, holes)
    real_npz = tmp_path / "real.npz"
    real_features(paths, SIZE, {"limit": None, "distribution": DISTRIBUTION}, real_npz, extractor=extractor)
    out, summary = _run(tmp_path, paths, tmp_path / "predictions", extractor, real_npz)

    pasted = {i: np.where(holes[i][..., None], made[i], images[i]) for i in images}
    ids = sorted(images)
    assert (summary["kind"], summary["family"], summary["protocol"], summary["n"]) == ("external", "gan", "square", 5)
    change = [~holes[i][0, 0] * np.abs(255 - 2 * images[i][0, 0].astype(float)).mean() / (~holes[i]).sum() for i in ids]
    assert summary["means"]["known_change"] == pytest.approx(np.mean(change)) and max(change) > 0
    expected = metrics.all_metrics(np.stack([images[i] for i in ids]) / 255.0, np.stack([pasted[i] for i in ids])
                                   / 255.0, np.stack([holes[i] for i in ids])[..., None].astype(np.float32))
    assert summary["means"]["psnr"] == pytest.approx(np.mean(expected["psnr"]), abs=1e-9)
    saved = sorted((out / "images").iterdir())
    assert len(saved) == 2 == summary["saved_images"]
    for path in saved:
        image_id = next(i for i in ids if image_filename(i) == path.name)
        assert np.array_equal(np.asarray(Image.open(path)), pasted[image_id])
    theirs = features.load_features(out / "theirs.features.npz")
    assert sorted(theirs.ids) == ids and summary["distribution"]["n"] == 5
    for image_id, values in zip(theirs.ids, theirs.values):
        np.testing.assert_allclose(values, extractor(pasted[image_id][None])[0], rtol=1e-4, atol=1e-6)


@pytest.mark.bad_input
def test_a_mis_sized_prediction_is_one_line_and_writes_nothing(tmp_path, split, extractor):
    paths, images, holes = split
    _predictions(tmp_path / "predictions", images, holes)
    wrong = tmp_path / "predictions" / f"{sorted(images)[1]}.png"
    Image.open(wrong).resize((SIZE + 2, SIZE + 2)).save(wrong)
    real_npz = tmp_path / "real.npz"
    features.save_features(real_npz, features.unavailable_features("no weights in this test"))
    line = (f"{tmp_path / 'predictions'}: 1 prediction(s) not 24x24 px (the test images' size; resize them, or ask "
            f"for resizing): {wrong.name} (26x26)")
    with pytest.raises(external.ExternalError, match=re.escape(line)):
        check_external("theirs", tmp_path / "predictions", paths, PARAMS, check_json=tmp_path / "out" / "check.json")
    with pytest.raises(external.ExternalError, match=re.escape(line)):
        _run(tmp_path, paths, tmp_path / "predictions", extractor, real_npz)
    assert not (tmp_path / "out").exists()
