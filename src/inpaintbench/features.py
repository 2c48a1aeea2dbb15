"""InceptionV3 features of images, for the distribution metrics (FID, KID, P-IDS/U-IDS), and their files.

Network: keras.applications.InceptionV3(include_top=False, pooling="avg"), the 2048-d average-
pooled features, with Keras's ImageNet weights and nothing else. The weights come from
`load_extractor(spec)`: "imagenet" is Keras's notop file in the Keras cache ($KERAS_HOME/models,
else ~/.keras/models), fetched there on first use as keras.applications would, or a path to that
file; either way its md5 must be the one Keras publishes. When they cannot be had (no network, no
such file, another hash) WeightsUnavailable says why in one line, and no features are made: no spec
or config can ask for random weights. Only `FeatureExtractor(None)`, which tests and speed
benchmarks build directly, has them (a network's cost does not depend on its weights).

Input: uint8 RGB images (inpaintings rounded to uint8 as the evaluation saves them, `to_uint8`),
resized to 299x299 with PIL's bicubic filter on float channels, not rounded after the resize, then
keras.applications.inception_v3.preprocess_input (x / 127.5 - 1). PIL's filter is fixed across
versions and platforms, where framework resizes have changed behaviour, and resizing and
quantisation choices move FID (Parmar et al. 2022, clean-fid, which makes the same choice); going
from 128 px up to 299 needs no antialiasing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from . import metrics, provenance
from .data import download
from .data.images import to_uint8  # noqa: F401 (the evaluation's rounding, used with the features)

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
# Where keras.applications.InceptionV3 fetches the file, and the md5 it checks (keras/src/applications/inception_v3.py).
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + WEIGHTS_FILE
WEIGHTS_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"
SIZE = 299
DIMENSIONS = 2048
FETCH_RETRIES, FETCH_BACKOFF = 2, 1.0  # a machine without network learns it in seconds
_LOG = logging.getLogger("inpaintbench.features")


class WeightsUnavailable(RuntimeError):
    """Keras's InceptionV3 weights cannot be had; the message is one line saying why."""


def _one_line(error) -> str:
    return " ".join(str(error).split())


def keras_cache() -> Path:
    """Keras's cache folder as keras.utils.get_file picks it: $KERAS_HOME, else ~/.keras (/tmp/.keras
    if home is read-only)."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"])
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def resolve_weights(spec: str, report=_LOG.info) -> Path:
    """The verified weights file named by `spec` ("imagenet" or a path to the .h5); WeightsUnavailable otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"evaluation.distribution.weights: 'imagenet' or a path to {WEIGHTS_FILE}, got {spec!r}")
    if spec == "imagenet":
        return _cached_weights(report)
    path = Path(spec).expanduser()
    if path.is_dir():
        raise WeightsUnavailable(f"{path}: is a folder, not the {WEIGHTS_FILE} file (evaluation.distribution.weights)")
    if not path.is_file():
        raise WeightsUnavailable(f"{path}: no such file (evaluation.distribution.weights)")
    actual = download.md5sum(path)
    if actual != WEIGHTS_MD5:
        raise WeightsUnavailable(f"{path}: md5 is {actual}, not the {WEIGHTS_MD5} of Keras's {WEIGHTS_FILE}")
    return path


def _cached_weights(report) -> Path:
    """Keras's file in the Keras cache, fetched and verified first if it is not there (or not intact)."""
    path = keras_cache() / "models" / WEIGHTS_FILE
    if path.is_file():
        if download.md5sum(path) == WEIGHTS_MD5:
            return path
        report(f"{path}: md5 is not Keras's {WEIGHTS_MD5}; fetching the file again")
        path.unlink()
    try:
        download.fetch(WEIGHTS_URL, path, WEIGHTS_MD5, retries=FETCH_RETRIES, backoff=FETCH_BACKOFF, report=report)
    except (download.DownloadError, OSError) as error:
        raise WeightsUnavailable(f"cannot fetch Keras's InceptionV3 weights into {path.parent}: "
                                 f"{_one_line(error)}") from None
    return path


def load_extractor(spec: str, batch_size: int = 32, report=_LOG.info) -> FeatureExtractor:
    """The extractor with the weights `spec` names, verified; WeightsUnavailable if they cannot be had."""
    path = resolve_weights(spec, report)
    try:
        return FeatureExtractor(path, batch_size)
    except Exception as error:  # Keras and h5py raise many types for a file they cannot read
        raise WeightsUnavailable(f"{path}: cannot load it into InceptionV3: {_one_line(error)}") from None


def resize(images: np.ndarray) -> np.ndarray:
    """uint8 (B, H, W, 3) -> float32 (B, 299, 299, 3) in [0, 255] give or take the bicubic overshoot."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"features: images must be uint8 (B, H, W, 3), got {images.dtype} {images.shape}")
    out = np.empty((len(images), SIZE, SIZE, 3), np.float32)
    for i, image in enumerate(images):
        for channel in range(3):
            plane = Image.fromarray(image[..., channel].astype(np.float32), mode="F")
            out[i, ..., channel] = np.asarray(plane.resize((SIZE, SIZE), Image.Resampling.BICUBIC))
    return out


class FeatureExtractor:
    """InceptionV3 pool features of uint8 images, `batch_size` images per network call.

    Build it with `load_extractor`. The constructor takes a weights file already verified, or
    None for random initialisation, which exists only for tests and speed benchmarks.
    """

    def __init__(self, weights_file: str | Path | None, batch_size: int = 32):
        import keras

        self.batch_size = int(batch_size)
        self.weights_md5 = None if weights_file is None else download.md5sum(weights_file)
        self.model = keras.applications.InceptionV3(
            include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3),
            weights=None if weights_file is None else str(weights_file))
        self._preprocess = keras.applications.inception_v3.preprocess_input

    def _run(self, images: np.ndarray) -> np.ndarray:
        """Features of at most `batch_size` images; a short batch is padded so the network traces once."""
        count = len(images)
        inputs = self._preprocess(resize(images))
        if count < self.batch_size:
            inputs = np.concatenate([inputs, np.zeros((self.batch_size - count, *inputs.shape[1:]), inputs.dtype)])
        return np.asarray(self.model.predict_on_batch(inputs))[:count]

    def extract(self, batches) -> np.ndarray:
        """float32 (n, 2048) features of a stream of uint8 image batches of any sizes, in order."""
        outputs, pending = [], None
        for batch in batches:
            pending = np.asarray(batch) if pending is None else np.concatenate([pending, batch])
            while len(pending) >= self.batch_size:
                outputs.append(self._run(pending[:self.batch_size]))
                pending = pending[self.batch_size:]
        if pending is not None and len(pending):
            outputs.append(self._run(pending))
        return np.concatenate(outputs) if outputs else np.empty((0, DIMENSIONS), np.float32)

    def __call__(self, images) -> np.ndarray:
        return self.extract([images])

    def save_weights(self, path: str | Path) -> None:
        """Write the network's weights in the legacy HDF5 layout of Keras's published file, which
        `load_extractor` reads: how tests and benchmarks exercise the real load path."""
        import h5py
        from keras.src.legacy.saving import legacy_h5_format  # Keras's writer of that layout

        with provenance.atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
            legacy_h5_format.save_weights_to_hdf5_group(handle, self.model)


@dataclasses.dataclass
class Features:
    """Features of a set of images, by image id, with the md5 of the weights that made them;
    or, when there are none, `unavailable` says why."""

    ids: np.ndarray  # (n,) image ids, the row order of `values`
    values: np.ndarray | None  # (n, 2048) float32
    weights_md5: str | None
    unavailable: str | None = None
    provenance: dict = dataclasses.field(default_factory=dict)


def extract_features(extractor: FeatureExtractor, batches, **record) -> Features:
    """Features of a stream of (ids, uint8 images) batches: the test split's originals or a method's outputs.

    `record` goes into the provenance (config slice, method, protocol...), beside the resize and weights.
    """
    ids = []

    def images():  # collects the ids as the extractor consumes the images
        for batch_ids, batch_images in batches:
            ids.extend(str(i) for i in batch_ids)
            yield batch_images

    values = extractor.extract(images())
    return Features(np.asarray(ids, dtype=str), values, extractor.weights_md5,
                    provenance=_provenance(extractor.weights_md5, record))


def concatenate(parts: list[Features], **record) -> Features:
    """The features of consecutive parts of one set of images (a chunked evaluation's), in order, with `record`
    in the provenance as extract_features writes it; unavailable, with the first reason, if any part is."""
    reason = next((part.unavailable for part in parts if part.unavailable), None)
    if reason:
        return unavailable_features(reason, **record)
    md5s = sorted({str(part.weights_md5) for part in parts})
    if len(md5s) != 1:
        raise ValueError(f"features of {len(md5s)} different weights (md5 {', '.join(md5s)}) cannot be joined")
    ids = np.concatenate([np.asarray(part.ids, dtype=str) for part in parts])
    values = np.concatenate([part.values for part in parts]).astype(np.float32, copy=False)
    return Features(ids, values, parts[0].weights_md5, provenance=_provenance(parts[0].weights_md5, record))


def unavailable_features(reason: str, **record) -> Features:
    """What a features file says when the weights could not be had: the reason, and no values."""
    return Features(np.asarray([], dtype=str), None, None, _one_line(reason), _provenance(None, record))


def _provenance(weights_md5, record: dict) -> dict:
    return provenance.record(
        record.pop("config", None), network="keras.applications.InceptionV3(include_top=False, pooling='avg')",
        resize=f"PIL bicubic to {SIZE}x{SIZE} on float channels, from uint8", weights_md5=weights_md5, **record)


def save_features(path: str | Path, features: Features) -> None:
    """Write `features` to an .npz file atomically: ids, values (if any) and a JSON header."""
    header = {"weights_md5": features.weights_md5, "unavailable": features.unavailable,
              "provenance": features.provenance}
    arrays = {"ids": np.asarray(features.ids, dtype=str),
              "header": np.asarray(json.dumps(header, sort_keys=True, default=str))}
    if features.values is not None:
        arrays["values"] = np.asarray(features.values, np.float32)
    with provenance.atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_features(path: str | Path) -> Features:
    """The Features saved in `path`; a ValueError naming the file if it is not a features file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            ids = data["ids"]
            values = data["values"] if "values" in data.files else None
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a features file: {_one_line(error)}") from None
    if values is None and not header["unavailable"]:
        raise ValueError(f"{path}: a features file with neither features nor a reason for their absence")
    if values is not None and (values.ndim != 2 or len(values) != len(ids)):
        raise ValueError(f"{path}: {len(ids)} ids but features of shape {values.shape}")
    return Features(ids, values, header["weights_md5"], header["unavailable"], header["provenance"])


DISTRIBUTION_METRICS = ("fid", "kid_mean", "kid_sd", "p_ids", "u_ids")


def distribution_metrics(real: Features, fake: Features, settings: dict) -> dict:
    """FID, KID (mean, sd), P-IDS and U-IDS of a method's features against the real test images'.

    `settings` is evaluation.distribution (kid_subsets, kid_subset_size, seed). Returns each metric,
    "n" (images scored: the method's, paired with the originals by id), the KID subsets used and the
    weights' md5; "unavailable" maps every metric that is None to the one-line reason (no weights,
    features of other weights, too few images for it).
    """
    result = {**dict.fromkeys(DISTRIBUTION_METRICS), "n": 0, "kid_subsets": settings["kid_subsets"],
              "kid_subset_size": None, "seed": settings["seed"], "weights_md5": real.weights_md5, "unavailable": {}}
    reason = _unscorable(real, fake)
    if reason:
        result["unavailable"] = dict.fromkeys(DISTRIBUTION_METRICS, reason)
        return result
    real_values, fake_values = _paired(real, fake)
    result["n"] = len(fake_values)
    scores = {
        ("fid",): lambda: (metrics.fid(real_values, fake_values),),
        ("kid_mean", "kid_sd", "kid_subset_size"): lambda: metrics.kid(
            real_values, fake_values, settings["kid_subsets"], settings["kid_subset_size"], settings["seed"]),
        ("p_ids", "u_ids"): lambda: metrics.ids(real_values, fake_values),
    }
    for names, score in scores.items():
        try:
            result.update(zip(names, score()))
        except ValueError as error:
            result["unavailable"].update(dict.fromkeys(set(names) & set(DISTRIBUTION_METRICS), _one_line(error)))
    if result["kid_sd"] is not None and np.isnan(result["kid_sd"]):
        result["kid_sd"] = None
        result["unavailable"]["kid_sd"] = (f"every KID subset holds all {result['n']} images of both sets "
                                           f"(kid_subset_size {settings['kid_subset_size']}): no spread to measure")
    return result


def _unscorable(real: Features, fake: Features) -> str | None:
    """Why these two feature sets must not be compared, or None."""
    for name, features in (("real images", real), ("inpainted images", fake)):
        if features.unavailable:
            return features.unavailable
        if features.weights_md5 != WEIGHTS_MD5:
            return (f"the {name}' features were not made with Keras's InceptionV3 weights "
                    f"(md5 {features.weights_md5}, expected {WEIGHTS_MD5})")
    return None


def _paired(real: Features, fake: Features) -> tuple[np.ndarray, np.ndarray]:
    """The real features reordered to pair row by row with the inpainted ones, by image id."""
    row = {image_id: i for i, image_id in enumerate(real.ids)}
    missing = [image_id for image_id in fake.ids if image_id not in row]
    if missing:
        raise ValueError(f"distribution metrics: {len(missing)} inpainted image(s) have no real features, "
                         f"e.g. {str(missing[0])!r}: the real features are of another test split")
    if len(set(fake.ids)) != len(fake.ids):
        raise ValueError("distribution metrics: an image id occurs twice among the inpainted images' features")
    return real.values[[row[image_id] for image_id in fake.ids]], fake.values
