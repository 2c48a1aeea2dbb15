"""The diffusion inpainter: its forward process, its samplers, its training and its saved form."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import fit, save_model
from inpaintbench import models
from inpaintbench.models import diffusion

TINY = {"timesteps": 50, "channels": 8, "channel_mults": [1, 2], "res_blocks": 1, "dropout": 0.0,
        "learning_rate": 2e-3, "ema_decay": 0.9, "sampling_steps": 4}


def hparams(**overrides):
    return models.resolve_hparams("diffusion", {**TINY, **overrides})


@pytest.fixture(scope="module")
def trained(batch):
    """A tiny trainer fitted for a few steps, and its loss curve."""
    trainer = models.build_trainer("diffusion", 32, TINY, seed=0)
    return trainer, [losses["loss"] for losses in fit(trainer, batch, 80)]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("t", [0, 10, 49])
def test_forward_samples_have_the_schedules_mean_and_variance(schedule, t):
    process = diffusion.Diffusion(hparams(schedule=schedule))
    alpha_bar = diffusion.noise_schedule(hparams(schedule=schedule))[t]
    x0 = tf.constant(np.linspace(-1.0, 1.0, 4, dtype=np.float32).reshape(1, 2, 2, 1))
    n = 40000
    samples = process.forward(x0, tf.constant([t])).sample(n, seed=(7, t)).numpy().reshape(n, 4)
    mean, variance = np.sqrt(alpha_bar) * x0.numpy().ravel(), 1.0 - alpha_bar
    # 5 standard errors of a mean (sqrt(var/n)) and of a Gaussian sample variance (var*sqrt(2/(n-1))):
    # a correct process fails with probability < 1e-5 per pixel, a wrong t or sqrt does not pass.
    np.testing.assert_allclose(samples.mean(0), mean, atol=5 * np.sqrt(variance / n))
    np.testing.assert_allclose(samples.var(0, ddof=1), variance, atol=5 * variance * np.sqrt(2 / (n - 1)))


def test_schedules_follow_their_papers():
    linear = diffusion.noise_schedule(hparams(schedule="linear"))
    betas = np.linspace(1e-4, 0.02, 50)
    np.testing.assert_allclose(linear, np.cumprod(1 - betas))
    cosine = diffusion.noise_schedule(hparams(schedule="cosine"))
    f = np.cos((np.arange(51) / 50 + 0.008) / 1.008 * np.pi / 2) ** 2
    np.testing.assert_allclose(cosine[:-1], (f / f[0])[1:-1], rtol=1e-6)
    assert np.all(np.diff(linear) < 0) and np.all(np.diff(cosine) < 0)


def test_ddim_step_at_eta_zero_is_deterministic_and_noisy_above():
    process = diffusion.Diffusion(hparams())
    x0 = tf.random.stateless_uniform((2, 8, 8, 3), (1, 2), -1.0, 1.0)
    eps = tf.random.stateless_normal((2, 8, 8, 3), (3, 4))

    def step(eta, seed):
        return process.ddim_step(x0, eps, 30, 20, eta).sample(seed=seed).numpy()

    np.testing.assert_array_equal(step(0.0, (1, 1)), step(0.0, (2, 2)))
    assert np.abs(step(1.0, (1, 1)) - step(1.0, (2, 2))).mean() > 1e-3


def test_ddpm_step_matches_ddim_at_eta_one():
    """Ho et al.'s posterior q(x_{t-1} | x_t, x_0) and DDIM with eta = 1 are the same Gaussian."""
    process = diffusion.Diffusion(hparams())
    x = tf.random.stateless_normal((1, 4, 4, 3), (5, 6))
    x0, eps = process.x0_and_eps(x, tf.random.stateless_normal((1, 4, 4, 3), (7, 8)), 25)
    ddpm, ddim = process.ddpm_step(x, x0, 25), process.ddim_step(x0, eps, 25, 24, 1.0)
    np.testing.assert_allclose(ddpm.mean(), ddim.mean(), atol=1e-5)
    np.testing.assert_allclose(ddpm.stddev(), ddim.stddev(), rtol=1e-4)


def test_loss_goes_down_on_a_fixed_batch(trained):
    _, losses = trained
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sampling_keeps_known_pixels_and_is_seeded(trained, batch, sampler):
    trainer, _ = trained
    images, masks = batch
    damaged = images * (1 - masks)
    inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(), False)
    first = inpainter.predict(damaged, masks, seed=3, sampler=sampler).numpy()
    assert first.shape == images.shape and first.min() >= 0.0 and first.max() <= 1.0
    known = np.broadcast_to(masks == 0, images.shape)
    np.testing.assert_array_equal(first[known], damaged[known])
    np.testing.assert_array_equal(first, inpainter.predict(damaged, masks, seed=3, sampler=sampler).numpy())
    other = inpainter.predict(damaged, masks, seed=4, sampler=sampler).numpy()
    assert np.abs(other - first)[~known].mean() > 1e-4


def test_timesteps_of_each_sampler():
    inpainter = diffusion.Inpainter(diffusion.build_unet(32, hparams()), 32, hparams(), False)
    assert inpainter.timesteps("ddpm", None) == list(range(49, -1, -1))
    assert inpainter.timesteps("ddim", 4) == [49, 33, 16, 0]
    with pytest.raises(ValueError, match="sampler 'euler'"):
        inpainter.timesteps("euler", 4)
    with pytest.raises(ValueError, match="DDIM steps 80"):
        inpainter.timesteps("ddim", 80)


def test_export_round_trips_through_a_safe_mode_load(trained, batch, tmp_path):
    trainer, _ = trained
    images, masks = batch
    damaged = images * (1 - masks)
    save_model(trainer, tmp_path, "diffusion", hparams())
    reloaded = keras.saving.load_model(tmp_path / models.MODEL_FILE, safe_mode=True, compile=False)
    loaded = models.load(tmp_path)
    assert isinstance(loaded, diffusion.Inpainter)
    expected = diffusion.Inpainter(trainer.export(), 32, hparams(), False)(damaged, masks, seed=1)
    np.testing.assert_allclose(loaded(damaged, masks, seed=1), expected, atol=1e-5)
    args = [images, damaged, masks, np.full(4, 20.0, np.float32)]
    np.testing.assert_allclose(reloaded(args), trainer.export()(args), atol=1e-6)


def test_ema_network_lags_the_trained_one(trained):
    trainer, _ = trained
    differences = [np.abs(a - b).max() for a, b in zip(trainer.network.get_weights(),
                                                       trainer.ema_network.get_weights())]
    assert max(differences) > 0


def _samples_zero():
    inpainter = diffusion.Inpainter(diffusion.build_unet(32, hparams()), 32, hparams(), False)
    inpainter(np.zeros((1, 32, 32, 3), np.float32), np.ones((1, 32, 32, 1), np.float32), samples=0)


BAD_SETTINGS = {
    "schedule": (lambda: diffusion.noise_schedule(hparams(schedule="quadratic")), "schedule: 'quadratic'"),
    "image_size": (lambda: diffusion.build_unet(33, hparams()), "not divisible"),
    "paper_exact": (lambda: models.build_trainer("diffusion", 32, TINY, paper_exact=True), "paper_exact"),
    "samples": (_samples_zero, "diffusion: option samples=0 must be at least 1"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_bad_settings_are_named(case):
    build, message = BAD_SETTINGS[case]
    with pytest.raises(ValueError, match=message):
        build()


def test_x0_prediction_trains_and_samples(batch):
    """With prediction: x0 the untrained U-Net returns the prefill, and training lowers the loss."""
    images, masks = batch
    damaged = images * (1 - masks)
    trainer = models.build_trainer("diffusion", 32, {**TINY, "prediction": "x0"}, seed=0)
    results = fit(trainer, batch, 40)
    losses = [result["loss"] for result in results]
    assert set(results[0]) == set(models.loss_descriptions("diffusion"))  # the training curves say what each is
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(prediction="x0"), False)
    filled = inpainter.predict(damaged, masks, seed=0).numpy()
    known = np.broadcast_to(masks == 0, images.shape)
    np.testing.assert_array_equal(filled[known], damaged[known])
    assert 0.0 <= filled.min() and filled.max() <= 1.0


@pytest.mark.parametrize("t", [0, 25, 49])
def test_prior_std_noise_estimate_is_the_least_squares_one_around_the_prefill(t):
    """With a zero network output, the x_0 that prior_std's eps estimate implies is the posterior mean
    of x_0 ~ N(prefill, prior_std^2) given x_t; a unit output moves it by at most prior_std."""
    std = 0.3
    process = diffusion.Diffusion(hparams(prior_std=std, clip_x0=False))
    alpha_bar = diffusion.noise_schedule(hparams())[t]
    prefilled = tf.random.stateless_uniform((2, 4, 4, 3), (5, 6), -1.0, 1.0)
    x = tf.random.stateless_normal((2, 4, 4, 3), (7, 8))
    zero = tf.zeros_like(x)
    x0, _ = process.x0_and_eps(x, process.noise_estimate(zero, x, prefilled, t), t)
    gain = np.sqrt(alpha_bar) * std**2 / (alpha_bar * std**2 + 1 - alpha_bar)
    expected = prefilled + gain * (x - np.sqrt(alpha_bar) * prefilled)
    np.testing.assert_allclose(x0, expected, atol=1e-4)
    moved, _ = process.x0_and_eps(x, process.noise_estimate(tf.ones_like(x), x, prefilled, t), t)
    assert np.all(np.abs(moved - x0) <= std + 1e-5)
    plain = diffusion.Diffusion(hparams())
    np.testing.assert_array_equal(plain.noise_estimate(x, x, prefilled, t), x)


def test_prior_std_model_trains_and_keeps_known_pixels(batch):
    images, masks = batch
    damaged = images * (1 - masks)
    trainer = models.build_trainer("diffusion", 32, {**TINY, "prior_std": 0.25}, seed=0)
    losses = [losses["loss"] for losses in fit(trainer, batch, 40)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(prior_std=0.25), False)
    filled = inpainter.predict(damaged, masks, seed=0).numpy()
    known = np.broadcast_to(masks == 0, images.shape)
    np.testing.assert_array_equal(filled[known], damaged[known])
    assert 0.0 <= filled.min() and filled.max() <= 1.0


def test_averaging_samples_shrinks_the_spread_between_seeds(trained, batch):
    """samples: 4 averages four independently seeded samples, so outputs of different seeds spread
    about half as much (1/sqrt(4)) as single samples do; samples: 1 is the first of them."""
    trainer, _ = trained
    images, masks = batch
    damaged = images * (1 - masks)
    inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(samples=4), False)
    hole = np.broadcast_to(masks == 1, images.shape)

    def spread(samples):
        outputs = np.stack([inpainter.predict(damaged, masks, seed=s, samples=samples).numpy() for s in range(6)])
        return outputs.std(0)[hole].mean()

    assert 0.3 < spread(None) / spread(1) < 0.7


def test_the_one_sample_beside_the_mean_is_the_first_drawn_and_not_drawn_again(trained, batch, monkeypatch):
    """with_one_sample (what evaluation scores FID/KID/IDS on) returns the mean of `samples` and the
    first of them, equal to samples=1's output, from the samples' steps alone: no sample is drawn twice."""
    trainer, _ = trained
    images, masks = batch
    damaged = images * (1 - masks)
    inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(samples=3), False)
    steps = len(inpainter.timesteps("ddim", TINY["sampling_steps"]))
    calls = []
    step = inpainter._step
    monkeypatch.setattr(inpainter, "_step", lambda *args: calls.append(1) or step(*args))
    mean, one = inpainter.with_one_sample(damaged, masks, seed=5)
    assert len(calls) == 3 * steps
    np.testing.assert_allclose(mean, inpainter(damaged, masks, seed=5), atol=1e-6)
    np.testing.assert_allclose(one, inpainter(damaged, masks, seed=5, samples=1), atol=1e-6)
    hole = np.broadcast_to(masks == 1, images.shape)
    assert np.abs(one - mean)[hole].mean() > 0.01 and np.array_equal(one[~hole], damaged[~hole])
    single, same = diffusion.Inpainter(trainer.export(), 32, hparams(samples=1), False).with_one_sample(
        damaged, masks, seed=5)
    assert single is same


@pytest.mark.parametrize("prior_std", [0.0, 0.25])
def test_mixed_precision_trains_and_samples(batch, prior_std):
    """The GPU setting (mixed_float16) runs on the CPU too: finite loss, a valid inpainting."""
    images, masks = batch
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        trainer = models.build_trainer("diffusion", 32, {**TINY, "prior_std": prior_std}, seed=0)
        loss = float(tf.function(trainer.train_step)((tf.constant(images), tf.constant(masks)))["loss"])
        inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(prior_std=prior_std), False)
        filled = inpainter(images * (1 - masks), masks, seed=0)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert np.isfinite(loss)
    assert filled.shape == images.shape and np.isfinite(filled).all()


def test_a_strided_stem_trains_and_samples_at_full_resolution(batch):
    """patch 2 (the demo uses 4): the U-Net works at half resolution and its output is upsampled
    bilinearly to the image's, so the per-pixel noise must come from prior_std's preconditioning."""
    images, masks = batch
    with pytest.raises(ValueError, match="patch=2 needs prior_std"):
        diffusion.build_unet(32, hparams(patch=2))
    settings = {**TINY, "patch": 2, "prediction": "x0"}  # a target without per-pixel noise: a clear loss curve
    trainer = models.build_trainer("diffusion", 32, settings, seed=0)
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in trainer.network.layers)
    losses = [losses["loss"] for losses in fit(trainer, batch, 60)]
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    inpainter = diffusion.Inpainter(trainer.export(), 32, hparams(patch=2, prediction="x0"), False)
    filled = inpainter(images * (1 - masks), masks, seed=0)
    assert filled.shape == images.shape and np.isfinite(filled).all()
    np.testing.assert_allclose(filled * (1 - masks), images * (1 - masks), atol=1e-6)
