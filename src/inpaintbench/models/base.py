"""The contract every inpainting method meets, trained models and classical baselines alike.

A method fills the hole of damaged images; the known pixels are always pasted back, so a
method can only be judged on what it puts inside the hole.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class Inpainter:
    """Fills square holes: images and masks in, composited images in [0, 1] out.

    `needs_original` is True only for the paper-exact models, whose published design reads
    the undamaged image; evaluation then hands it over, and the table says so.
    """

    name: str = "inpainter"
    needs_original: bool = False
    image_size: int | None = None  # None: works at any size (the baselines)

    def predict(self, damaged, masks, original=None, seed=None, **options):
        """Raw prediction of the whole image, float32 (B, H, W, 3) in [0, 1]."""
        raise NotImplementedError

    def __call__(self, damaged, masks, original=None, seed=None, **options) -> np.ndarray:
        damaged = tf.convert_to_tensor(damaged, tf.float32)
        masks = tf.convert_to_tensor(masks, tf.float32)
        if self.needs_original and original is None:
            raise ValueError(f"{self.name}: paper-exact model needs the undamaged image")
        predicted = tf.clip_by_value(
            tf.convert_to_tensor(self.predict(damaged, masks, original=original, seed=seed, **options),
                                 tf.float32), 0.0, 1.0)
        return (damaged * (1.0 - masks) + predicted * masks).numpy()
