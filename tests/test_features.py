"""InceptionV3 features: the extractor on real photos, the weights' fetch and checks, feature files,
and distribution_metrics' refusal to score features of weights that are not Keras's.

The network with random weights comes from FeatureExtractor(None), built here directly: no spec
reaches it. The weights tests serve a weights file over HTTP on 127.0.0.1 with KERAS_HOME in a
temporary folder, so neither the network nor the user's Keras cache is touched; the file is written
by the test from the random network in the legacy HDF5 layout of Keras's published file, and its md5
stands in for Keras's, so the real load path runs.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import threading

import numpy as np
import pytest
import yaml
from PIL import Image
from skimage import data, transform

from conftest import TINY_CONFIG
from inpaintbench import evaluation, features, metrics
from inpaintbench.config import ConfigError, load_config, validate_config
from test_download import Files


def photos(count: int, size: int = 128) -> np.ndarray:
    """uint8 crops of scikit-image's photographs, `size` px."""
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    crops = []
    for i in range(count):
        image = sources[i % len(sources)]
        side = min(image.shape[:2]) - 40 * (i // len(sources))
        crops.append(transform.resize(image[:side, :side], (size, size), anti_aliasing=True))
    return features.to_uint8(np.stack(crops))


@pytest.fixture(scope="module")
def extractor():
    return features.FeatureExtractor(None, batch_size=2)


@pytest.fixture(scope="module")
def weights_file(extractor, tmp_path_factory):
    """(path, md5) of the random network's weights in the legacy HDF5 layout Keras's file has."""
    path = tmp_path_factory.mktemp("weights") / features.WEIGHTS_FILE
    extractor.save_weights(path)
    return path, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(features, "FETCH_BACKOFF", 0.01)
    return home


@pytest.fixture
def server(weights_file, monkeypatch):
    files = Files()
    files.files = {"weights.h5": weights_file[0].read_bytes()}
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(features, "WEIGHTS_URL", files.url("weights.h5"))
    yield files
    files.shutdown()
    files.server_close()


# The extractor ------------------------------------------------------------------------------------

def test_features_of_a_batch_stream_have_the_right_shape_order_and_do_not_depend_on_batching(extractor):
    images = photos(5)
    values = extractor.extract([images[:1], images[1:4], images[4:]])  # runs of 2, 2, then 1 padded to 2
    assert values.shape == (5, features.DIMENSIONS) and values.dtype == np.float32
    assert np.isfinite(values).all()
    for i in (1, 4):
        np.testing.assert_allclose(extractor(images[i:i + 1])[0], values[i], rtol=1e-4, atol=1e-7)
    assert np.abs(values[0] - values[1]).max() > 10 * np.abs(values[0]).max() * 1e-4  # distinct photos differ


def test_resize_to_299_is_bicubic_and_unquantised():
    images = photos(2)
    resized = features.resize(images)
    assert resized.shape == (2, 299, 299, 3) and resized.dtype == np.float32
    expected = np.asarray(Image.fromarray(images[1, ..., 2].astype(np.float32), mode="F")
                          .resize((299, 299), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(resized[1, ..., 2], expected)
    assert not np.array_equal(resized, np.round(resized))
    flat = features.resize(np.full((1, 50, 70, 3), 77, np.uint8))
    np.testing.assert_allclose(flat, 77.0, atol=1e-3)
    with pytest.raises(ValueError, match="must be uint8"):
        features.resize(images.astype(np.float32))


def test_to_uint8_rounds_as_the_evaluation_saves_its_pngs(tmp_path):
    outputs = np.random.default_rng(0).uniform(-0.1, 1.1, (1, 16, 16, 3))
    evaluation.save_png(tmp_path / "x.png", outputs[0])
    np.testing.assert_array_equal(features.to_uint8(outputs)[0], np.asarray(Image.open(tmp_path / "x.png")))


# The weights -------------------------------------------------------------------------------------

def test_the_published_file_and_hash_are_the_ones_keras_applications_use():
    from keras.src.applications import inception_v3

    assert inception_v3.WEIGHTS_PATH_NO_TOP == features.WEIGHTS_URL
    assert f'file_hash="{features.WEIGHTS_MD5}"' in inspect.getsource(inception_v3)


def test_a_weights_file_given_by_path_is_verified_and_loaded(extractor, weights_file, monkeypatch):
    path, md5 = weights_file
    monkeypatch.setattr(features, "WEIGHTS_MD5", md5)
    loaded = features.load_extractor(str(path), batch_size=2)
    assert loaded.weights_md5 == md5 and loaded.batch_size == 2
    weights, expected = loaded.model.get_weights(), extractor.model.get_weights()
    assert len(weights) == len(expected) > 300  # every layer's, not a fresh random draw
    assert all(np.array_equal(w, e) for w, e in zip(weights, expected))


def test_imagenet_is_fetched_into_the_keras_cache_once_then_reused(weights_file, keras_home, server, monkeypatch):
    path, md5 = weights_file
    monkeypatch.setattr(features, "WEIGHTS_MD5", md5)
    cached = keras_home / "models" / features.WEIGHTS_FILE
    assert features.resolve_weights("imagenet") == cached  # load_extractor loads it as any path (above)
    assert cached.read_bytes() == path.read_bytes() and len(server.requests) == 1
    assert features.resolve_weights("imagenet") == cached and len(server.requests) == 1


def test_a_damaged_cached_file_is_fetched_again(weights_file, keras_home, server, monkeypatch):
    monkeypatch.setattr(features, "WEIGHTS_MD5", weights_file[1])
    cached = keras_home / "models" / features.WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a file")
    lines = []
    assert features.resolve_weights("imagenet", report=lines.append) == cached
    assert cached.read_bytes() == weights_file[0].read_bytes()
    assert any("fetching the file again" in line for line in lines)


@pytest.mark.bad_input
def test_a_served_file_with_another_hash_is_unavailable_and_nothing_lands_in_the_cache(keras_home, server):
    with pytest.raises(features.WeightsUnavailable, match="md5 mismatch") as error:
        features.load_extractor("imagenet")  # the served file is not Keras's (WEIGHTS_MD5 left as published)
    assert "\n" not in str(error.value) and server.url("weights.h5") in str(error.value)
    assert list((keras_home / "models").iterdir()) == []


def test_no_server_means_unavailable_in_one_line(keras_home, monkeypatch):
    with Files() as unused:
        port = unused.server_address[1]  # nobody listens there once closed
    monkeypatch.setattr(features, "WEIGHTS_URL", f"http://127.0.0.1:{port}/weights.h5")
    with pytest.raises(features.WeightsUnavailable, match="cannot fetch Keras's InceptionV3 weights into .*"
                                                          "giving up after 2 retries") as error:
        features.load_extractor("imagenet")
    assert "\n" not in str(error.value)
    assert not (keras_home / "models" / features.WEIGHTS_FILE).exists()


@pytest.mark.bad_input
@pytest.mark.parametrize("case", ["missing", "folder", "foreign"])
def test_a_missing_folder_or_foreign_weights_file_is_unavailable(case, weights_file, tmp_path):
    path, message = {"missing": (tmp_path / "nowhere.h5", "nowhere.h5: no such file"),
                     "folder": (tmp_path, f"{tmp_path}: is a folder, not the {features.WEIGHTS_FILE} file"),
                     "foreign": (weights_file[0], f"md5 is {weights_file[1]}, not the {features.WEIGHTS_MD5}")}[case]
    with pytest.raises(features.WeightsUnavailable, match=re.escape(message)):
        features.load_extractor(str(path))


@pytest.mark.bad_input
def test_a_file_with_the_right_hash_that_keras_cannot_read_is_unavailable(tmp_path, monkeypatch):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"not HDF5 at all")
    monkeypatch.setattr(features, "WEIGHTS_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    with pytest.raises(features.WeightsUnavailable, match="broken.h5: cannot load it into InceptionV3"):
        features.load_extractor(str(path))


@pytest.mark.bad_input
@pytest.mark.parametrize("spec", [None, "", "  "])
def test_no_spec_asks_for_random_weights(spec):
    with pytest.raises(ValueError, match="evaluation.distribution.weights: 'imagenet' or a path"):
        features.load_extractor(spec)


@pytest.mark.bad_input
def test_no_config_asks_for_random_weights(tmp_path):
    raw = yaml.safe_load(TINY_CONFIG.read_text())
    assert load_config(TINY_CONFIG)["evaluation"]["distribution"]["weights"].endswith(features.WEIGHTS_FILE)
    raw["evaluation"].pop("distribution")  # the tiny run's is a missing file (tests/configs/tiny.yaml)
    assert validate_config(raw)["evaluation"]["distribution"]["weights"] == "imagenet"
    raw["evaluation"]["distribution"] = {"weights": None}
    with pytest.raises(ConfigError, match="key evaluation.distribution.weights: None is not of type 'string'"):
        validate_config(raw)
    with pytest.raises(features.WeightsUnavailable, match="random: no such file"):
        features.load_extractor("random")  # a name that is no file is no way in either


# Feature files and distribution_metrics -----------------------------------------------------------

def published(values, ids=None) -> features.Features:
    """Features as if made with Keras's weights: the metrics accept nothing else."""
    ids = np.asarray(ids if ids is not None else [f"img{i:03d}" for i in range(len(values))])
    return features.Features(ids, np.asarray(values, np.float32), features.WEIGHTS_MD5)


def test_features_files_round_trip_atomically(extractor, tmp_path):
    images = photos(3)
    made = features.extract_features(extractor, [(["a", "b"], images[:2]), (["c"], images[2:])],
                                     config={"batch_size": 2}, method="gan")
    path = tmp_path / "features" / "gan.npz"
    features.save_features(path, made)
    loaded = features.load_features(path)
    assert list(loaded.ids) == ["a", "b", "c"] and loaded.values.shape == (3, features.DIMENSIONS)
    np.testing.assert_array_equal(loaded.values, made.values)
    assert loaded.weights_md5 is None and loaded.unavailable is None
    assert loaded.provenance["method"] == "gan" and loaded.provenance["config"] == {"batch_size": 2}
    assert "bicubic" in loaded.provenance["resize"] and loaded.provenance["versions"]["scikit-learn"]

    class Broken(features.Features):
        pass

    with pytest.raises(TypeError):  # a failed write leaves the earlier file whole and no stray file
        features.save_features(path, Broken(np.asarray(["x"]), object(), None))
    np.testing.assert_array_equal(features.load_features(path).values, made.values)
    assert [p.name for p in path.parent.iterdir()] == ["gan.npz"]


def test_an_unavailable_features_file_keeps_its_reason_and_a_bad_file_is_named(tmp_path):
    path = tmp_path / "real.npz"
    features.save_features(path, features.unavailable_features("no network\nat all", protocol="square"))
    loaded = features.load_features(path)
    assert loaded.values is None and loaded.unavailable == "no network at all"
    assert loaded.provenance["protocol"] == "square"
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npz: not a features file"):
        features.load_features(tmp_path / "junk.npz")


SETTINGS = {"weights": "imagenet", "batch_size": 4, "kid_subsets": 10, "kid_subset_size": 50, "seed": 0}


def test_distribution_metrics_pair_the_images_by_id_and_equal_the_metrics():
    rng = np.random.default_rng(1)
    real_values, fake_values = rng.gamma(2.0, 1.0, (120, 8)), rng.gamma(2.0, 1.0, (120, 8)) + 0.2
    real = published(real_values)
    order = rng.permutation(120)
    fake = published(fake_values[order], ids=real.ids[order])  # the method's images in another order
    result = features.distribution_metrics(real, fake, SETTINGS)
    assert result["unavailable"] == {} and result["n"] == 120 and result["kid_subset_size"] == 50
    real32, fake32 = real.values.astype(np.float64), fake_values.astype(np.float32).astype(np.float64)
    assert result["fid"] == pytest.approx(metrics.fid(real32, fake32), rel=1e-9)
    kid = metrics.kid(real32[order], fake32[order], 10, 50, 0)
    assert (result["kid_mean"], result["kid_sd"]) == pytest.approx((kid.mean, kid.sd), rel=1e-9)
    assert (result["p_ids"], result["u_ids"]) == pytest.approx(tuple(metrics.ids(real32, fake32)))


def test_a_method_on_fewer_images_than_the_real_set_is_scored_on_those():
    rng = np.random.default_rng(2)
    real = published(rng.normal(size=(50, 4)))
    fake = published(real.values[:30] + 0.1, ids=real.ids[:30])
    result = features.distribution_metrics(real, fake, SETTINGS)
    assert result["n"] == 30 and result["fid"] == pytest.approx(
        metrics.fid(real.values[:30].astype(float), fake.values.astype(float)), rel=1e-9)
    stray = published(real.values[:3], ids=["img000", "img001", "other"])
    with pytest.raises(ValueError, match="1 inpainted image.* have no real features, e.g. 'other'"):
        features.distribution_metrics(real, stray, SETTINGS)


def test_too_few_images_leave_ids_and_kid_sd_unavailable_with_the_reason():
    rng = np.random.default_rng(3)
    real = published(rng.normal(size=(20, 64)))
    result = features.distribution_metrics(real, published(rng.normal(size=(20, 64)), real.ids), SETTINGS)
    assert result["fid"] > 0 and result["kid_mean"] is not None
    assert result["p_ids"] is None and result["u_ids"] is None and result["kid_sd"] is None
    assert "20 pairs of 64-d features are too few" in result["unavailable"]["u_ids"]
    assert "every KID subset holds all 20 images" in result["unavailable"]["kid_sd"]


def test_features_of_random_weights_never_produce_a_number(extractor):
    images = photos(2)
    real = features.extract_features(extractor, [(["a", "b"], images)])
    fake = features.extract_features(extractor, [(["a", "b"], images[::-1].copy())])
    assert real.values.shape == (2, features.DIMENSIONS)
    result = features.distribution_metrics(real, fake, SETTINGS)
    assert all(result[name] is None for name in features.DISTRIBUTION_METRICS)
    assert set(result["unavailable"]) == set(features.DISTRIBUTION_METRICS)
    assert "not made with Keras's InceptionV3 weights (md5 None" in result["unavailable"]["fid"]


def test_unavailable_features_make_every_metric_unavailable_with_their_reason():
    real = published(np.random.default_rng(4).normal(size=(10, 4)))
    fake = features.unavailable_features("cannot fetch Keras's InceptionV3 weights: no network")
    result = features.distribution_metrics(real, fake, SETTINGS)
    assert all(result[name] is None for name in features.DISTRIBUTION_METRICS)
    assert set(result["unavailable"].values()) == {"cannot fetch Keras's InceptionV3 weights: no network"}
    other = features.Features(real.ids, real.values, "0" * 32)
    assert "md5 00000000" in features.distribution_metrics(other, real, SETTINGS)["unavailable"]["kid_mean"]
