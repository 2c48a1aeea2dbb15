"""The paper's GAN (section IV.ii): fully connected generator, discriminator and repair generator.

Generator: a noise vector through three Dense layers of increasing size, each with batch
normalization and LeakyReLU, to a tanh image. Discriminator: the same kind of network over an
image, ending in one sigmoid probability. Binary cross-entropy for both (the discriminator's
real and fake losses averaged); Adam. As in the paper, the adversarial pair learns to make images
from noise and does not feed the repair.

Repair generator: a fully connected network like the generator that restores the damaged image,
trained with MSE against the undamaged one. The paper feeds it "the original image and the
corresponding damaged image"; at test time that hands it the answer. Honest (default): it sees
the damaged image and the mask only. `paper_exact: true`: it reads the original and the damaged
image as written, and its Inpainter declares `needs_original`.

Images are [0, 1] in the pipeline and [-1, 1] inside the tanh networks: the exported repair
network rescales at its own boundary, so it takes and returns [0, 1] images. The repair loss
is the MSE in [0, 1] pixel units, comparable with the diffusion model's.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from . import paper
from .layers import adam
from .replicas import ReplicaSeedGenerator, batch_mean, replicas

DEFAULTS = {
    "noise_dim": 100,
    "generator_units": [256, 512, 1024],      # increasing, as in the paper
    "discriminator_units": [1024, 512, 256],
    "repair_units": [256, 512, 1024],
    "leaky_relu_slope": 0.2,
    "batchnorm_momentum": 0.9,                # Keras' 0.99 leaves inference statistics unsettled
                                              # after a few hundred steps
    "generator_learning_rate": 2.0e-4,
    "discriminator_learning_rate": 2.0e-4,
    "repair_learning_rate": 1.0e-3,
    "beta_1": 0.5,
}

# What each loss of train_step is (the training curves' labels).
LOSSES = {
    "d_loss": "discriminator: binary cross-entropy on real and generated images",
    "g_loss": "generator: binary cross-entropy of its images judged real",
    "repair_loss": "repair: mean squared error of the repaired image against the original",
}
READS_SEED = False  # inference runs the repair network alone: the noise feeds only the training's generator
FAMILY = "gan"  # the family the front page compares it in (inpaintbench.families)


def dense_stack(x, units, hparams, prefix: str):
    """The paper's block, repeated: Dense -> BatchNormalization -> LeakyReLU. Over several replicas
    the batch statistics are the global batch's (synchronized), as on one device."""
    for i, width in enumerate(units):
        x = layers.Dense(int(width), name=f"{prefix}_dense_{i}")(x)
        x = layers.BatchNormalization(momentum=hparams["batchnorm_momentum"], synchronized=replicas() > 1,
                                      name=f"{prefix}_bn_{i}")(x)
        x = layers.LeakyReLU(hparams["leaky_relu_slope"], name=f"{prefix}_lrelu_{i}")(x)
    return x


def build_generator(image_size: int, hparams) -> keras.Model:
    noise = keras.Input((int(hparams["noise_dim"]),), name="noise")
    x = dense_stack(noise, hparams["generator_units"], hparams, "generator")
    x = layers.Dense(image_size * image_size * 3, activation="tanh", dtype="float32", name="generator_out")(x)
    return keras.Model(noise, layers.Reshape((image_size, image_size, 3))(x), name="paper_generator")


def build_discriminator(image_size: int, hparams) -> keras.Model:
    image = keras.Input((image_size, image_size, 3), name="image")
    x = dense_stack(layers.Flatten()(image), hparams["discriminator_units"], hparams, "discriminator")
    probability = layers.Dense(1, activation="sigmoid", dtype="float32", name="discriminator_out")(x)
    return keras.Model(image, probability, name="paper_discriminator")


def build_repair_generator(image_size: int, hparams, paper_exact: bool) -> keras.Model:
    """[0, 1] inputs -> repaired [0, 1] image; honest: (damaged, mask), paper-exact: (original, damaged)."""
    shape = (image_size, image_size)
    inputs = paper.input_layers(image_size, paper_exact)
    x = layers.Concatenate()([layers.Flatten()(layers.Rescaling(2.0, offset=-1.0)(i)) for i in inputs])
    x = dense_stack(x, hparams["repair_units"], hparams, "repair")
    x = layers.Dense(image_size * image_size * 3, activation="tanh", dtype="float32", name="repair_out")(x)
    image = layers.Rescaling(0.5, offset=0.5, dtype="float32")(layers.Reshape(shape + (3,))(x))
    return keras.Model(inputs, image, name="paper_repair_generator")


class Trainer(paper.Trainer):
    """Trains the adversarial pair on noise and, beside it, the repair generator on the damaged images."""

    def __init__(self, image_size: int, hparams: dict, paper_exact: bool = False, seed: int = 0):
        super().__init__("gan_paper_trainer", paper_exact, seed)
        self.hparams = hparams
        self.generator = build_generator(image_size, hparams)
        self.discriminator = build_discriminator(image_size, hparams)
        self.repair_generator = build_repair_generator(image_size, hparams, paper_exact)
        self.noise_seed = ReplicaSeedGenerator(seed)
        self.generator_optimizer = adam(self.generator.trainable_variables, hparams["generator_learning_rate"],
                                        beta_1=hparams["beta_1"])
        self.discriminator_optimizer = adam(self.discriminator.trainable_variables,
                                            hparams["discriminator_learning_rate"], beta_1=hparams["beta_1"])
        self.repair_optimizer = adam(self.repair_generator.trainable_variables, hparams["repair_learning_rate"],
                                     beta_1=hparams["beta_1"])

    def train_step(self, data):
        """One Adam step of each network on its own loss; returns {d_loss, g_loss, repair_loss}."""
        images, masks = data
        noise = keras.random.normal((tf.shape(images)[0], int(self.hparams["noise_dim"])), seed=self.noise_seed)
        bce = keras.losses.binary_crossentropy
        with tf.GradientTape(persistent=True) as tape:
            fake = self.generator(noise, training=True)
            real_probability = self.discriminator(images * 2.0 - 1.0, training=True)
            fake_probability = self.discriminator(fake, training=True)
            d_loss = 0.5 * (batch_mean(bce(tf.ones_like(real_probability), real_probability))
                            + batch_mean(bce(tf.zeros_like(fake_probability), fake_probability)))
            g_loss = batch_mean(bce(tf.ones_like(fake_probability), fake_probability))
            repair_inputs = paper.inputs(images, images * (1.0 - masks), masks, self.paper_exact)
            repaired = self.repair_generator(repair_inputs, training=True)
            repair_loss = batch_mean(tf.square(repaired - images))
            scaled = [optimizer.scale_loss(loss) for optimizer, loss in (
                (self.discriminator_optimizer, d_loss), (self.generator_optimizer, g_loss),
                (self.repair_optimizer, repair_loss))]
        for loss, network, optimizer in zip(
                scaled, (self.discriminator, self.generator, self.repair_generator),
                (self.discriminator_optimizer, self.generator_optimizer, self.repair_optimizer)):
            variables = network.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        del tape
        return {"d_loss": d_loss, "g_loss": g_loss, "repair_loss": repair_loss}

    def export(self) -> keras.Model:
        return self.repair_generator


class Inpainter(paper.Inpainter):
    """The repair generator's output; paper-exact models also read the undamaged image."""

    kind = "gan_paper"
