"""A convolutional adversarial inpainter in the line of Context Encoders (Pathak et al. 2016) and
globally and locally consistent image completion (Iizuka et al. 2017).

Generator: a U-Net over (damaged image, mask) with dilated convolutions in its bottleneck, so
the hole's centre sees the surrounding context. As both papers fill the hole with a mean colour
before the network, the hole is first filled by a fixed interpolation (pull-push pyramid, or the
known pixels' mean colour) and the network predicts a residual on that fill. Its output is
composited (known pixels pasted back) before the discriminator sees it. Discriminator: a PatchGAN
(Isola et al. 2017) with spectral normalization (Miyato et al. 2018), given the mask too so it knows where to look.
Losses: L1 reconstruction weighted toward the hole, plus a hinge or non-saturating adversarial
loss; Adam with the usual GAN betas.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from . import check_image_size
from .base import Inpainter as BaseInpainter
from .layers import adam, prefill
from .replicas import batch_mean, masked_mean

DEFAULTS = {
    "prefill": "pyramid",           # fixed hole fill the generator refines: pyramid (pull-push) | mean
    "channels": 64,                 # width of the generator's first level, doubled per level (max 4x)
    "depth": 3,                     # stride-2 down-samplings in the generator
    "dilations": [2, 4, 8, 16],     # dilated 3x3 convolutions in the bottleneck
    "disc_channels": 64,
    "disc_layers": 4,               # stride-2 convolutions of the PatchGAN
    "hole_weight": 6.0,             # L1 weight of the hole pixels
    "valid_weight": 1.0,            # L1 weight of the known pixels
    "adversarial_loss": "hinge",    # hinge | nonsaturating
    "adversarial_weight": 0.01,
    "learning_rate": 2.0e-4,        # generator
    "disc_learning_rate": 2.0e-4,
    "beta_1": 0.5,
    "beta_2": 0.999,
}

# What each loss of train_step is (the training curves' labels).
LOSSES = {
    "l1": "reconstruction: L1 error, hole and known pixels weighted by hole_weight, valid_weight",
    "hole_l1": "mean absolute error in the hole",
    "adversarial": "generator's adversarial loss (hparams adversarial_loss)",
    "discriminator": "discriminator's loss on real images and composites",
}
READS_SEED = False  # inference runs the generator alone: no noise drawn, the seed is ignored
FAMILY = "gan"  # the family the front page compares it in (inpaintbench.families)


def build_generator(image_size: int, hparams) -> keras.Model:
    channels, depth = int(hparams["channels"]), int(hparams["depth"])
    check_image_size("gan", image_size, hparams)
    damaged = keras.Input((image_size, image_size, 3), name="damaged")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    prefilled = prefill(hparams["prefill"])([damaged, mask])
    x = layers.Concatenate()([prefilled, mask])
    x = layers.Conv2D(channels, 5, padding="same", activation="elu")(x)
    skips = [x]
    for level in range(1, depth + 1):
        width = channels * min(2 ** level, 4)
        x = layers.Conv2D(width, 3, strides=2, padding="same", activation="elu")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="elu")(x)
        skips.append(x)
    for rate in hparams["dilations"]:
        x = layers.Conv2D(x.shape[-1], 3, padding="same", dilation_rate=rate, activation="elu")(x)
    skips.pop()
    for level in range(depth - 1, -1, -1):
        width = channels * min(2 ** level, 4)
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = layers.Concatenate()([x, skips.pop()])
        x = layers.Conv2D(width, 3, padding="same", activation="elu")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="elu")(x)
    residual = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros")(x)
    image = layers.Add()([prefilled, residual])
    return keras.Model([damaged, mask], image, name="gan_generator")


def build_discriminator(image_size: int, hparams) -> keras.Model:
    image = keras.Input((image_size, image_size, 3), name="image")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    x = layers.Concatenate()([image, mask])
    for level in range(int(hparams["disc_layers"])):
        width = int(hparams["disc_channels"]) * min(2 ** level, 8)
        x = layers.SpectralNormalization(layers.Conv2D(width, 4, strides=2, padding="same"))(x)
        x = layers.LeakyReLU(0.2)(x)
    logits = layers.SpectralNormalization(layers.Conv2D(1, 3, padding="same"))(x)
    return keras.Model([image, mask], logits, name="gan_patch_discriminator")


def adversarial_losses(kind: str, real_logits, fake_logits):
    """(discriminator loss, generator loss) of the hinge or the non-saturating GAN objective."""
    if kind == "hinge":
        return (batch_mean(tf.nn.relu(1.0 - real_logits)) + batch_mean(tf.nn.relu(1.0 + fake_logits)),
                -batch_mean(fake_logits))
    if kind == "nonsaturating":
        return (batch_mean(tf.nn.softplus(-real_logits)) + batch_mean(tf.nn.softplus(fake_logits)),
                batch_mean(tf.nn.softplus(-fake_logits)))
    raise ValueError(f"hparams.adversarial_loss: {kind!r} is not hinge or nonsaturating")


class Trainer(keras.Model):
    """Trains the generator on the weighted L1 plus the adversarial loss, and the PatchGAN against it."""

    MAIN_LOSS = "l1"

    def __init__(self, image_size: int, hparams: dict, paper_exact: bool = False, seed: int = 0):
        super().__init__(name="gan_trainer")
        if paper_exact:
            raise ValueError("kind gan has no paper-exact variant (paper_exact must be false)")
        adversarial_losses(hparams["adversarial_loss"], 0.0, 0.0)  # fail early on a bad name
        keras.utils.set_random_seed(seed)
        self.hparams = hparams
        self.generator = build_generator(image_size, hparams)
        self.discriminator = build_discriminator(image_size, hparams)
        betas = {"beta_1": hparams["beta_1"], "beta_2": hparams["beta_2"]}
        self.generator_optimizer = adam(self.generator.trainable_variables, hparams["learning_rate"], **betas)
        self.discriminator_optimizer = adam(self.discriminator.trainable_variables,
                                            hparams["disc_learning_rate"], **betas)

    def train_step(self, data):
        """One Adam step of the generator and of the discriminator, from the same forward pass;
        returns {l1, hole_l1, adversarial, discriminator}."""
        images, masks = data
        damaged = images * (1.0 - masks)
        hparams = self.hparams
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            output = tf.cast(self.generator([damaged, masks], training=True), tf.float32)
            composite = output * masks + images * (1.0 - masks)
            real_logits = tf.cast(self.discriminator([images, masks], training=True), tf.float32)
            fake_logits = tf.cast(self.discriminator([composite, masks], training=True), tf.float32)
            error = tf.abs(output - images)
            hole_l1 = masked_mean(error, masks)
            valid_l1 = masked_mean(error, 1.0 - masks)
            l1 = hparams["hole_weight"] * hole_l1 + hparams["valid_weight"] * valid_l1
            discriminator_loss, adversarial = adversarial_losses(
                hparams["adversarial_loss"], real_logits, fake_logits)
            generator_loss = l1 + hparams["adversarial_weight"] * adversarial
            scaled_losses = (self.generator_optimizer.scale_loss(generator_loss),
                             self.discriminator_optimizer.scale_loss(discriminator_loss))
        for tape, loss, network, optimizer in (
                (generator_tape, scaled_losses[0], self.generator, self.generator_optimizer),
                (discriminator_tape, scaled_losses[1], self.discriminator, self.discriminator_optimizer)):
            variables = network.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {"l1": l1, "hole_l1": hole_l1, "adversarial": adversarial,
                "discriminator": discriminator_loss}

    def export(self) -> keras.Model:
        return self.generator


class Inpainter(BaseInpainter):
    """The generator's output; the base class pastes the known pixels back."""

    def __init__(self, network, image_size: int, hparams: dict, paper_exact: bool = False):
        self.network, self.image_size, self.hparams = network, image_size, hparams
        self.name = "gan"

    def predict(self, damaged, masks, original=None, seed=None):
        return tf.clip_by_value(tf.cast(self.network([damaged, masks], training=False), tf.float32), 0.0, 1.0)
