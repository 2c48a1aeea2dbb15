"""Building blocks shared by the convolutional `gan` and the `diffusion` U-Nets.

Registered with Keras so model.keras files load in safe mode.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .replicas import ReplicaDropout, ReplicaLossScaleOptimizer

SHIFTS = 16  # grid offsets PyramidFill averages over: every offset of the strides 2..16 the networks use


@keras.saving.register_keras_serializable(package="inpaintbench")
class SinusoidalEmbedding(layers.Layer):
    """Timestep t (B,) -> (B, dim) sines and cosines at geometric frequencies (Vaswani et al.; Ho et al. 2020)."""

    def __init__(self, dim: int, max_period: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.max_period = dim, max_period

    def call(self, t):
        half = self.dim // 2
        frequencies = ops.exp(-math.log(self.max_period) * ops.arange(half, dtype="float32") / half)
        angles = ops.cast(ops.reshape(t, (-1, 1)), "float32") * frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


@keras.saving.register_keras_serializable(package="inpaintbench")
class ResidualBlock(layers.Layer):
    """GroupNorm-SiLU-conv twice with a skip; an optional embedding (the timestep) is added in between."""

    def __init__(self, channels: int, groups: int = 8, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.groups, self.dropout = channels, groups, dropout
        self.norm1 = layers.GroupNormalization(min(groups, channels))
        self.conv1 = layers.Conv2D(channels, 3, padding="same")
        self.norm2 = layers.GroupNormalization(min(groups, channels))
        self.drop = ReplicaDropout(dropout)
        self.conv2 = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros")
        self.embed = layers.Dense(channels)
        self.skip = None

    def build(self, input_shape):
        nested = isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple))
        feature_shape, embedding_shape = (input_shape[0], input_shape[1]) if nested else (input_shape, None)
        hidden_shape = (*feature_shape[:-1], self.channels)
        self.norm1.build(feature_shape)
        self.conv1.build(feature_shape)
        self.norm2.build(hidden_shape)
        self.conv2.build(hidden_shape)
        if embedding_shape is not None:
            self.embed.build(embedding_shape)
        if feature_shape[-1] != self.channels:
            self.skip = layers.Conv2D(self.channels, 1)
            self.skip.build(feature_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        x, embedding = inputs if isinstance(inputs, (list, tuple)) else (inputs, None)
        h = self.conv1(ops.silu(self.norm1(x)))
        if embedding is not None:
            h = h + self.embed(ops.silu(embedding))[:, None, None, :]
        h = self.conv2(self.drop(ops.silu(self.norm2(h)), training=training))
        return (self.skip(x) if self.skip is not None else x) + h

    def compute_output_shape(self, input_shape):
        feature_shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and \
            isinstance(input_shape[0], (list, tuple)) else input_shape
        return (*feature_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "groups": self.groups,
                "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="inpaintbench")
class MeanFill(layers.Layer):
    """(damaged, mask) -> the damaged image with its hole filled by the mean colour of its known pixels.

    Context Encoders and Iizuka et al. fill the hole with a mean value before the network sees it;
    the mean_fill baseline is this layer alone.
    """

    def call(self, inputs):
        damaged, mask = inputs
        known = 1.0 - mask
        mean = ops.sum(damaged * known, axis=(1, 2), keepdims=True) / ops.maximum(
            ops.sum(known, axis=(1, 2), keepdims=True), 1.0)
        return damaged * known + mean * mask

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="inpaintbench")
class PyramidFill(layers.Layer):
    """(damaged, mask) -> the hole filled by pull-push interpolation (Gortler et al. 1996, "The Lumigraph").

    Pull: halve the image repeatedly, averaging known pixels only; push: fill each level's hole
    with the bilinear upsampling of the coarser level. A smooth, parameter-free continuation of
    the border; the networks learn a residual on it.

    The levels' cells all sit on one 2^k grid, whose borders show in the fill (blockiness 1.05 to
    1.31 times a photo's at strides 2 to 16). With `shifts` = S (a power of two) the fill is the
    mean of the pull-pushes of the image shifted diagonally by k = 0..S-1 unknown pixels, so each
    axis sees every grid offset mod S and no border stays in place. The fill is linear in the
    coarser level's, so the mean is taken level by level: each level pulls at offsets 0 and 1 and
    averages the two pushes, which costs a few times the single pull-push, not S times. shifts=1
    is the original fill, which a saved config without the key means (models trained with it
    load unchanged).
    """

    def __init__(self, shifts: int = SHIFTS, **kwargs):
        super().__init__(**kwargs)
        if int(shifts) < 1 or int(shifts) & (int(shifts) - 1):
            raise ValueError(f"PyramidFill: shifts must be a power of two, got {shifts}")
        self.shifts = int(shifts)

    def call(self, inputs):
        damaged, mask = inputs
        return self._fill(damaged, 1.0 - mask, self.shifts)

    def _fill(self, image, known, shifts):
        """The pull-push of `image`, averaged over the diagonal grid offsets 0..shifts-1."""
        height, width = image.shape[1], image.shape[2]
        if height is None or height < 2:
            return image
        pushes = []
        for offset in range(min(shifts, 2)):
            # an odd level: the original fill drops its last row/column, the shifted one pads an unknown one
            bottom, right = ((height + offset) % 2, (width + offset) % 2) if self.shifts > 1 else (0, 0)
            pad = [[0, 0], [offset, bottom], [offset, right], [0, 0]]
            padded, padded_known = ops.pad(image, pad), ops.pad(known, pad)
            total = ops.average_pool(padded * padded_known, 2, 2, padding="valid")
            weight = ops.average_pool(padded_known, 2, 2, padding="valid")
            coarse = self._fill(total / ops.maximum(weight, 1e-6), ops.cast(weight > 0, image.dtype),
                                max(shifts // 2, 1))
            upsampled = ops.image.resize(coarse, padded.shape[1:3], interpolation="bilinear")
            pushes.append(upsampled[:, offset:offset + height, offset:offset + width])
        return image * known + sum(pushes) / float(len(pushes)) * (1.0 - known)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "shifts": self.shifts}

    @classmethod
    def from_config(cls, config):
        return cls(**{"shifts": 1, **config})


PREFILLS = {"mean": MeanFill, "pyramid": PyramidFill}


def prefill(kind: str, **layer_kwargs):
    """The fixed hole fill a network starts from: `mean` (the papers' choice) or `pyramid`."""
    if kind not in PREFILLS:
        raise ValueError(f"hparams.prefill: {kind!r} is not one of {', '.join(PREFILLS)}")
    return PREFILLS[kind](**layer_kwargs)


def prefill_options(network) -> dict:
    """The options of the pull-push fill inside `network`, so a fill built beside a loaded model
    matches the one it was trained with."""
    return next(({"shifts": layer.shifts} for layer in network.layers if isinstance(layer, PyramidFill)), {})


def adam(variables, learning_rate, **betas):
    """Adam built for `variables`, wrapped in loss scaling under a mixed_float16 policy."""
    optimizer = keras.optimizers.Adam(learning_rate, **betas)
    if keras.mixed_precision.global_policy().compute_dtype == "float16":
        optimizer = ReplicaLossScaleOptimizer(optimizer)
    optimizer.build(variables)
    return optimizer
