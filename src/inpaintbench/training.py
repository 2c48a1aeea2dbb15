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

Why a loop of our own and not Keras' `fit()` with callbacks (Keras 3.15, checked in its source):
- Losses over several replicas: each replica returns its share of the global batch's loss, so
  the loss is their sum; `fit()` reduces what `train_step` returns with the mean over replicas
  (`reduce_per_replica(..., "auto")`), which would log 1/replicas of it.
- Epoch means: `fit()` reports the last step's values of a custom `train_step` unless every loss
  is also tracked as a Mean metric; history.csv holds the means of the epoch's steps.
- Resume at the step: `BackupAndRestore` restores the epoch only (it records the batch but
  `fit()` starts that epoch again), and saves every N batches, not at a signal; our checkpoint
  holds the step counter and a SIGTERM saves after the step it cuts.
- Divergence: `TerminateOnNaN` stops, but the checkpoint of the weights that gave the bad loss
  must also go (above), and `stop_loss_above` needs the main loss of each step.
A callback could do each of these; together they would be this loop, spread over hooks.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import logging
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


def _gpu_names() -> list[str]:
    """The GPUs TensorFlow sees, by their device names where it knows them."""
    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]


def _device(replicas: int) -> tuple[str, bool]:
    gpus = _gpu_names()
    if not gpus:
        return "CPU" if replicas == 1 else f"CPU x{replicas}", False
    return f"GPU ({gpus[0]}) x{replicas}", True


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
          out_dir, *, state_dir, log_path=None, threads: int | None = None, masks: dict | None = None,
          gpus: int = 1, mem_mb: int | None = None, runtime: int | None = None) -> dict:
    """Train model `name` from its config entry on up to `gpus` devices; write
    results/models/{name}/ and return its meta.

    `threads`, `gpus`, `mem_mb` and `runtime` are the job's resources (Snakemake's, which may differ
    from the config's: threads are capped by --cores): meta.json records them as its config's
    `resources`, None where the caller did not say.

    `masks` is the protocol it trains on, {protocol, recipe, seed} (train_config.training_masks).
    On the CPU, TensorFlow's op determinism is on: the same config and seed give bit-identical
    weights and losses (a GPU run is not bit-identical; see README.md, "Training").
    """
    logger = get_logger(f"train.{name}", log_path)
    with logged_errors(logger):
        model_cfg = _model_config(name, model_cfg, image_size, masks)
        training = model_cfg["training"]
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
            run = _Run(name=name, model_cfg=model_cfg, image_size=image_size, source=source, strategy=strategy,
                       device=device, mixed=mixed, jit=jit, logger=logger, out_dir=Path(out_dir),
                       state_dir=Path(state_dir),
                       resources={"threads": threads, "gpus": gpus, "mem_mb": mem_mb, "runtime": runtime})
            return _Loop(run, list(train_paths), list(val_paths)).train()
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)


@dataclasses.dataclass(kw_only=True)
class _Run:
    """One training run as train() settled it: the model, its masks, its devices, its folders."""

    name: str
    model_cfg: dict  # validated, the schema's defaults filled in
    image_size: int
    source: MaskSource
    strategy: tf.distribute.Strategy
    device: str  # as the log and meta.json name it
    mixed: bool
    jit: bool
    logger: logging.Logger
    out_dir: Path
    state_dir: Path
    resources: dict  # the job's, not the schema's defaults _model_config fills in

    @property
    def kind(self) -> str:
        return self.model_cfg["kind"]

    @property
    def training(self) -> dict:
        return self.model_cfg["training"]

    @functools.cached_property
    def hparams(self) -> dict:
        return models.resolve_hparams(self.kind, self.model_cfg["hparams"])


class _Checkpoints:
    """The run's checkpoints in state_dir/checkpoints: the trainer (weights, optimizer state) and the
    step counter, restored from the latest one if there is one. Only finite weights are saved."""

    def __init__(self, run: _Run, trainer):
        self.run, self.trainer = run, trainer
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.directory = run.state_dir / "checkpoints"
        checkpoint = tf.train.Checkpoint(model=trainer, step=self.step)
        self.manager = tf.train.CheckpointManager(checkpoint, str(self.directory), max_to_keep=CHECKPOINTS_KEPT)
        if self.manager.latest_checkpoint:
            checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            run.logger.info("%s: resumed from step %d (%s)", run.name, int(self.step), self.manager.latest_checkpoint)

    def save(self, reason: str) -> int | None:
        """Checkpoint the current state unless it is saved or not finite; returns the last checkpoint's step."""
        step, name, logger = int(self.step), self.run.name, self.run.logger
        latest = self.manager.latest_checkpoint and _checkpoint_step(self.manager.latest_checkpoint)
        if latest == step:
            return latest
        if not _all_finite(self.trainer.variables):
            logger.warning("%s: non-finite weights at step %d: no checkpoint (%s)", name, step, reason)
            return latest
        self.manager.save(checkpoint_number=step)
        logger.info("%s: checkpoint at step %d (%s) in %s", name, step, reason, self.directory)
        return step

    def diverged(self, problem: str) -> TrainingDiverged:
        """The error for a bad loss in the step after this one, once the checkpoint of the weights
        that gave it is deleted."""
        kept = _drop_checkpoint_of_step(self.manager, int(self.step))
        where = f"step {_checkpoint_step(kept)} in {self.directory}" if kept else "none left"
        return TrainingDiverged(f"{self.run.name}: {problem} at step {int(self.step) + 1}; "
                                f"last good checkpoint: {where}")


class _Epoch:
    """The steps of the epoch in progress: their losses summed and their time, for its row of means."""

    def __init__(self):
        self.sums, self.steps, self.started = {}, 0, time.perf_counter()

    def add(self, losses: dict) -> None:
        self.steps += 1
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def row(self, epoch: int, step: int, batch_size: int) -> dict:
        seconds = time.perf_counter() - self.started
        return {"epoch": epoch, "step": step, **{key: total / self.steps for key, total in self.sums.items()},
                "seconds": seconds, "images_per_s": self.steps * batch_size / seconds}


class _Loop:
    """One run's training loop: builds the trainer and resumes its latest checkpoint, then runs the
    steps left, each followed by the divergence check, the epoch's row, the checkpoint and the
    interruption check that step asks for."""

    def __init__(self, run: _Run, train_paths: list, val_paths: list):
        training, epochs = run.training, run.training["epochs"]
        self.run, self.train_paths = run, train_paths
        self.steps_per_epoch = _steps_per_epoch(training, train_paths)
        self.total_steps = epochs * self.steps_per_epoch
        keras.utils.set_random_seed(training["seed"])
        with run.strategy.scope():  # variables mirrored on every replica, optimizers summing their gradients
            try:
                self.trainer = models.build_trainer(run.kind, run.image_size, run.hparams,
                                                    run.model_cfg["paper_exact"], training["seed"])
            except ValueError as error:  # e.g. a module of your own that does not import: name the model
                raise ValueError(f"{run.name}: {error}") from error
        self.checkpoints = _Checkpoints(run, self.trainer)
        self.start = int(self.checkpoints.step)
        self.history = _read_history(run.state_dir / "history.csv", self.start // self.steps_per_epoch)
        self.snapshot_dir = run.state_dir / "snapshots"
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self._log_settings()
        self.reference = _snapshot_reference(val_paths, run.image_size, training, self.snapshot_dir, run.source)

    def _log_settings(self) -> None:
        run, training = self.run, self.run.training
        run.logger.info(
            "%s (%s%s): %d epochs x %d steps of %d images at %d px on %s, mixed precision %s, XLA %s, %s masks%s",
            run.name, run.kind, ", paper-exact" if run.model_cfg["paper_exact"] else "", training["epochs"],
            self.steps_per_epoch, training["batch_size"], run.image_size, run.device, run.mixed, run.jit,
            run.source.protocol,
            " (fresh per image per step)" if run.source.for_training(training["seed"]).fresh else "")

    def _batches(self):
        """The batches of the steps left, in an order reshuffled with the seed and the resumed step."""
        run, training, start = self.run, self.run.training, self.start
        dataset = tfrecords.load_dataset(self.train_paths, training["batch_size"], run.image_size, shuffle=True,
                                         repeat=True, seed=training["seed"] + start, drop_remainder=True,
                                         augment=training["augment"],
                                         masks=run.source.for_training(training["seed"], start))
        return run.strategy.experimental_distribute_dataset(dataset.take(self.total_steps - start))

    def train(self) -> dict:
        """Train the steps left, checkpoint the end, write the model folder; return its meta."""
        run, checkpoints = self.run, self.checkpoints
        batches = self._batches()
        train_step = _replicated_step(run.strategy, self.trainer.train_step, run.jit)
        writer = tf.summary.create_file_writer(str(run.state_dir / "tensorboard"))
        self.progress = _progress_bar(self.total_steps, self.start, run.name)
        checkpoints.save("initial weights")  # a fresh run too has a good checkpoint to fall back on
        self.epoch = _Epoch()
        with _Interrupt() as interrupt, writer.as_default():
            for images, masks in batches:
                losses = {key: float(value) for key, value in train_step((images, masks)).items()}
                problem = _diverged(losses, self.trainer.MAIN_LOSS, run.training["stop_loss_above"])
                if problem:
                    raise checkpoints.diverged(problem)
                self._after_step(losses, interrupt)
            checkpoints.save("end of training")
        self.progress.close()
        return _write_outputs(run, self.trainer, self.history, self.total_steps, self.start)

    def _after_step(self, losses: dict, interrupt: _Interrupt) -> None:
        """Count a good step; end its epoch, checkpoint it, or stop for a signal, as due."""
        self.checkpoints.step.assign_add(1)
        self.progress.update(1)
        self.epoch.add(losses)
        step, every = int(self.checkpoints.step), self.run.training["checkpoint_every"]
        if step % self.steps_per_epoch == 0:
            self._end_epoch(step, list(losses))
        if step % every == 0 and step < self.total_steps:
            self.checkpoints.save(f"every {every} steps")
        if interrupt.received:
            self._stop(interrupt.received, step)

    def _end_epoch(self, step: int, loss_names: list) -> None:
        """The epoch's row of means to history.csv, TensorBoard and the log; its snapshot if asked for."""
        run, epoch = self.run, step // self.steps_per_epoch
        row = self.epoch.row(epoch, step, run.training["batch_size"])
        self.history.append(row)
        _write_history(run.state_dir / "history.csv", self.history, loss_names)
        for key in (*loss_names, "images_per_s"):
            tf.summary.write(key, tf.constant(row[key], tf.float32), step=step, metadata=SCALAR_METADATA)
        run.logger.info("%s: epoch %d/%d step %d/%d %s %.2fs %.1f images/s", run.name, epoch, run.training["epochs"],
                        step, self.total_steps, " ".join(f"{k}={row[k]:.5g}" for k in loss_names),
                        row["seconds"], row["images_per_s"])
        if epoch in run.training["snapshot_epochs"]:
            inpainter = models.module(run.kind).Inpainter(self.trainer.export(), run.image_size, run.hparams,
                                                          run.model_cfg["paper_exact"])
            _snapshot(inpainter, self.reference, self.snapshot_dir / f"epoch_{epoch:05d}.npz")
        self.epoch = _Epoch()

    def _stop(self, signal_name: str, step: int):
        """Checkpoint now and raise TrainingInterrupted: SIGTERM or SIGINT arrived during the step."""
        run = self.run
        kept = self.checkpoints.save(signal_name)
        self.progress.close()
        run.logger.info("%s: %s at step %d; last checkpoint step %s; exiting for a later resume",
                        run.name, signal_name, step, kept)
        raise TrainingInterrupted(f"{run.name}: stopped by {signal_name} at step {step}; rerun to resume "
                                  f"from the checkpoint at step {kept} in {self.checkpoints.directory}")


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


def _write_outputs(run: _Run, trainer, history: list[dict], total_steps: int, start: int) -> dict:
    """model.keras, history.csv, snapshots/ and meta.json, each moved into place whole; meta last."""
    out_dir, training = run.out_dir, run.training
    out_dir.mkdir(parents=True, exist_ok=True)
    network = trainer.export()
    with provenance.atomic_path(out_dir / models.MODEL_FILE, suffix=".keras") as tmp:
        network.save(tmp)
    loss_names = [key for key in history[-1] if key not in ("epoch", "step", "seconds", "images_per_s")]
    _write_history(out_dir / "history.csv", history, loss_names)
    _replace_dir(run.state_dir / "snapshots", out_dir / "snapshots")
    final, source = history[-1], run.source
    meta = provenance.record(
        {**run.model_cfg, "resources": run.resources}, gpus_seen=_gpu_names(),
        name=run.name, kind=run.kind, image_size=run.image_size, hparams=run.hparams,
        paper_exact=run.model_cfg["paper_exact"], seed=training["seed"],
        parameters=int(network.count_params()), device=run.device, replicas=run.strategy.num_replicas_in_sync,
        mixed_precision=run.mixed, jit_compile=run.jit,
        training_seconds=round(sum(row["seconds"] for row in history), 3),
        epochs=int(final["epoch"]), steps=total_steps, resumed_from_step=start or None,
        main_loss=trainer.MAIN_LOSS, final_losses={key: final[key] for key in loss_names},
        masks={"protocol": source.protocol, "recipe": source.recipe, "seed": source.seed},
    )
    provenance.write_json(out_dir / models.META_FILE, meta)
    run.logger.info("%s: done, %d steps, %s=%.5g, %d parameters -> %s", run.name, total_steps,
                    trainer.MAIN_LOSS, final[trainer.MAIN_LOSS], meta["parameters"], out_dir)
    return meta
