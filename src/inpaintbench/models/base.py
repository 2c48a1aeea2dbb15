"""The contract every inpainting method meets, trained models and classical baselines alike.

A method fills the hole of damaged images; the known pixels are always pasted back, so a
method can only be judged on what it puts inside the hole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Option:
    """A predict option a method takes: a number in [low, high] (None: unbounded), or one of `choices`."""

    type: type = int
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    def problem(self, value) -> str | None:
        """What is wrong with `value` for this option, or None."""
        if self.choices:
            return None if value in self.choices else f"is not one of {', '.join(self.choices)}"
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not number or (self.type is int and not float(value).is_integer()):
            return "is not an integer" if self.type is int else "is not a number"
        if self.high is None and self.low is not None and value < self.low:
            return f"must be at least {self.low}"
        if self.low is None and self.high is not None and value > self.high:
            return f"must be at most {self.high}"
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            return f"must be within {self.low}..{self.high}"
        return None


class Inpainter:
    """Fills square holes: images and masks in, composited images in [0, 1] out.

    `needs_original` is True only for the paper-exact models, whose published design reads
    the undamaged image; evaluation then hands it over, and the table says so.
    """

    name: str = "inpainter"
    needs_original: bool = False
    image_size: int | None = None  # None: works at any size (the baselines)

    def options(self) -> dict[str, Option]:
        """The predict options this method takes, by name; none unless a method says so."""
        return {}

    def checked_options(self, options: dict) -> dict:
        """The options given (None: not given), each one this method takes and within its range.

        The one rule for every method, baselines included: any other option, or a value out of
        range, is a ValueError naming the method, the option and what it accepts.
        """
        taken = self.options()
        given = {name: value for name, value in options.items() if value is not None}
        for name, value in given.items():
            if name not in taken:
                accepted = ", ".join(sorted(taken)) or "none"
                raise ValueError(f"{self.name}: takes no option {name} (its options: {accepted})")
            problem = taken[name].problem(value)
            if problem:
                raise ValueError(f"{self.name}: option {name}={value!r} {problem}")
        return given

    def predict(self, damaged, masks, original=None, seed=None, **options):
        """Raw prediction of the whole image, float32 (B, H, W, 3) in [0, 1]; options already checked."""
        raise NotImplementedError

    def predict_with_one_sample(self, damaged, masks, original=None, seed=None, **options):
        """(prediction, one sample's prediction). The same array for a method that draws one fill per
        image; a model that averages several samples returns one of those it drew beside the mean."""
        predicted = self.predict(damaged, masks, original=original, seed=seed, **options)
        return predicted, predicted

    def __call__(self, damaged, masks, original=None, seed=None, **options) -> np.ndarray:
        return self.with_one_sample(damaged, masks, original=original, seed=seed, **options)[0]

    def with_one_sample(self, damaged, masks, original=None, seed=None, **options) -> tuple[np.ndarray, np.ndarray]:
        """(the inpainted images, those of one sample): what PSNR/SSIM score, and what the distribution
        metrics score (a sharp fill, never the mean of several); the known pixels pasted back in both."""
        options = self.checked_options(options)
        damaged = tf.convert_to_tensor(damaged, tf.float32)
        masks = tf.convert_to_tensor(masks, tf.float32)
        if self.needs_original and original is None:
            raise ValueError(f"{self.name}: paper-exact model needs the undamaged image")
        predicted, one_sample = self.predict_with_one_sample(damaged, masks, original=original, seed=seed, **options)

        def composited(prediction):
            prediction = tf.clip_by_value(tf.convert_to_tensor(prediction, tf.float32), 0.0, 1.0)
            return (damaged * (1.0 - masks) + prediction * masks).numpy()

        output = composited(predicted)
        return output, output if one_sample is predicted else composited(one_sample)
