"""Classical baselines, evaluated exactly like the trained models.

black       the damaged input as it is (the hole stays 0): the floor every method must beat;
mean_fill   the hole filled with the mean colour of the image's known pixels;
biharmonic  scikit-image's biharmonic inpainting (smooth continuation of the border);
pyramid_fill  pull-push pyramid interpolation, averaged over grid offsets (models/layers.py): the
            fixed fill the strong `gan` and `diffusion` models start from and refine, so the
            table shows what their training adds.
"""

from __future__ import annotations

import numpy as np
from skimage.restoration import inpaint_biharmonic

from .models.base import Inpainter


class Black(Inpainter):
    name = "black"

    def predict(self, damaged, masks, original=None, seed=None):
        return damaged


class MeanFill(Inpainter):
    name = "mean_fill"

    def predict(self, damaged, masks, original=None, seed=None):
        from .models.layers import MeanFill as MeanColour

        return MeanColour()([damaged, masks])


class Biharmonic(Inpainter):
    name = "biharmonic"

    def predict(self, damaged, masks, original=None, seed=None):
        damaged, masks = np.asarray(damaged), np.asarray(masks)
        return np.stack([
            inpaint_biharmonic(image, mask[..., 0] > 0.5, channel_axis=-1)
            for image, mask in zip(damaged, masks)
        ]).astype(np.float32)


class PyramidFill(Inpainter):
    name = "pyramid_fill"

    def predict(self, damaged, masks, original=None, seed=None):
        from .models.layers import PyramidFill as PullPush

        return PullPush()([damaged, masks])


BASELINES = {cls.name: cls for cls in (Black, MeanFill, Biharmonic, PyramidFill)}


def get(name: str) -> Inpainter:
    if name not in BASELINES:
        raise ValueError(f"baseline {name!r} is not one of {', '.join(BASELINES)}")
    return BASELINES[name]()
