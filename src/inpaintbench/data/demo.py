"""The embedded offline demo: square crops of the colour photographs bundled with scikit-image.

Crops at several scales and positions of ten real photos give a few hundred images with
real-photo statistics, so the whole pipeline runs with no download. Crops of one photo
overlap, so the demo's test split is not independent of its train split: it is a
working demonstration of the pipeline, not a benchmark result.
"""

from __future__ import annotations

import functools
import io
import tarfile

import numpy as np
from PIL import Image
from skimage import data as skdata


def _stereo(index: int):
    return lambda: skdata.stereo_motorcycle()[index]


PHOTOS = {
    "astronaut": skdata.astronaut,
    "chelsea": skdata.chelsea,
    "coffee": skdata.coffee,
    "rocket": skdata.rocket,
    "motorcycle_left": _stereo(0),
    "motorcycle_right": _stereo(1),
    "hubble_deep_field": skdata.hubble_deep_field,
    "immunohistochemistry": skdata.immunohistochemistry,
    "retina": skdata.retina,
    "camera": skdata.camera,
}


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    if name not in PHOTOS:
        raise KeyError(f"demo photo {name!r} is not one of {sorted(PHOTOS)}")
    return np.asarray(PHOTOS[name]())


def crops(name: str, scales, positions: int):
    """(left, top, side) square crops: `positions` x `positions` grid at each scale, deduplicated."""
    height, width = photo(name).shape[:2]
    boxes = []
    for scale in scales:
        side = max(8, int(round(scale * min(height, width))))
        xs = np.linspace(0, width - side, positions).round().astype(int)
        ys = np.linspace(0, height - side, positions).round().astype(int)
        for top in ys:
            for left in xs:
                box = (int(left), int(top), side)
                if box not in boxes:
                    boxes.append(box)
    return boxes


def crop(name: str, box) -> np.ndarray:
    left, top, side = box
    return photo(name)[top:top + side, left:left + side]


def val_like_tar(path, count: int, size: int = 256, seed: int = 0, quality: int = 90) -> list[str]:
    """A tar laid out like Places365's val_256.tar, of `count` JPEG crops of the demo photos.

    Members are `val_256/Places365_val_00000001.jpg` ...: real-photo content at the archive's
    layout and size, for the download tests and the data-stage benchmark. Returns the names.
    """
    rng = np.random.default_rng(seed)
    names = list(PHOTOS)
    members = []
    with tarfile.open(path, "w") as tar:
        folder = tarfile.TarInfo("val_256")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for index in range(1, count + 1):
            array = photo(names[(index - 1) % len(names)])
            height, width = array.shape[:2]
            side = int(rng.uniform(0.3, 1.0) * min(height, width))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            image = Image.fromarray(array[top:top + side, left:left + side]).convert("RGB")
            buffer = io.BytesIO()
            image.resize((size, size), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=quality)
            member = tarfile.TarInfo(f"val_256/Places365_val_{index:08d}.jpg")
            member.size, member.mode = buffer.tell(), 0o644
            buffer.seek(0)
            tar.addfile(member, buffer)
            members.append(member.name)
    return members
