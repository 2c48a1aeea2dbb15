"""A model kind of your own, as small as a learned inpainter gets: a few convolutions trained on hole L1.

The worked example of README.md, "Add your own model": the workflow finds it by its module path
(`kind: my_model` with this folder on PYTHONPATH), and tests/test_examples.py trains it through the
training job and evaluates it, so it keeps working as the project changes.

Network: (damaged image, mask) -> a 3x3 convolution, `layers - 1` dilated 3x3 convolutions (so a
hole's centre sees past its edge) and a 3x3 convolution with a sigmoid to the RGB image. Loss: the
mean absolute error inside the hole only, since evaluation pastes the known pixels back; Adam.
It is not a good inpainter (it sees a few pixels around each hole pixel); it is a complete one.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from inpaintbench.models.base import Inpainter as BaseInpainter
from inpaintbench.models.layers import adam
from inpaintbench.models.replicas import masked_mean

DEFAULTS = {
    "channels": 32,           # width of every hidden convolution
    "layers": 3,              # hidden 3x3 convolutions; all but the first dilated
    "dilation": 2,            # dilation rate of the hidden convolutions after the first
    "learning_rate": 3.0e-3,  # Adam
}
# Neither adversarial nor a denoiser: in the tables as "other", never in the front page's GAN against diffusion
# verdict (a GAN of your own says "gan", a diffusion model "diffusion"; inpaintbench.families).
FAMILY = "other"


def build_network(image_size: int, hparams: dict) -> keras.Model:
    """[0, 1] (damaged, mask) -> the whole image in [0, 1]; only Keras layers, so model.keras loads in safe mode."""
    damaged = keras.Input((image_size, image_size, 3), name="damaged")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    x = layers.Concatenate()([damaged, mask])
    x = layers.Conv2D(int(hparams["channels"]), 3, padding="same", activation="relu")(x)
    for _ in range(int(hparams["layers"]) - 1):
        x = layers.Conv2D(int(hparams["channels"]), 3, padding="same", dilation_rate=int(hparams["dilation"]),
                          activation="relu")(x)
    image = layers.Conv2D(3, 3, padding="same", activation="sigmoid", dtype="float32", name="image")(x)
    return keras.Model([damaged, mask], image, name="my_model")


class Trainer(keras.Model):
    """What the training job builds, checkpoints and steps: the network and its optimizer."""

    MAIN_LOSS = "hole_l1"  # the loss the log, history.csv and the divergence check report

    def __init__(self, image_size: int, hparams: dict, paper_exact: bool = False, seed: int = 0):
        super().__init__(name="my_model_trainer")
        if paper_exact:
            raise ValueError("kind my_model has no paper-exact variant (paper_exact must be false)")
        keras.utils.set_random_seed(seed)
        self.network = build_network(image_size, hparams)
        self.repair_optimizer = adam(self.network.trainable_variables, hparams["learning_rate"])

    def train_step(self, data):
        # A batch of [0, 1] images and their masks (1 in the hole), from the run's training protocol.
        images, masks = data
        # What the network is given: the image with its hole blacked out, and the mask.
        damaged = images * (1.0 - masks)
        with tf.GradientTape() as tape:
            # The whole image as the network fills it (float32 even under mixed precision).
            output = tf.cast(self.network([damaged, masks], training=True), tf.float32)
            # L1 inside the hole only: this replica's share of the global batch's mean.
            hole_l1 = masked_mean(tf.abs(output - images), masks)
            # Loss scaling under mixed_float16 (the loss itself otherwise).
            scaled = self.repair_optimizer.scale_loss(hole_l1)
        # One Adam step on the network's weights (gradients summed over replicas).
        variables = self.network.trainable_variables
        self.repair_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        # Scalar losses by name: averaged per epoch into history.csv, MAIN_LOSS among them.
        return {"hole_l1": hole_l1}

    def export(self) -> keras.Model:
        """The network saved as model.keras: all that inference needs."""
        return self.network


class Inpainter(BaseInpainter):
    """The network's image; the base class checks options and pastes the known pixels back."""

    def __init__(self, network, image_size: int, hparams: dict, paper_exact: bool = False):
        self.network, self.image_size, self.hparams = network, image_size, hparams
        self.name = "my_model"

    def predict(self, damaged, masks, original=None, seed=None):
        return self.network([damaged, masks], training=False)
