"""A denoising diffusion inpainter: DDPM (Ho et al. 2020) conditioned Palette-style (Saharia et al. 2022).

The U-Net sees concat(x_t, damaged image with its hole prefilled, mask) and the timestep and
predicts the noise eps (or, with prediction: x0, the clean image as a residual on the prefill);
training minimises the MSE to that target inside the hole (the known pixels are replaced at
every sampling step, so the network is only ever used there). An exponential moving average of
the weights is what is exported and samples. The forward process q(x_t | x_0) and the reverse
steps are tfp.distributions Gaussians. Sampling: ancestral DDPM over all T steps, or DDIM
(Song et al. 2021) over k steps, with the known region replaced at every step by the input
noised to the current t (RePaint, Lugmayr et al. 2022) and exactly by the input at the end.
With prior_std > 0 the eps estimate is preconditioned around the prefill (Karras et al. 2022),
so that a small CPU budget trains a useful model; with samples > 1 evaluation averages several
samples into a posterior-mean estimate. Images live in [-1, 1] inside the model.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from . import check_image_size
from .base import Inpainter as BaseInpainter
from .base import Option
from .layers import ResidualBlock, SinusoidalEmbedding, adam, prefill, prefill_options
from .replicas import masked_mean

tfd = tfp.distributions

DEFAULTS = {
    "prediction": "eps",            # what the U-Net outputs: eps (Ho et al.) | x0 (a residual on the prefill)
    "prefill": "pyramid",           # fixed hole fill the network is conditioned on: pyramid (pull-push) | mean
    "prior_std": 0.0,               # eps only: > 0 adds the noise the prefill implies, Wiener-shrunk
                                    # (see noise_estimate)
    "timesteps": 1000,              # T
    "schedule": "linear",           # linear (Ho et al.) | cosine (Nichol & Dhariwal 2021)
    "beta_start": 1.0e-4,           # linear schedule only
    "beta_end": 0.02,
    "channels": 64,                 # width of the first U-Net level
    "channel_mults": [1, 2, 4, 4],  # width multiplier per resolution level
    "res_blocks": 2,                # residual blocks per level
    "patch": 1,                     # stride of the stem; 2 halves every resolution (cheap CPU demo)
    "dropout": 0.1,
    "learning_rate": 2.0e-4,
    "ema_decay": 0.9999,
    "clip_x0": True,                # clip the predicted x_0 to [-1, 1] while sampling
    "sampler": "ddim",              # ddpm (all T steps) | ddim
    "sampling_steps": 50,           # DDIM steps
    "eta": 0.0,                     # DDIM noise: 0 deterministic, 1 DDPM-like
    "samples": 1,                   # samples averaged per image: > 1 estimates the posterior mean
}

# What each loss of train_step is (the training curves' labels).
LOSSES = {"loss": "denoising: mean squared error of the noise (or x0) predicted in the hole"}
READS_SEED = True  # every sample starts from noise seeded by (seed, sample index)
FAMILY = "diffusion"  # the family the front page compares it in (inpaintbench.families)


def noise_schedule(hparams) -> np.ndarray:
    """alpha_bar_t for t = 0..T-1 (float64): linear betas, or the cosine schedule of Nichol & Dhariwal."""
    steps = int(hparams["timesteps"])
    if hparams["schedule"] == "linear":
        betas = np.linspace(hparams["beta_start"], hparams["beta_end"], steps, dtype=np.float64)
        return np.cumprod(1.0 - betas)
    if hparams["schedule"] == "cosine":
        s = 0.008
        f = np.cos((np.arange(steps + 1) / steps + s) / (1 + s) * np.pi / 2) ** 2
        betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
        return np.cumprod(1.0 - betas)
    raise ValueError(f"hparams.schedule: {hparams['schedule']!r} is not linear or cosine")


class Diffusion:
    """The forward process and the reverse-step Gaussians of one noise schedule."""

    def __init__(self, hparams, **fill_options):
        self.steps = int(hparams["timesteps"])
        alpha_bar = noise_schedule(hparams)
        # index t + 1; alpha_bar[0] = 1 stands for "no noise" (the step after t = 0)
        self.alpha_bar = tf.constant(np.concatenate([[1.0], alpha_bar]), tf.float32)
        self.clip_x0 = bool(hparams["clip_x0"])
        if hparams["prediction"] not in ("eps", "x0"):
            raise ValueError(f"hparams.prediction: {hparams['prediction']!r} is not eps or x0")
        self.prediction = hparams["prediction"]
        self.prior_var = float(hparams["prior_std"]) ** 2
        preconditioned = self.prediction == "eps" and self.prior_var > 0
        # float32 also under mixed precision; None when nothing needs the fill outside the U-Net
        self.prefill = prefill(hparams["prefill"], dtype="float32", **fill_options) if preconditioned else None

    def prefilled(self, damaged, masks):
        """The fixed hole fill in [-1, 1] that noise_estimate works around, or None if it does not."""
        return None if self.prefill is None else 2.0 * self.prefill([damaged, masks]) - 1.0

    def noise_estimate(self, output, x, prefilled, t):
        """The eps estimate from the network's output. With prior_std = 0 the output is the estimate
        (Ho et al.). With prior_std > 0 it is preconditioned as in Karras et al. (2022): the estimate
        is the least-squares noise estimate for x_0 = prefill + Gaussian(prior_std), plus the output
        scaled so that its error moves x_0 by at most prior_std times as much. The network learns
        what the prefill gets wrong, per-pixel noise reaches the estimate without passing through
        its (maybe strided) stem, and near t = T, where alpha_bar -> 0, no error is blown up."""
        if self.prefill is None:
            return output
        alpha_bar = tf.reshape(self._alpha_bar(t), (-1, 1, 1, 1))
        implied = (x - tf.sqrt(alpha_bar) * prefilled) / tf.sqrt(1.0 - alpha_bar)
        total = 1.0 - alpha_bar + alpha_bar * self.prior_var
        return (1.0 - alpha_bar) / total * implied + tf.sqrt(alpha_bar * self.prior_var / total) * output

    def _alpha_bar(self, t):
        return tf.gather(self.alpha_bar, tf.cast(t, tf.int32) + 1)

    def forward(self, x0, t):
        """q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I), t of shape (B,) or ()."""
        alpha_bar = tf.reshape(self._alpha_bar(t), (-1, 1, 1, 1))
        return tfd.Normal(loc=tf.sqrt(alpha_bar) * x0, scale=tf.sqrt(1.0 - alpha_bar))

    def x0_and_eps(self, x, output, t):
        """The network output read as (x_0, eps), x_0 clipped to the image range if clip_x0."""
        alpha_bar = self._alpha_bar(t)
        x0 = output if self.prediction == "x0" else (x - tf.sqrt(1.0 - alpha_bar) * output) / tf.sqrt(alpha_bar)
        if self.clip_x0:
            x0 = tf.clip_by_value(x0, -1.0, 1.0)
        return x0, (x - tf.sqrt(alpha_bar) * x0) / tf.sqrt(1.0 - alpha_bar)

    def ddpm_step(self, x, x0, t):
        """q(x_{t-1} | x_t, x_0): the ancestral step of Ho et al. (2020), eqs. 6-7."""
        alpha_bar, alpha_bar_prev = self._alpha_bar(t), self._alpha_bar(t - 1)
        alpha = alpha_bar / alpha_bar_prev
        beta = 1.0 - alpha
        mean = (tf.sqrt(alpha_bar_prev) * beta * x0 + tf.sqrt(alpha) * (1.0 - alpha_bar_prev) * x) \
            / (1.0 - alpha_bar)
        return tfd.Normal(loc=mean, scale=tf.sqrt(beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)))

    def ddim_step(self, x0, eps, t, t_next, eta):
        """p(x_{t_next} | x_t) of DDIM (Song et al. 2021, eq. 12); eta = 0 gives a point mass."""
        alpha_bar, alpha_bar_next = self._alpha_bar(t), self._alpha_bar(t_next)
        sigma = eta * tf.sqrt((1.0 - alpha_bar_next) / (1.0 - alpha_bar) * (1.0 - alpha_bar / alpha_bar_next))
        mean = tf.sqrt(alpha_bar_next) * x0 + tf.sqrt(tf.maximum(1.0 - alpha_bar_next - sigma**2, 0.0)) * eps
        return tfd.Normal(loc=mean, scale=sigma * tf.ones_like(mean))


def build_unet(image_size: int, hparams) -> keras.Model:
    """eps_theta(x_t, damaged, mask, t): a U-Net with the timestep embedding added in every residual block."""
    channels, patch = int(hparams["channels"]), int(hparams["patch"])
    check_image_size("diffusion", image_size, hparams)
    if patch > 1 and hparams["prediction"] == "eps" and not hparams["prior_std"]:
        raise ValueError(f"hparams patch={patch} needs prior_std > 0 (or prediction: x0): a U-Net whose "
                         "output is upsampled from 1/patch resolution cannot predict per-pixel noise alone")
    noisy = keras.Input((image_size, image_size, 3), name="noisy")
    damaged = keras.Input((image_size, image_size, 3), name="damaged")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    timestep = keras.Input((), name="timestep")

    embedding = SinusoidalEmbedding(channels)(timestep)
    embedding = layers.Dense(4 * channels, activation="silu")(embedding)
    embedding = layers.Dense(4 * channels)(embedding)

    prefilled = layers.Rescaling(2.0, offset=-1.0)(prefill(hparams["prefill"])([damaged, mask]))
    x = layers.Concatenate()([noisy, prefilled, mask])
    x = layers.Conv2D(channels, 3 if patch == 1 else patch, strides=patch, padding="same")(x)
    skips = [x]
    mults = hparams["channel_mults"]
    for level, mult in enumerate(mults):
        for _ in range(hparams["res_blocks"]):
            x = ResidualBlock(channels * mult, dropout=hparams["dropout"])([x, embedding])
            skips.append(x)
        if level < len(mults) - 1:
            x = layers.Conv2D(channels * mult, 3, strides=2, padding="same")(x)
            skips.append(x)
    x = ResidualBlock(channels * mults[-1], dropout=hparams["dropout"])([x, embedding])
    x = ResidualBlock(channels * mults[-1], dropout=hparams["dropout"])([x, embedding])
    for level, mult in reversed(list(enumerate(mults))):
        for _ in range(hparams["res_blocks"] + 1):
            x = layers.Concatenate()([x, skips.pop()])
            x = ResidualBlock(channels * mult, dropout=hparams["dropout"])([x, embedding])
        if level > 0:
            x = layers.UpSampling2D(2)(x)
            x = layers.Conv2D(channels * mult, 3, padding="same")(x)
    x = layers.Activation("silu")(layers.GroupNormalization(min(8, channels))(x))
    output = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros")(x)
    if patch > 1:
        # Back to full resolution by bilinear interpolation. A transposed convolution of kernel =
        # stride = patch paints each patch x patch cell from one feature vector: as training grows
        # its zero-initialised kernel, the cells' borders show as blocks. The per-pixel detail of a
        # sample comes from the noise estimate's preconditioning (prior_std), not from this head.
        output = layers.UpSampling2D(patch, interpolation="bilinear")(output)
    if hparams["prediction"] == "x0":
        output = layers.Add()([prefilled, output])
    return keras.Model([noisy, damaged, mask, timestep], output, name="diffusion_unet")


class Trainer(keras.Model):
    """Trains the U-Net to denoise the hole (Ho et al. 2020, Algorithm 1) and keeps the moving average
    of its weights that is exported and samples."""

    MAIN_LOSS = "loss"

    def __init__(self, image_size: int, hparams: dict, paper_exact: bool = False, seed: int = 0):
        super().__init__(name="diffusion_trainer")
        if paper_exact:
            raise ValueError("kind diffusion has no paper-exact variant (paper_exact must be false)")
        keras.utils.set_random_seed(seed)
        self.hparams, self.diffusion = hparams, Diffusion(hparams)
        self.network = build_unet(image_size, hparams)
        self.ema_network = build_unet(image_size, hparams)
        self.ema_network.set_weights(self.network.get_weights())
        self.ema_network.trainable = False
        self.optimizer = adam(self.network.trainable_variables, hparams["learning_rate"])
        self.rng = tf.random.Generator.from_seed(seed)  # draws the timesteps and the forward noise's seeds
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="ema_updates")

    def train_step(self, data):
        """One gradient step on the masked MSE of the network's noise (or x_0) estimate; returns {"loss"}."""
        images, masks = data
        x0 = 2.0 * images - 1.0  # the model works in [-1, 1]
        batch = tf.shape(x0)[0]
        # 1. A timestep per image, uniform in 0..T-1, and x_t drawn from q(x_t | x_0).
        t = self.rng.uniform((batch,), 0, self.diffusion.steps, dtype=tf.int32)
        forward = self.diffusion.forward(x0, t)
        x_t = forward.sample(seed=tf.cast(self.rng.make_seeds(1)[:, 0], tf.int32))
        # 2. The target: the noise that made x_t (eps), or the clean image (prediction: x0).
        target = x0 if self.diffusion.prediction == "x0" else (x_t - forward.mean()) / forward.stddev()
        # 3. The condition: the damaged image (the hole at 0) and, with prior_std > 0, its prefill.
        damaged = images * (1.0 - masks)
        prefilled = self.diffusion.prefilled(damaged, masks)
        # 4. The network's estimate and its squared error, averaged over the hole's pixels only
        #    (sampling replaces the known ones, so the network is only ever used in the hole).
        with tf.GradientTape() as tape:
            output = tf.cast(self.network([x_t, damaged, masks, t], training=True), tf.float32)
            predicted = self.diffusion.noise_estimate(output, x_t, prefilled, t)
            loss = masked_mean(tf.square(predicted - target), masks)
            scaled_loss = self.optimizer.scale_loss(loss)
        # 5. The gradient step, then the moving average that samples.
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
        self._update_ema()
        return {"loss": loss}

    def _update_ema(self):
        """EMA with the warm-up of tf.train.ExponentialMovingAverage: decay min(d, (1+n)/(10+n))."""
        self.updates.assign_add(1)
        n = tf.cast(self.updates, tf.float32)
        decay = tf.minimum(float(self.hparams["ema_decay"]), (1.0 + n) / (10.0 + n))
        for average, weight in zip(self.ema_network.weights, self.network.weights):
            average.assign(decay * average + (1.0 - decay) * weight)

    def export(self) -> keras.Model:
        return self.ema_network


class Condition(NamedTuple):
    """What every reverse step of one predict call reads besides x_t."""

    damaged: tf.Tensor
    masks: tf.Tensor
    prefilled: tf.Tensor | None  # Diffusion.prefilled(damaged, masks)
    eta: tf.Tensor | None  # DDIM's noise; None: the DDPM sampler


class Inpainter(BaseInpainter):
    """Samples the hole with the EMA network; options sampler ("ddpm" | "ddim"), steps and eta (DDIM), samples."""

    def __init__(self, network, image_size: int, hparams: dict, paper_exact: bool = False):
        self.network, self.image_size, self.hparams = network, image_size, hparams
        self.name = "diffusion"
        self.diffusion = Diffusion(hparams, **prefill_options(network))
        self._step = tf.function(self._reverse_step, reduce_retracing=True)

    def timesteps(self, sampler: str, steps: int | None) -> list[int]:
        """The visited t, descending: all T for DDPM, `steps` evenly spaced ones for DDIM."""
        total = self.diffusion.steps
        if sampler == "ddpm":
            return list(range(total - 1, -1, -1))
        if sampler != "ddim":
            raise ValueError(f"diffusion sampler {sampler!r} is not ddpm or ddim")
        if not 1 <= steps <= total:
            raise ValueError(f"diffusion: DDIM steps {steps} must be within 1..{total}")
        return sorted({int(t) for t in np.round(np.linspace(0, total - 1, steps))}, reverse=True)

    def _reverse_step(self, x, t, t_next, condition: Condition, seed):
        """x_t -> x_{t_next}; t_next None: the last step, to x_0 (whose known pixels predict pastes in)."""
        # 1. Denoise: the network's noise estimate, and the clean image x_0 it implies.
        output = self.network([x, condition.damaged, condition.masks, tf.fill((tf.shape(x)[0],), t)], training=False)
        eps = self.diffusion.noise_estimate(tf.cast(output, tf.float32), x, condition.prefilled, t)
        x0, eps = self.diffusion.x0_and_eps(x, eps, t)
        step_seed, known_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        # 2. Step to t_next: DDPM's ancestral step, or DDIM's (t_next = -1 is x_0).
        if condition.eta is None:
            x = self.diffusion.ddpm_step(x, x0, t).sample(seed=step_seed)
        else:
            x = self.diffusion.ddim_step(x0, eps, t, -1 if t_next is None else t_next, condition.eta).sample(
                seed=step_seed)
        if t_next is None:
            return x
        # 3. RePaint: the known region becomes the input noised to t_next.
        known_noisy = self.diffusion.forward(2.0 * condition.damaged - 1.0, t_next).sample(seed=known_seed)
        return condition.masks * x + (1.0 - condition.masks) * known_noisy

    def _sample(self, condition: Condition, ts: list[int], seed):
        """One sample in [-1, 1]: pure noise at T, then a reverse step per visited t (seeded by `seed`)."""
        seeds = tf.random.experimental.stateless_split(seed, len(ts) + 1)
        x = tf.random.stateless_normal(tf.shape(condition.damaged), seed=seeds[0])
        for i, t in enumerate(ts):
            t_next = tf.constant(ts[i + 1]) if i + 1 < len(ts) else None
            x = self._step(x, tf.constant(t), t_next, condition, seeds[i + 1])
        return x

    def options(self):
        return {"sampler": Option(str, choices=("ddim", "ddpm")), "steps": Option(int, 1, self.diffusion.steps),
                "eta": Option(float, 0.0, 1.0), "samples": Option(int, 1)}

    def predict(self, damaged, masks, original=None, seed=None, **options):
        """The mean of `samples` samples, each seeded by (seed, its index). One sample is a sharp,
        plausible fill; their mean is the posterior-mean estimate that PSNR and SSIM reward."""
        return self.predict_with_one_sample(damaged, masks, original=original, seed=seed, **options)[0]

    def predict_with_one_sample(self, damaged, masks, original=None, seed=None, *, sampler=None, steps=None,
                                eta=None, samples=None):
        """(the mean of the samples, the first sample): the first is one the mean already drew, so the
        distribution metrics score a single sample at no extra cost (the same one `samples=1` draws).
        Both with the known pixels pasted in exactly."""
        sampler = sampler or self.hparams["sampler"]
        if sampler == "ddpm" and (eta is not None or steps not in (None, self.diffusion.steps)):
            raise ValueError(f"{self.name}: options steps and eta are the DDIM sampler's; "
                             f"DDPM takes all T={self.diffusion.steps} steps")
        steps = int(self.hparams["sampling_steps"] if steps is None else steps)
        eta = float(self.hparams["eta"] if eta is None else eta)
        samples = int(self.hparams["samples"] if samples is None else samples)
        damaged = tf.convert_to_tensor(damaged, tf.float32)
        masks = tf.convert_to_tensor(masks, tf.float32)
        condition = Condition(damaged, masks, self.diffusion.prefilled(damaged, masks),
                              None if sampler == "ddpm" else tf.constant(eta))
        ts = self.timesteps(sampler, steps)
        total, first = tf.zeros_like(damaged), None
        for index in range(samples):
            x = self._sample(condition, ts, tf.constant([seed or 0, index], tf.int32))
            total += x
            first = x if first is None else first
        mean = masks * (total / samples + 1.0) / 2.0 + (1.0 - masks) * damaged
        return mean, mean if samples == 1 else masks * (first + 1.0) / 2.0 + (1.0 - masks) * damaged
