"""The paper's two models on real photo crops: they learn, keep the contract, and leak only when told to."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import fit
from inpaintbench import models
from inpaintbench.config import ConfigError, load_schema, validate_config
from inpaintbench.data import demo, images, masks

SIZE = 16
SMALL = {
    "gan_paper": {"generator_units": [16, 32, 64], "discriminator_units": [64, 32, 16],
                  "repair_units": [64, 128, 256], "noise_dim": 8},
    "diffusion_paper": {"hidden_units": 64},
}
VARIANTS = [(kind, exact) for kind in SMALL for exact in (False, True)]


def photo_batch(size: int = SIZE, count: int = 8, seed: int = 1234):
    """(images float32 [0, 1], masks float32 1 in the hole) of real photo crops with the pipeline's holes."""
    names = sorted(demo.PHOTOS)
    photos, holes = [], []
    for i in range(count):
        name = names[i % len(names)]
        box = demo.crops(name, [1.0, 0.6], 2)[i // len(names) % 5]
        photos.append(images.from_array(demo.crop(name, box), size))
        holes.append(masks.box_mask(masks.hole_box(f"{name}-{i}", size, seed=seed), size))
    return (np.stack(photos).astype(np.float32) / 255.0,
            np.stack(holes)[..., None].astype(np.float32))


def train(kind, exact, batch, steps, hparams=None):
    trainer = models.build_trainer(kind, SIZE, {**SMALL[kind], **(hparams or {})}, exact, seed=0)
    return trainer, fit(trainer, batch, steps)


def inpainter(kind, exact, network):
    return models.module(kind).Inpainter(network, SIZE, models.resolve_hparams(kind, SMALL[kind]), exact)


def hole_mse(inpainter_, original, hole):
    filled = inpainter_(original * (1 - hole), hole, original=original)
    return float(np.sum((filled - original) ** 2 * hole) / (3 * np.sum(hole)))


@pytest.mark.parametrize("kind,exact", VARIANTS)
def test_trains_on_a_fixed_batch_and_keeps_the_contract(kind, exact, tmp_path):
    original, hole = photo_batch()
    untrained = models.build_trainer(kind, SIZE, SMALL[kind], exact, seed=0)
    before = hole_mse(inpainter(kind, exact, untrained.export()), original, hole)
    trainer, history = train(kind, exact, (original, hole), steps=60)
    main = trainer.MAIN_LOSS
    assert main == "repair_loss"
    assert set(history[0]) == ({"d_loss", "g_loss", "repair_loss"} if kind == "gan_paper" else {"repair_loss"})
    assert set(history[0]) == set(models.loss_descriptions(kind))  # the training curves say what each is
    assert all(np.isfinite(v) for row in history for v in row.values())
    assert np.mean([r[main] for r in history[-5:]]) < 0.5 * np.mean([r[main] for r in history[:5]])

    model = inpainter(kind, exact, trainer.export())
    assert model.needs_original is exact
    filled = model(original * (1 - hole), hole, original=original)
    assert filled.shape == original.shape and filled.dtype == np.float32
    assert filled.min() >= 0.0 and filled.max() <= 1.0
    np.testing.assert_allclose(filled * (1 - hole), original * (1 - hole), atol=1e-6)
    assert hole_mse(model, original, hole) < before

    path = tmp_path / "model.keras"
    trainer.export().save(path)
    loaded = inpainter(kind, exact, keras.saving.load_model(path, compile=False, safe_mode=True))
    np.testing.assert_allclose(loaded(original * (1 - hole), hole, original=original), filled, atol=1e-6)


@pytest.mark.parametrize("kind", SMALL)
def test_honest_model_never_reads_the_original_and_the_exact_one_needs_it(kind):
    original, hole = photo_batch()
    damaged = original * (1 - hole)
    honest = inpainter(kind, False, train(kind, False, (original, hole), steps=2)[0].export())
    other = np.ascontiguousarray(original[::-1])
    np.testing.assert_array_equal(honest(damaged, hole, original=original), honest(damaged, hole, original=other))
    np.testing.assert_array_equal(honest(damaged, hole), honest(damaged, hole, original=original))

    exact = inpainter(kind, True, train(kind, True, (original, hole), steps=2)[0].export())
    with pytest.raises(ValueError, match="needs the undamaged image"):
        exact(damaged, hole)
    assert not np.array_equal(exact(damaged, hole, original=original), exact(damaged, hole, original=other))


def test_paper_exact_diffusion_is_handed_the_answer():
    """As written, the diffusion output is added to the undamaged image: its hole error is tiny
    from the start, far below the honest model's after the same training."""
    original, hole = photo_batch()
    errors = {exact: hole_mse(inpainter("diffusion_paper", exact,
                                        train("diffusion_paper", exact, (original, hole), steps=30)[0].export()),
                              original, hole)
              for exact in (False, True)}
    assert errors[True] < 0.25 * errors[False]


def test_gan_repair_network_answers_in_unit_range():
    """The tanh network works in [-1, 1] inside and answers [0, 1] images: its raw (unclipped) output
    of trained photos lies in [0, 1] and matches their known pixels."""
    original, hole = photo_batch()
    trainer, _ = train("gan_paper", False, (original, hole), steps=80)
    raw = inpainter("gan_paper", False, trainer.export()).predict(original * (1 - hole), hole).numpy()
    assert raw.min() >= 0.0 and raw.max() <= 1.0
    assert np.sum(np.abs(raw - original) * (1 - hole)) / (3 * np.sum(1 - hole)) < 0.1


def test_diffusion_noise_comes_from_a_normal_only_while_training():
    network = models.build_trainer("diffusion_paper", SIZE, {**SMALL["diffusion_paper"], "noise_std": 0.2},
                                   False, seed=0).export()
    noise_layer = network.get_layer("noise")
    x = tf.fill((64, SIZE, SIZE, 3), 0.5)
    np.testing.assert_array_equal(noise_layer(x, training=False), x)
    sample = (noise_layer(x, training=True) - x).numpy()
    assert abs(sample.mean()) < 0.01 and abs(sample.std() - 0.2) < 0.01


def test_diffusion_bottleneck_is_optional_and_sizes_follow_the_image():
    pair, image = 2 * SIZE * SIZE * 3, SIZE * SIZE * 3
    honest_in = SIZE * SIZE * 4  # damaged image + mask
    single = models.build_trainer("diffusion_paper", SIZE, {"hidden_units": None}, True).export()
    assert single.count_params() == pair * image + image  # the paper's one Dense layer
    narrow = models.build_trainer("diffusion_paper", SIZE, {"hidden_units": 32}, False).export()
    assert narrow.count_params() == honest_in * 32 + 32 + 32 * image + image


def one_model(kind, hparams):
    return {"data": {}, "masks": {}, "models": {"m": {"kind": kind, "hparams": hparams}}}


@pytest.mark.bad_input
@pytest.mark.parametrize("kind, hparams, key", [("gan_paper", {"generator_unit": [8]}, "models.m.hparams"),
                                                ("diffusion_paper", {"noise_std": -1}, "models.m.hparams.noise_std")])
def test_hparams_schema_rejects_unknown_keys_and_bad_values(kind, hparams, key):
    with pytest.raises(ConfigError, match=key):
        validate_config(one_model(kind, hparams))


def test_hparams_schema_takes_every_default_and_nothing_else():
    validate_config(one_model("gan_paper", SMALL["gan_paper"]))
    validate_config(one_model("diffusion_paper", {"hidden_units": None, "noise_std": 0.0}))
    for kind in SMALL:  # every default is configurable, and nothing else
        assert set(load_schema()["$defs"][f"hparams_{kind}"]["properties"]) == set(models.module(kind).DEFAULTS)
    for kind in models.KINDS:  # what the config check reads from the source is what the module holds
        assert models.hparam_defaults(kind) == models.module(kind).DEFAULTS
