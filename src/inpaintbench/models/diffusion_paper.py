"""The paper's "diffusion model" (section IV.iii): a noisy input, a tanh layer, a residual sum.

Gaussian noise, modelled with a TensorFlow Probability Normal(0, noise_std), is added to the
input images while training. The pair of images passes through a fully connected layer with tanh
to give the "diffusion output", which is added to the input image to give the repaired image;
MSE against the undamaged image (in [0, 1] pixel units); Adam. The paper also mentions a
partial differential equation iterated to convergence, which its described network does not
contain; we build the network it describes.

As written (`paper_exact: true`) the pair is (undamaged, damaged) and the diffusion output is
added to the undamaged image: the model only has to learn to output about zero. Honest (default):
the network sees the damaged image and the mask, and the diffusion output is added to the damaged
image, so it has to fill the hole itself.

A single Dense layer from the pair (2 x 49,152 values at 128 px) to the image (49,152) would
hold 4.8 G parameters. `hidden_units` puts a linear bottleneck of that width in between (a
low-rank version of the same layer; 512 units: 75 M parameters at 128 px); `hidden_units: null`
builds the single layer as written, which only fits small images.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from . import paper
from .layers import adam
from .replicas import ReplicaSeedGenerator, batch_mean

DEFAULTS = {
    "hidden_units": 512,       # null: the paper's single Dense layer (4.8 G parameters at 128 px)
    "noise_std": 0.05,         # standard deviation of the Gaussian noise added while training
    "learning_rate": 1.0e-3,
    "beta_1": 0.9,
}

# What each loss of train_step is (the training curves' labels).
LOSSES = {"repair_loss": "repair: mean squared error of the repaired image against the original"}
READS_SEED = False  # NormalNoise adds noise only while training: inference is deterministic
FAMILY = "diffusion"  # the family the front page compares it in (inpaintbench.families)


@keras.saving.register_keras_serializable(package="inpaintbench")
class NormalNoise(layers.Layer):
    """Adds a sample of tfd.Normal(0, stddev) while training; the identity at inference."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = float(stddev), seed
        self.seed_generator = ReplicaSeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0.0:
            return inputs
        noise = tfp.distributions.Normal(0.0, self.stddev).sample(
            tf.shape(inputs), seed=tf.cast(self.seed_generator.next(), tf.int32))
        return inputs + tf.cast(noise, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


def build_network(image_size: int, hparams, paper_exact: bool, seed: int = 0) -> keras.Model:
    """[0, 1] inputs -> repaired image; honest: (damaged, mask), paper-exact: (original, damaged)."""
    shape = (image_size, image_size)
    inputs = paper.input_layers(image_size, paper_exact)
    base = NormalNoise(hparams["noise_std"], seed, name="noise")(inputs[0])
    second = NormalNoise(hparams["noise_std"], seed + 1, name="noise_2")(inputs[1]) if paper_exact else inputs[1]
    pair = [base, second]  # noise on images only, never on the mask
    x = layers.Concatenate()([layers.Flatten()(i) for i in pair])
    if hparams["hidden_units"] is not None:
        x = layers.Dense(int(hparams["hidden_units"]), name="bottleneck")(x)
    x = layers.Dense(image_size * image_size * 3, activation="tanh", dtype="float32", name="diffusion")(x)
    diffusion_output = layers.Reshape(shape + (3,))(x)
    repaired = layers.Add(dtype="float32", name="repaired")([base, diffusion_output])
    return keras.Model(inputs, repaired, name="paper_diffusion")


class Trainer(paper.Trainer):
    """Trains the network to repair the damaged image: MSE against the undamaged one, Adam."""

    def __init__(self, image_size: int, hparams: dict, paper_exact: bool = False, seed: int = 0):
        super().__init__("diffusion_paper_trainer", paper_exact, seed)
        self.network = build_network(image_size, hparams, paper_exact, seed)
        self.repair_optimizer = adam(self.network.trainable_variables, hparams["learning_rate"],
                                     beta_1=hparams["beta_1"])

    def train_step(self, data):
        """One Adam step on the repair MSE (the noise is drawn inside the network); returns {repair_loss}."""
        images, masks = data
        inputs = paper.inputs(images, images * (1.0 - masks), masks, self.paper_exact)
        with tf.GradientTape() as tape:
            repaired = self.network(inputs, training=True)
            repair_loss = batch_mean(tf.square(repaired - images))
            scaled = self.repair_optimizer.scale_loss(repair_loss)
        variables = self.network.trainable_variables
        self.repair_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        return {"repair_loss": repair_loss}

    def export(self) -> keras.Model:
        return self.network


class Inpainter(paper.Inpainter):
    """The repaired image; paper-exact models also read the undamaged image."""

    kind = "diffusion_paper"
