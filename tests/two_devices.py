"""Data-parallel training on two devices: the CPU split into two logical devices, so that the
training job's MirroredStrategy runs two replicas as it would on two GPUs.

The split has to happen before TensorFlow starts, so this module is not collected with the rest
of the suite (its name does not start with test_): tests/test_training.py runs it in its own
pytest process, `pytest tests/two_devices.py`.
"""

from __future__ import annotations

import tensorflow as tf

tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)

import functools  # noqa: E402 (after the split, before anything starts TensorFlow)
import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import test_training  # noqa: E402
from inpaintbench import models, training  # noqa: E402
from inpaintbench.models import replicas  # noqa: E402
from test_diffusion import TINY as DIFFUSION  # noqa: E402
from test_gan import TINY as GAN  # noqa: E402
from test_paper_models import SMALL  # noqa: E402
from test_training import SIZE, TRAIN_SCRIPT, interrupted_job, model_cfg, restored  # noqa: E402

records = test_training.records  # test_training's fixture, here for pytest to find by name

TWO = training._strategy(2)  # the training job's own choice for a job with two devices
ONE = tf.distribute.get_strategy()
# test_gan's and test_diffusion's tiny models; the U-Net with one level only and dropout on.
HPARAMS = {"gan": GAN, "diffusion": {**DIFFUSION, "channel_mults": [1], "dropout": 0.1}, **SMALL}


def test_the_job_mirrors_over_the_two_devices_it_asks_for():
    assert isinstance(TWO, tf.distribute.MirroredStrategy) and TWO.num_replicas_in_sync == 2
    assert training._strategy(1) is ONE and training._strategy(4) is TWO  # one strategy per device set


def fixed_batch(count: int):
    """`count` smooth 16 px images (colour ramps) with a square hole each, in different places."""
    ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)
    images = np.stack([np.stack([np.add.outer(ramp, ramp) / 2, np.outer(ramp, 1 - ramp),
                                 np.full((SIZE, SIZE), c, np.float32)], -1) for c in np.linspace(0.1, 0.9, count)])
    masks = np.zeros((count, SIZE, SIZE, 1), np.float32)
    for i in range(count):
        top, left = (2 + 3 * i) % 9, (7 - 2 * i) % 9
        masks[i, top:top + 6, left:left + 6] = 1.0
    return images, masks


def build(kind: str, strategy, **hparams):
    with strategy.scope():
        return models.build_trainer(kind, SIZE, {**HPARAMS[kind], **hparams}, seed=0)


def steps(trainer, strategy, batch, count: int) -> tuple[list[dict], list]:
    """`count` training steps on `batch` (the global batch, split across the replicas), as the job runs
    them: their losses, and the Trainer's state after the first (every variable's copy on each replica)."""
    data = tf.data.Dataset.from_tensor_slices(batch).batch(len(batch[0]))
    distributed = next(iter(strategy.experimental_distribute_dataset(data)))
    step = training._replicated_step(strategy, trainer.train_step, jit=False)
    history, after_first = [], None
    for _ in range(count):
        history.append({key: float(value) for key, value in step(distributed).items()})
        after_first = after_first or [copies(variable) for variable in state(trainer)]
    return history, after_first


def state(trainer) -> list:
    """Every variable of a Trainer: networks, seeds, optimizers, and its own counters and generators."""
    found = list(trainer.variables)
    for value in vars(trainer).values():
        if isinstance(value, keras.optimizers.Optimizer):
            found += value.variables
        elif isinstance(value, tf.random.Generator):
            found.append(value.state)
        elif isinstance(value, tf.Variable):
            found.append(value)
    return found


def copies(variable) -> list[np.ndarray]:
    """The variable's value on each replica (one value outside a strategy)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return [np.array(v) for v in TWO.experimental_local_results(variable)]


@functools.cache
def trained_on_two(kind: str):
    """A tiny Trainer built for two replicas, the losses of its 30 steps on a fixed global batch of
    5 images (split 3 + 2), and its state after the first."""
    trainer = build(kind, TWO)
    return (trainer, *steps(trainer, TWO, fixed_batch(5), 30))


@pytest.mark.parametrize("kind", ["gan", "diffusion", "gan_paper"])
def test_tiny_models_train_on_two_replicas_and_the_replicas_stay_in_sync(kind):
    trainer, history, _ = trained_on_two(kind)
    main = [row[trainer.MAIN_LOSS] for row in history]
    assert all(np.isfinite(value) for row in history for value in row.values())
    assert np.mean(main[-5:]) < 0.8 * np.mean(main[:5]), main
    # Every variable a replica updates itself (batch-norm statistics, EMA weights and counter, seeds,
    # spectral-norm vectors) holds the same value on both replicas. Not a tf.random.Generator's
    # state: it advances by the draws of each replica's own share of the batch (3 and 2 images).
    generators = {id(value.state) for value in vars(trainer).values() if isinstance(value, tf.random.Generator)}
    for variable in state(trainer):
        if id(variable) not in generators:
            first, second = copies(variable)
            np.testing.assert_array_equal(first, second, err_msg=variable.name)


def test_replicas_draw_different_noise_and_dropout():
    with TWO.scope():
        seeds = replicas.ReplicaSeedGenerator(3)
        dropout = replicas.ReplicaDropout(0.5)
        generator = tf.random.Generator.from_seed(3)

    @tf.function
    def draw():
        return TWO.run(lambda: (keras.random.normal((64,), seed=seeds), dropout(tf.ones((64,)), training=True),
                                generator.normal((64,))))

    for values in draw():
        first, second = TWO.experimental_local_results(values)
        assert np.abs(first.numpy() - second.numpy()).max() > 0.1


@pytest.mark.parametrize("kind", ["gan", "diffusion_paper"])
def test_a_step_on_two_replicas_is_the_step_on_one_device(kind):
    """Models without batch statistics or random draws in their step: `gan` (generator and
    discriminator, two optimizers) and the honest `diffusion_paper` without its training noise.
    The global batch of 5 splits 3 + 2, so each replica's losses must be its share of the global ones.

    Adam's first update is lr * g / (|g| + 1e-7): rounding in a gradient near 1e-7 moves it by a
    fraction of lr. So the gradients are compared through Adam's moments (0.1 g and 0.001 g^2), to
    the rounding of sums over thousands of terms added in another order (1e-4 of the largest), and
    the weights to a tenth of the learning rate."""
    hparams = {"noise_std": 0.0} if kind == "diffusion_paper" else {}
    if kind == "gan":
        _, history, after_first = trained_on_two(kind)
    else:
        history, after_first = steps(build(kind, TWO, **hparams), TWO, fixed_batch(5), 1)
    one = build(kind, ONE, **hparams)
    assert history[0] == pytest.approx(steps(one, ONE, fixed_batch(5), 1)[0][0], rel=1e-6, abs=1e-7)
    learning_rate = models.resolve_hparams(kind, HPARAMS[kind])["learning_rate"]
    for variable, replicas_after in zip(state(one), after_first):
        expected = copies(variable)[0]
        moment = variable.name.endswith(("_momentum", "_velocity"))
        for value in replicas_after:
            np.testing.assert_allclose(value, expected, rtol=1e-4 if moment else 0,
                                       atol=1e-4 * np.abs(expected).max() if moment else learning_rate / 10,
                                       err_msg=variable.name)


def test_loss_scaling_skips_the_step_when_one_replica_overflows():
    with TWO.scope():
        weights = keras.Variable(np.ones(3, np.float32))
        optimizer = replicas.ReplicaLossScaleOptimizer(keras.optimizers.SGD(0.1))
        optimizer.build([weights])

    def step(x):
        with tf.GradientTape() as tape:
            loss = optimizer.scale_loss(tf.reduce_sum(weights * x))
        optimizer.apply_gradients(zip(tape.gradient(loss, [weights]), [weights]))

    run = tf.function(lambda x: TWO.run(step, args=(x,)))
    scale = float(copies(optimizer.dynamic_scale)[0])
    run(TWO.experimental_distribute_values_from_function(
        lambda context: tf.constant([np.inf if context.replica_id_in_sync_group else 1.0, 1.0, 1.0])))
    assert all((value == 1.0).all() for value in copies(weights))  # skipped on both replicas
    assert float(copies(optimizer.dynamic_scale)[0]) == scale / 2
    run(TWO.experimental_distribute_values_from_function(
        lambda context: tf.fill([3], tf.cast(context.replica_id_in_sync_group + 1, tf.float32))))
    for value in copies(weights):  # the replicas' gradients 1 and 2, summed
        np.testing.assert_allclose(value, 1.0 - 0.1 * 3.0)


def checkpointed(trainer) -> list:
    """The Trainer's variables a checkpoint holds: all but Keras' seed generators (dropout's, the
    paper models' noise), which are not trackable by tf.train.Checkpoint: a resumed run restarts them."""
    return [variable for variable in state(trainer) if not variable.name.startswith("seed_generator_state")]


def test_a_checkpoint_restores_exactly_whatever_the_number_of_replicas(tmp_path):
    """The diffusion Trainer has the most state: weights, EMA weights and their counter, the Adam
    moments, the noise generator. Saved from two replicas, restored on one device; saved from there,
    restored on two replicas (every copy)."""
    trained = trained_on_two("diffusion")[0]
    for target in (ONE, TWO):
        path = tf.train.Checkpoint(model=trained).save(str(tmp_path / f"to_{target.num_replicas_in_sync}" / "ckpt"))
        fresh = build("diffusion", target)
        tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
        for saved, loaded in zip(checkpointed(trained), checkpointed(fresh)):
            for value in copies(loaded):
                np.testing.assert_array_equal(value, copies(saved)[0], err_msg=saved.name)
        trained = fresh


def train(tmp_path, records, cfg, gpus):
    return training.train(cfg["kind"], cfg, SIZE, records["train"], records["val"], tmp_path / "out",
                          state_dir=tmp_path / "state", log_path=tmp_path / "train.log", gpus=gpus)


TWO_DEVICE_SCRIPT = """
import tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
""" + TRAIN_SCRIPT.replace('log_path=args["log"])', 'log_path=args["log"], gpus=2)')


def test_sigterm_on_two_replicas_saves_and_the_run_resumes_on_one_then_on_two(tmp_path, records):
    """The job on two replicas is stopped by SIGTERM, resumed on one device, then extended on two:
    one step counter, and optimizer iterations that count every step."""
    total = 400
    cfg = model_cfg("diffusion_paper", epochs=total // 2, checkpoint_every=5, snapshot_epochs=[1])
    log = tmp_path / "train.log"
    args = json.dumps({"name": "diffusion_paper", "cfg": cfg, "size": SIZE, "out": str(tmp_path / "out"),
                       "state": str(tmp_path / "state"), "log": str(log), **records})
    first = interrupted_job(TWO_DEVICE_SCRIPT, args, log, checkpoint=10)
    assert " on CPU x2," in first
    stopped = int(first.split("SIGTERM at step ")[1].split(";")[0])
    # the checkpoint kept is the stopped step's: saved for the SIGTERM, or already by checkpoint_every
    assert 10 <= stopped < total and f"SIGTERM at step {stopped}; last checkpoint step {stopped};" in first

    meta = train(tmp_path, records, cfg, gpus=1)
    assert (meta["resumed_from_step"], meta["steps"], meta["replicas"], meta["device"]) == (stopped, total, 1, "CPU")
    extended = {**cfg, "training": {**cfg["training"], "epochs": total // 2 + 10}}
    meta = train(tmp_path, records, extended, gpus=2)
    assert (meta["resumed_from_step"], meta["steps"], meta["replicas"], meta["device"]) == \
        (total, total + 20, 2, "CPU x2")
    trainer, step = restored("diffusion_paper", extended, tmp_path / "state")
    assert step == int(trainer.repair_optimizer.iterations) == total + 20
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    assert history["step"].tolist() == list(range(2, total + 21, 2))
    assert np.isfinite(history.drop(columns=["epoch", "step"]).to_numpy()).all()


def test_mixed_precision_on_two_replicas_writes_a_model_without_xla(tmp_path, records):
    cfg = model_cfg("diffusion_paper", epochs=2, mixed_precision=True, jit_compile=True, snapshot_epochs=[2])
    meta = train(tmp_path, records, cfg, gpus=2)
    assert (meta["replicas"], meta["mixed_precision"], meta["jit_compile"]) == (2, True, False)
    assert "training.jit_compile is true, but XLA is off with 2 replicas" in (tmp_path / "train.log").read_text()
    reference = np.load(tmp_path / "out" / "snapshots" / "reference.npz")
    snapshot = np.load(tmp_path / "out" / "snapshots" / "epoch_00002.npz")["inpainted"]
    filled = models.load(tmp_path / "out")(reference["damaged"] / 255.0, reference["mask"].astype(np.float32))
    np.testing.assert_allclose(filled, snapshot / 255.0, atol=1 / 255 + 1e-6)


def test_a_batch_smaller_than_the_replicas_is_refused(tmp_path, records):
    with pytest.raises(ValueError, match=r"training.batch_size=1 is smaller than the 2 replicas"):
        train(tmp_path, records, model_cfg(batch_size=1), gpus=2)
