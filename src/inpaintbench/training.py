"""The training job every model shares: checkpointed, resumable, preemptible, and logged.

`train()` runs one model's Trainer on the TFRecord pipeline and writes the model folder
(model.keras, meta.json, history.csv, snapshots/). Its working state lives in `state_dir`,
which is not a Snakemake output (Snakemake deletes the outputs of a failed job): checkpoints,
the history so far, snapshots and TensorBoard events. The workflow names that folder after a
fingerprint of the config the training depends on, so a config edit never resumes a stale run.

- Resume: a rerun restores the latest checkpoint (weights, optimizer state, step counter) and the
  history up to it. Data order is reshuffled with the seed and the resumed step, so a resumed run
  is not bit-identical to an uninterrupted one; an epoch cut by the interruption reports the
  means of its steps after the resume.
- SIGTERM (SLURM's notice before it cancels or preempts a job) and SIGINT (Ctrl-C): the current
  step finishes, a checkpoint is saved, the log says so and the job exits with TrainingInterrupted,
  so Snakemake marks it failed and a rerun resumes. A second Ctrl-C stops at once.
- Non-finite losses (or a main loss above `training.stop_loss_above`): training stops with
  TrainingDiverged naming the model, step, loss and the last good checkpoint. A checkpoint is
  only written when all variables are finite; and when a step's loss is bad, the checkpoint of
  the weights that produced it (the previous step's, if one was saved) is deleted, so the last
  checkpoint left is one whose weights gave a good loss. Keeping a copy of the previous weights
  instead would cost a full copy of the model every step.
- Device: the GPU when TensorFlow sees one, else the CPU. `mixed_precision` and `jit_compile`
  "auto" are on on a GPU only; under mixed_float16 a Trainer wraps its optimizers in
  loss scaling (models.replicas.ReplicaLossScaleOptimizer) and keeps its outputs float32.
- Several devices (`gpus` > 1, the config's `resources.gpus`): data parallel with
  tf.distribute.MirroredStrategy over the first `gpus` GPUs TensorFlow sees. `batch_size` stays
  the global batch, split across the replicas; each replica's losses are its share of the global
  batch's (models/replicas.py), so the summed gradients and losses are the single-device ones up to
  float rounding. XLA is off with several replicas (Keras does the same: XLA cannot compile a step
  whose variables live on several devices). One device uses TensorFlow's default strategy, which
  runs the step exactly as without tf.distribute. Checkpoints hold one copy of each variable, so a
  run resumes on any number of devices.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from . import models, provenance
from .config import default_masks, validate_config
from .data import tfrecords
from .data.images import to_uint8
from .data.masks import MaskSource, damage
from .logs import get_logger, logged_errors
from .runtime import set_threads

CHECKPOINTS_KEPT = 2
# What tf.summary.scalar writes, without needing the tensorboard package to write it.
SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))


class TrainingInterrupted(RuntimeError):
    """SIGTERM or SIGINT arrived; a checkpoint was saved and a rerun resumes from it."""


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite (or the main loss passed training.stop_loss_above); the message
    names the model, step, loss and the last good checkpoint."""


def _switch(value, on_gpu: bool) -> bool:
    return on_gpu if value == "auto" else bool(value)


def _device(replicas: int) -> tuple[str, bool]:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU" if replicas == 1 else f"CPU x{replicas}", False
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU ({details.get('device_name', gpus[0].name)}) x{replicas}", True


def _strategy(gpus: int) -> tf.distribute.Strategy:
    """MirroredStrategy over the first `gpus` GPUs TensorFlow sees (without a GPU, over its CPU
    devices: one, unless split into logical devices as the tests do); the default strategy when
    that is a single device."""
    kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    devices = [device.name for device in tf.config.list_logical_devices(kind)][:max(gpus, 1)]
    if len(devices) < 2:
        return tf.distribute.get_strategy()
    return _mirrored(tuple(devices))


@functools.cache
def _mirrored(devices: tuple[str, ...]) -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy per set of devices and process: a second one would number its
    all-reduces like the first, and the two would collide."""
    return tf.distribute.MirroredStrategy(list(devices))


def _check_devices(name: str, training: dict, gpus: int, replicas: int, logger) -> None:
    """Warn when the job trains on fewer devices than it asked for, or without the XLA it asked for
    (XLA cannot compile a step whose variables live on several devices; Keras too turns it off
    under tf.distribute); refuse a batch some replica would get nothing of."""
    if training["jit_compile"] is True and replicas > 1:
        logger.warning("%s: training.jit_compile is true, but XLA is off with %d replicas", name, replicas)
    if replicas < gpus:
        logger.warning("%s: asked for %d GPUs, training on %d replica(s): TensorFlow sees %d GPU(s) "
                       "(CUDA_VISIBLE_DEVICES=%s)", name, gpus, replicas, len(tf.config.list_physical_devices("GPU")),
                       os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    if training["batch_size"] < replicas:
        raise ValueError(f"{name}: training.batch_size={training['batch_size']} is smaller than the "
                         f"{replicas} replicas it is split across (resources.gpus)")


def _replicated_step(strategy: tf.distribute.Strategy, train_step, jit: bool):
    """One tf.function: `train_step` on every replica's slice of the batch, then each loss summed
    over the replicas (each returns its share of the global batch's loss)."""
    def step(batch):
        losses = strategy.run(train_step, args=(batch,))
        return {key: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in losses.items()}
    return tf.function(step, jit_compile=jit)


def _model_config(name: str, model_cfg: dict, image_size: int, masks: dict | None) -> dict:
    """The model's config entry validated (against the image size it trains at, its training protocol
    among `masks`') and filled with the schema defaults."""
    masks_cfg = {"seed": masks["seed"], "protocols": {masks["protocol"]: masks["recipe"]}} if masks else {}
    return validate_config({"data": {"image_size": image_size}, "masks": masks_cfg, "models": {name: model_cfg}},
                           source=f"model {name}")["models"][name]


def _mask_source(name: str, training: dict, masks: dict | None) -> MaskSource:
    """The fixed masks of the protocol the model trains on (`masks`: protocol, recipe, seed; None: the
    schema's recipe of training.masks): its snapshots' masks, and its training holes on `square`."""
    if masks is None:
        defaults = default_masks()
        masks = {"protocol": training["masks"], "recipe": defaults["protocols"][training["masks"]],
                 "seed": defaults["seed"]}
    if masks["protocol"] != training["masks"]:
        raise ValueError(f"{name}: training.masks is {training['masks']!r} but the masks given are "
                         f"protocol {masks['protocol']!r}")
    return MaskSource(masks["protocol"], masks["recipe"], masks["seed"])


def _steps_per_epoch(training: dict, train_paths) -> int:
    """training.steps_per_epoch, or one pass over the train split. A batch larger than the split is
    an error: it would hold some images twice (the pipeline repeats the split to fill it)."""
    images = tfrecords.count_records(train_paths)
    if images < training["batch_size"]:
        raise ValueError(f"training.batch_size={training['batch_size']} is larger than the train split "
                         f"({images} images): a batch would hold images twice")
    return int(training["steps_per_epoch"] or images // training["batch_size"])


def _save_npz(path: Path, **arrays) -> None:
    with provenance.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def _read_history(path: Path, last_epoch: int) -> list[dict]:
    """Rows of a resumed run up to the checkpoint's epoch; later ones are replayed."""
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        rows = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    for row in rows:
        row["epoch"], row["step"] = int(row["epoch"]), int(row["step"])
    return [row for row in rows if row["epoch"] <= last_epoch]


def _write_history(path: Path, rows: list[dict], loss_names) -> None:
    columns = ["epoch", "step", *loss_names, "seconds", "images_per_s"]
    with provenance.atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


def _all_finite(variables) -> bool:
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables
               if tf.as_dtype(v.dtype).is_floating)


def _diverged(losses: dict, main_loss: str, stop_above) -> str | None:
    for key, value in losses.items():
        if not math.isfinite(value):
            return f"non-finite {key}={value}"
    if stop_above is not None and losses[main_loss] > stop_above:
        return f"{main_loss}={losses[main_loss]:.5g} above training.stop_loss_above={stop_above}"
    return None


def _checkpoint_step(path: str) -> int:
    return int(path.rsplit("-", 1)[1])


def _drop_checkpoint_of_step(manager: tf.train.CheckpointManager, step: int) -> str | None:
    """Delete the checkpoint of `step` if there is one (its weights just gave a bad loss);
    return the latest checkpoint left."""
    kept = list(manager.checkpoints)
    if kept and _checkpoint_step(kept[-1]) == step:
        for path in Path(kept[-1]).parent.glob(Path(kept[-1]).name + ".*"):
            path.unlink()
        kept.pop()
        if kept:
            tf.compat.v1.train.update_checkpoint_state(manager.directory, kept[-1], all_model_checkpoint_paths=kept)
        else:
            Path(manager.directory, "checkpoint").unlink()
    return kept[-1] if kept else None


def _replace_dir(source: Path, target: Path) -> None:
    """Copy a folder into place in one rename (an earlier one is replaced only once the copy exists)."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _Interrupt:
    """Turns SIGTERM and SIGINT into `received` (the signal's name), which the loop checks after each
    step (main thread only). A second SIGINT raises KeyboardInterrupt: a user who presses Ctrl-C
    twice does not want to wait for the step."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received = None
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.received == "SIGINT":
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __exit__(self, *exc):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


def train(name: str, model_cfg: dict, image_size: int, train_paths, val_paths,
          out_dir, state_dir, log=None, threads: int | None = None, masks: dict | None = None,
          gpus: int = 1) -> dict:
    """Train model `name` from its config entry on up to `gpus` devices; write
    results/models/{name}/ and return its meta.

    `masks` is the protocol it trains on, {protocol, recipe, seed} (train_config.training_masks).
    On the CPU, TensorFlow's op determinism is on: the same config and seed give bit-identical
    weights and losses (a GPU run is not bit-identical; see README.md, "Training").
    """
    logger = get_logger(f"train.{name}", log)
    with logged_errors(logger):
        out_dir, state_dir = Path(out_dir), Path(state_dir)
        model_cfg = _model_config(name, model_cfg, image_size, masks)
        kind, training = model_cfg["kind"], model_cfg["training"]
        source = _mask_source(name, training, masks)
        set_threads(threads)
        strategy = _strategy(gpus)
        replicas = strategy.num_replicas_in_sync
        device, on_gpu = _device(replicas)
        mixed = _switch(training["mixed_precision"], on_gpu)
        jit = _switch(training["jit_compile"], on_gpu) and replicas == 1  # see _check_devices
        previous_policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
        if not on_gpu:  # for the process: TensorFlow has no public switch back (on a GPU, see README.md)
            tf.config.experimental.enable_op_determinism()
        try:
            _check_devices(name, training, gpus, replicas, logger)
            return _run(name, model_cfg, kind, training, image_size, list(train_paths), list(val_paths),
                        out_dir, state_dir, logger, device, mixed, jit, source, strategy)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)


def _run(name, model_cfg, kind, training, image_size, train_paths, val_paths, out_dir, state_dir,
         logger, device, mixed, jit, source, strategy) -> dict:
    seed, batch_size, epochs = training["seed"], training["batch_size"], training["epochs"]
    late = [e for e in training["snapshot_epochs"] if e > epochs]
    if late:
        raise ValueError(f"{name}: training.snapshot_epochs {late} are beyond training.epochs={epochs}")
    steps_per_epoch = _steps_per_epoch(training, train_paths)
    total_steps = epochs * steps_per_epoch
    hparams = models.resolve_hparams(kind, model_cfg["hparams"])

    keras.utils.set_random_seed(seed)
    with strategy.scope():  # variables mirrored on every replica, optimizers summing their gradients
        trainer = models.build_trainer(kind, image_size, hparams, model_cfg["paper_exact"], seed)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(model=trainer, step=step)
    checkpoint_dir = state_dir / "checkpoints"
    manager = tf.train.CheckpointManager(checkpoint, str(checkpoint_dir), max_to_keep=CHECKPOINTS_KEPT)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logger.info("%s: resumed from step %d (%s)", name, int(step), manager.latest_checkpoint)
    start = int(step)
    history_path, snapshot_dir = state_dir / "history.csv", state_dir / "snapshots"
    history = _read_history(history_path, start // steps_per_epoch)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    logger.info("%s (%s%s): %d epochs x %d steps of %d images at %d px on %s, mixed precision %s, XLA %s, "
                "%s masks%s", name, kind, ", paper-exact" if model_cfg["paper_exact"] else "", epochs,
                steps_per_epoch, batch_size, image_size, device, mixed, jit, source.protocol,
                " (fresh per image per step)" if source.for_training(seed).fresh else "")

    reference = _snapshot_reference(val_paths, image_size, training, snapshot_dir, source)
    inpainter_class = models.module(kind).Inpainter
    dataset = tfrecords.load_dataset(train_paths, batch_size, image_size, shuffle=True, repeat=True,
                                     seed=seed + start, drop_remainder=True, augment=training["augment"],
                                     masks=source.for_training(seed, start))
    batches = strategy.experimental_distribute_dataset(dataset.take(total_steps - start))
    train_step = _replicated_step(strategy, trainer.train_step, jit)
    writer = tf.summary.create_file_writer(str(state_dir / "tensorboard"))
    progress = _progress_bar(total_steps, start, name)

    def save(reason: str) -> int | None:
        """Checkpoint the current state unless it is saved or not finite; returns the last checkpoint's step."""
        latest = manager.latest_checkpoint and _checkpoint_step(manager.latest_checkpoint)
        if latest == int(step):
            return latest
        if not _all_finite(trainer.variables):
            logger.warning("%s: non-finite weights at step %d: no checkpoint (%s)", name, int(step), reason)
            return latest
        manager.save(checkpoint_number=int(step))
        logger.info("%s: checkpoint at step %d (%s) in %s", name, int(step), reason, checkpoint_dir)
        return int(step)

    save("initial weights")  # a fresh run too has a good checkpoint to fall back on
    sums, epoch_start, epoch_steps = {}, time.perf_counter(), 0
    with _Interrupt() as interrupt, writer.as_default():
        for images, masks in batches:
            losses = {key: float(value) for key, value in train_step((images, masks)).items()}
            problem = _diverged(losses, trainer.MAIN_LOSS, training["stop_loss_above"])
            if problem:
                kept = _drop_checkpoint_of_step(manager, int(step))
                where = f"step {_checkpoint_step(kept)} in {checkpoint_dir}" if kept else "none left"
                raise TrainingDiverged(f"{name}: {problem} at step {int(step) + 1}; last good checkpoint: {where}")
            step.assign_add(1)
            progress.update(1)
            epoch_steps += 1
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            current = int(step)
            if current % steps_per_epoch == 0:
                epoch = current // steps_per_epoch
                seconds = time.perf_counter() - epoch_start
                row = {"epoch": epoch, "step": current,
                       **{key: total / epoch_steps for key, total in sums.items()},
                       "seconds": seconds, "images_per_s": epoch_steps * batch_size / seconds}
                history.append(row)
                _write_history(history_path, history, list(losses))
                for key in (*losses, "images_per_s"):
                    tf.summary.write(key, tf.constant(row[key], tf.float32), step=current,
                                     metadata=SCALAR_METADATA)
                logger.info("%s: epoch %d/%d step %d/%d %s %.2fs %.1f images/s", name, epoch, epochs,
                            current, total_steps, " ".join(f"{k}={row[k]:.5g}" for k in losses),
                            seconds, row["images_per_s"])
                if epoch in training["snapshot_epochs"]:
                    _snapshot(inpainter_class(trainer.export(), image_size, hparams, model_cfg["paper_exact"]),
                              reference, snapshot_dir / f"epoch_{epoch:05d}.npz")
                sums, epoch_start, epoch_steps = {}, time.perf_counter(), 0
            if current % training["checkpoint_every"] == 0 and current < total_steps:
                save(f"every {training['checkpoint_every']} steps")
            if interrupt.received:
                kept = save(interrupt.received)
                progress.close()
                logger.info("%s: %s at step %d; last checkpoint step %s; exiting for a later resume",
                            name, interrupt.received, current, kept)
                raise TrainingInterrupted(f"{name}: stopped by {interrupt.received} at step {current}; "
                                          f"rerun to resume from the checkpoint at step {kept} in {checkpoint_dir}")
        save("end of training")
    progress.close()
    return _write_outputs(name, model_cfg, kind, hparams, image_size, trainer, history, snapshot_dir,
                          out_dir, device, mixed, jit, total_steps, start, logger, source,
                          strategy.num_replicas_in_sync)


def _progress_bar(total: int, initial: int, name: str):
    """A tqdm bar on a terminal; a silent stand-in in batch jobs (the per-epoch log line is the record)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="step", disable=not sys.stderr.isatty())


def _snapshot_reference(val_paths, image_size: int, training: dict, snapshot_dir: Path, source: MaskSource):
    """The fixed validation images every snapshot inpaints (the first ones in shard order, with their masks)."""
    if not training["snapshot_epochs"]:
        return None
    batch = next(iter(tfrecords.load_dataset(val_paths, training["snapshot_images"], image_size, masks=source)), None)
    if batch is None:
        raise ValueError(f"training.snapshot_epochs is set but the validation split ({len(val_paths)} "
                         "files) holds no image to snapshot")
    images, masks = (t.numpy() for t in batch)
    damaged = damage(images, masks)
    _save_npz(snapshot_dir / "reference.npz", original=to_uint8(images), damaged=to_uint8(damaged),
              mask=masks.astype(np.uint8))
    return images, masks, damaged


def _snapshot(inpainter, reference, path: Path) -> None:
    images, masks, damaged = reference
    _save_npz(path, inpainted=to_uint8(inpainter(damaged, masks, original=images)))


def _write_outputs(name, model_cfg, kind, hparams, image_size, trainer, history, snapshot_dir,
                   out_dir, device, mixed, jit, total_steps, start, logger, source, replicas) -> dict:
    """model.keras, history.csv, snapshots/ and meta.json, each moved into place whole; meta last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    network = trainer.export()
    with provenance.atomic_path(out_dir / models.MODEL_FILE, suffix=".keras") as tmp:
        network.save(tmp)
    loss_names = [key for key in history[-1] if key not in ("epoch", "step", "seconds", "images_per_s")]
    _write_history(out_dir / "history.csv", history, loss_names)
    _replace_dir(snapshot_dir, out_dir / "snapshots")
    final = history[-1]
    meta = provenance.record(
        model_cfg, name=name, kind=kind, image_size=image_size, hparams=hparams,
        paper_exact=model_cfg["paper_exact"], seed=model_cfg["training"]["seed"],
        parameters=int(network.count_params()), device=device, replicas=replicas, mixed_precision=mixed,
        jit_compile=jit,
        training_seconds=round(sum(row["seconds"] for row in history), 3),
        epochs=int(final["epoch"]), steps=total_steps, resumed_from_step=start or None,
        main_loss=trainer.MAIN_LOSS, final_losses={key: final[key] for key in loss_names},
        masks={"protocol": source.protocol, "recipe": source.recipe, "seed": source.seed},
    )
    provenance.write_json(out_dir / models.META_FILE, meta)
    logger.info("%s: done, %d steps, %s=%.5g, %d parameters -> %s", name, total_steps,
                trainer.MAIN_LOSS, final[trainer.MAIN_LOSS], meta["parameters"], out_dir)
    return meta
