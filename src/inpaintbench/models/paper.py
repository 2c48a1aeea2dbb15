"""What the paper's two models (gan_paper, diffusion_paper) share: the inputs their networks read,
the base of their Trainers and their Inpainter.

Honest (default): the damaged image and the mask. `paper_exact: true`: the original (undamaged)
image and the damaged one, as the paper writes it; at test time that hands the model the answer,
so its Inpainter declares `needs_original`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .base import Inpainter as BaseInpainter


def input_layers(image_size: int, paper_exact: bool) -> list:
    """The network's keras.Inputs, [0, 1] images: (original, damaged) paper-exact, else (damaged, mask)."""
    shape = (image_size, image_size)
    if paper_exact:
        return [keras.Input(shape + (3,), name="original"), keras.Input(shape + (3,), name="damaged")]
    return [keras.Input(shape + (3,), name="damaged"), keras.Input(shape + (1,), name="mask")]


def inputs(original, damaged, masks, paper_exact: bool) -> list:
    """What the network reads, in the order of input_layers."""
    return [original, damaged] if paper_exact else [damaged, masks]


class Trainer(keras.Model):
    """What both paper models' Trainers share: the global seed set before any weight is drawn, the
    paper-exact switch their train_step reads, and the loss they report, the repair MSE."""

    MAIN_LOSS = "repair_loss"

    def __init__(self, name: str, paper_exact: bool, seed: int):
        super().__init__(name=name)
        keras.utils.set_random_seed(seed)
        self.paper_exact = paper_exact


class Inpainter(BaseInpainter):
    """The network's repaired image; a paper-exact model also reads the undamaged image."""

    kind = "paper"  # each paper model's module names its own

    def __init__(self, network, image_size: int, hparams: dict, paper_exact: bool = False):
        self.network, self.image_size, self.hparams = network, image_size, hparams
        self.needs_original = bool(paper_exact)
        self.name = f"{self.kind}_exact" if paper_exact else self.kind

    def predict(self, damaged, masks, original=None, seed=None):
        return self.network([tf.convert_to_tensor(x, tf.float32)
                             for x in inputs(original, damaged, masks, self.needs_original)], training=False)
