"""The convolutional adversarial inpainter: training, composition, discriminator and saved form."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from skimage.transform import downscale_local_mean

from conftest import fit, save_model
from inpaintbench import metrics, models
from inpaintbench.config import ConfigError, validate_config
from inpaintbench.models import gan, layers

TINY = {"channels": 8, "depth": 2, "dilations": [2], "disc_channels": 8, "disc_layers": 2,
        "learning_rate": 2e-3, "disc_learning_rate": 2e-3}


@pytest.fixture(scope="module", params=["hinge", "nonsaturating"])
def trained(request, batch):
    trainer = models.build_trainer("gan", 32, {**TINY, "adversarial_loss": request.param}, seed=0)
    return trainer, fit(trainer, batch, 40)


def test_reconstruction_loss_goes_down_on_a_fixed_batch(trained):
    _, history = trained
    l1 = [losses[gan.Trainer.MAIN_LOSS] for losses in history]
    assert np.mean(l1[-5:]) < 0.7 * np.mean(l1[:5])
    assert all(np.isfinite(losses["discriminator"]) for losses in history)
    assert set(history[0]) == set(models.loss_descriptions("gan"))  # the training curves say what each is


def test_inpainting_has_the_right_shape_and_range(trained, batch):
    trainer, _ = trained
    images, masks = batch
    damaged = images * (1 - masks)
    inpainter = gan.Inpainter(trainer.export(), 32, models.resolve_hparams("gan", TINY))
    raw = inpainter.predict(damaged, masks).numpy()
    assert raw.shape == images.shape and raw.min() >= 0.0 and raw.max() <= 1.0
    filled = inpainter(damaged, masks)
    known = np.broadcast_to(masks == 0, images.shape)
    np.testing.assert_array_equal(filled[known], damaged[known])
    hole_error = np.abs(filled - images)[~known].mean()
    assert hole_error < np.abs(damaged - images)[~known].mean()  # better than leaving the hole black


def test_discriminator_is_a_spectrally_normalised_patchgan():
    discriminator = gan.build_discriminator(32, models.resolve_hparams("gan", TINY))
    convolutions = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(convolutions) == TINY["disc_layers"] + 1
    assert discriminator.output.shape == (None, 32 // 2 ** TINY["disc_layers"], 32 // 2 ** TINY["disc_layers"], 1)


def test_the_discriminator_only_sees_the_composite(batch):
    """Changing the generator's output on known pixels cannot change the fake logits."""
    images, masks = batch
    trainer = models.build_trainer("gan", 32, TINY, seed=0)
    output = trainer.generator([images * (1 - masks), masks])
    composite = output * masks + images * (1 - masks)
    other = (1.0 - output) * masks + images * (1 - masks)
    known = np.broadcast_to(masks == 0, images.shape)
    np.testing.assert_array_equal(np.asarray(composite)[known], np.asarray(other)[known])
    losses = fit(trainer, batch, 1)[0]
    assert set(losses) == {"l1", "hole_l1", "adversarial", "discriminator"}


def test_export_round_trips_through_a_safe_mode_load(trained, batch, tmp_path):
    trainer, _ = trained
    images, masks = batch
    damaged = images * (1 - masks)
    save_model(trainer, tmp_path, "gan", models.resolve_hparams("gan", TINY))
    reloaded = keras.saving.load_model(tmp_path / models.MODEL_FILE, safe_mode=True, compile=False)
    np.testing.assert_allclose(reloaded([damaged, masks]), trainer.export()([damaged, masks]), atol=1e-6)
    loaded = models.load(tmp_path)
    assert isinstance(loaded, gan.Inpainter)
    np.testing.assert_allclose(loaded(damaged, masks),
                               gan.Inpainter(trainer.export(), 32, TINY)(damaged, masks), atol=1e-6)


BAD_SETTINGS = {
    "adversarial_loss": (lambda: models.build_trainer("gan", 32, {**TINY, "adversarial_loss": "wasserstein"}),
                         "adversarial_loss: 'wasserstein'"),
    "unknown_key": (lambda: models.build_trainer("gan", 32, {**TINY, "width": 3}), "unknown key"),
    "paper_exact": (lambda: models.build_trainer("gan", 32, TINY, paper_exact=True), "paper_exact"),
    "image_size": (lambda: gan.build_generator(34, models.resolve_hparams("gan", TINY)), "not divisible"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_bad_settings_are_named(case):
    build, message = BAD_SETTINGS[case]
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.bad_input
@pytest.mark.parametrize("kind,key,value", [("gan", "widht", 8), ("gan", "adversarial_loss", "wgan"),
                                            ("diffusion", "schedule", "quadratic"), ("diffusion", "eta", 2.0)])
def test_schema_rejects_bad_hparams(kind, key, value):
    config = {"data": {}, "masks": {}, "models": {kind: {"kind": kind, "hparams": {key: value}}}}
    with pytest.raises(ConfigError, match=f"models.{kind}.hparams|{key}"):
        validate_config(config)


def test_shipped_configs_hold_valid_strong_models():
    from conftest import ROOT, TINY_CONFIG
    from inpaintbench.config import load_config

    for path in (ROOT / "config" / "config.yaml", ROOT / "config" / "demo.yaml", TINY_CONFIG):
        config = load_config(path)
        for kind in ("gan", "diffusion"):
            entry = config["models"][kind]
            assert entry["kind"] == kind, path
            assert models.resolve_hparams(kind, entry["hparams"])


# The hole prefills both strong models start from (models/layers.py).

def hole(size=32, top=8, left=12, side=12):
    mask = np.zeros((1, size, size, 1), np.float32)
    mask[:, top:top + side, left:left + side] = 1.0
    return mask


@pytest.mark.parametrize("kind,size", [("mean", 32), ("pyramid", 32), ("pyramid", 40)])
def test_prefill_keeps_known_pixels_and_fills_a_flat_image_exactly(kind, size):
    mask = hole(size)
    image = np.full((1, size, size, 3), [0.2, 0.5, 0.9], np.float32)
    filled = np.asarray(layers.prefill(kind)([image * (1 - mask), mask]))
    np.testing.assert_allclose(filled, image, atol=1e-5)


def astronaut_tiles():
    """Eight 128 px tiles of scikit-image's astronaut (a PNG, no JPEG grid): the quarters of the
    photo halved by 2x2 means, and four crops at full resolution."""
    photo = skimage.data.astronaut().astype(np.float32) / 255
    halved = downscale_local_mean(photo, (2, 2, 1))
    return np.stack([halved[y:y + 128, x:x + 128] for y in (0, 128) for x in (0, 128)]
                    + [photo[y:y + 128, x:x + 128] for y, x in ((0, 0), (0, 300), (250, 100), (384, 384))])


def test_pyramid_fill_leaves_no_grid_in_a_photo():
    """Issue 17: the original pull-push fill's cells sit on one grid, whose borders show (blockiness
    above the truth's by more than 10% at strides 4 and 8); averaged over grid offsets they do not."""
    photos = astronaut_tiles()
    rng = np.random.default_rng(0)
    masks = np.zeros((len(photos), 128, 128, 1), np.float32)
    for mask in masks:
        for _ in range(6):
            (height, width), (top, left) = rng.integers(24, 40, 2), rng.integers(0, 88, 2)
            mask[top:top + height, left:left + width] = 1.0
    damaged = photos * (1 - masks)
    original, shifted = layers.PyramidFill(shifts=1), layers.PyramidFill()

    def ratios(layer):
        filled = np.asarray(layer([damaged, masks]))
        return filled, {stride: np.nanmean(metrics.blockiness(filled, masks, stride))
                        / np.nanmean(metrics.blockiness(photos, masks, stride)) for stride in (2, 4, 8)}

    filled, new = ratios(shifted)
    _, old = ratios(original)
    assert all(abs(ratio - 1) <= 0.1 for ratio in new.values()), new
    assert old[4] > 1.1 and old[8] > 1.1, old
    known = np.broadcast_to(masks == 0, filled.shape)
    np.testing.assert_array_equal(filled[known], damaged[known])


def test_pyramid_fill_saved_without_shifts_is_the_original_fill():
    """A model.keras saved before `shifts` existed has no such key: it loads as the original fill,
    whose output on this image is pinned here, and a fill built beside it matches it."""
    default = layers.PyramidFill()
    assert default.get_config()["shifts"] == layers.SHIFTS
    config = {key: value for key, value in default.get_config().items() if key != "shifts"}
    saved = layers.PyramidFill.from_config(config)
    assert saved.shifts == 1
    image = (np.arange(64, dtype=np.float32).reshape(1, 8, 8, 1) % 7) / 7
    mask = np.zeros((1, 8, 8, 1), np.float32)
    mask[:, 2:5, 3:7] = 1.0
    np.testing.assert_allclose(np.asarray(saved([image * (1 - mask), mask]))[0, 2:5, 3:7, 0], [
        [0.57107985, 0.53466797, 0.46993583, 0.37688339],
        [0.53090125, 0.46175131, 0.42603701, 0.42375839],
        [0.40315759, 0.38804409, 0.42375839, 0.51030040]], rtol=0, atol=1e-6)
    damaged, holes = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    network = keras.Model([damaged, holes], saved([damaged, holes]))
    assert layers.prefill_options(network) == {"shifts": 1}
    assert layers.prefill("pyramid", **layers.prefill_options(network)).shifts == 1


def test_pyramid_fill_runs_in_float16_in_a_graph_at_any_batch():
    layer = layers.PyramidFill(dtype="mixed_float16")
    fill = tf.function(lambda damaged, mask: layer([damaged, mask]), input_signature=[
        tf.TensorSpec((None, 40, 40, 3)), tf.TensorSpec((None, 40, 40, 1))])
    for batch in (1, 3):
        mask = np.repeat(hole(40), batch, 0)
        image = np.full((batch, 40, 40, 3), [0.2, 0.5, 0.9], np.float32)
        filled = fill(image * (1 - mask), mask)
        assert filled.dtype == tf.float16 and filled.shape == image.shape
        np.testing.assert_allclose(np.asarray(filled, np.float32), image, atol=2e-3)


def test_pyramid_fill_continues_a_ramp_better_than_the_mean():
    ramp = np.linspace(0, 1, 32, dtype=np.float32)
    image = np.repeat(np.broadcast_to(ramp[None, :, None], (32, 32, 1)), 3, -1)[None]
    mask = hole()
    damaged = image * (1 - mask)
    errors = {kind: np.abs(np.asarray(layers.prefill(kind)([damaged, mask])) - image).max()
              for kind in ("mean", "pyramid")}
    known = np.broadcast_to(mask == 0, image.shape)
    np.testing.assert_array_equal(np.asarray(layers.prefill("pyramid")([damaged, mask]))[known], damaged[known])
    assert errors["pyramid"] < 0.5 * errors["mean"]


@pytest.mark.bad_input
def test_unknown_prefill_is_named():
    with pytest.raises(ValueError, match="prefill: 'zeros'"):
        layers.prefill("zeros")


def test_a_fresh_interpreter_loads_the_saved_models(tmp_path):
    """models.load registers the kind's custom layers itself (evaluation runs in its own process)."""
    import subprocess
    import sys

    for kind, tiny in (("gan", TINY), ("diffusion", {"channels": 8, "channel_mults": [1, 2], "res_blocks": 1})):
        folder = tmp_path / kind
        folder.mkdir()
        save_model(models.build_trainer(kind, 32, tiny), folder, kind, models.resolve_hparams(kind, tiny))
    code = ("import sys; from inpaintbench import models\n"
            "for folder in sys.argv[1:]: print(type(models.load(folder)).__module__)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "gan"), str(tmp_path / "diffusion")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["inpaintbench.models.gan", "inpaintbench.models.diffusion"]
