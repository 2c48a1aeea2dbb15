"""The training job on real TFRecords: outputs, resume after SIGTERM, non-finite stop, and the rule."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from conftest import ROOT, TINY_CONFIG, copy_workflow, snakemake
from inpaintbench import models, training
from inpaintbench.config import default_masks, load_config
from inpaintbench.data import masks, tfrecords
from inpaintbench.train_config import model_resource, state_dir
from test_paper_models import SMALL, photo_batch

SIZE = 16


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Two train shards (24 photo crops) and one val shard (6) at 16 px."""
    folder = tmp_path_factory.mktemp("records")
    photos, _ = photo_batch(SIZE, count=30)
    paths = {"train": [folder / "train-0.tfrecord", folder / "train-1.tfrecord"],
             "val": [folder / "val-0.tfrecord"]}
    shard_of = [paths["train"][0]] * 12 + [paths["train"][1]] * 12 + [paths["val"][0]] * 6
    writers = {path: tfrecords.writer(path) for path in shard_of}
    for i, (photo, path) in enumerate(zip(photos, shard_of)):
        writers[path].write(tfrecords.serialize(np.round(photo * 255).astype(np.uint8), f"img{i}", "demo"))
    for writer in writers.values():
        writer.close()
    return {split: [str(p) for p in split_paths] for split, split_paths in paths.items()}


def model_cfg(kind="gan_paper", **training_cfg):
    return {"kind": kind, "hparams": SMALL.get(kind, {}),
            "training": {"batch_size": 4, "epochs": 3, "steps_per_epoch": 2, "checkpoint_every": 2,
                         "snapshot_epochs": [1, 3], "snapshot_images": 3, **training_cfg}}


def run(tmp_path, records, name="gan_paper", cfg=None):
    return training.train(name, cfg or model_cfg(), SIZE, records["train"], records["val"],
                          tmp_path / "models" / name, state_dir=tmp_path / "state" / name,
                          log_path=tmp_path / f"{name}.log")


def restored(kind, cfg, state):
    """A fresh trainer with the latest checkpoint of `state` restored, and its step counter."""
    trainer = models.build_trainer(kind, SIZE, cfg["hparams"], cfg.get("paper_exact", False), seed=5)
    step = tf.Variable(0, dtype=tf.int64)
    latest = tf.train.latest_checkpoint(Path(state) / "checkpoints")
    tf.train.Checkpoint(model=trainer, step=step).restore(latest).assert_existing_objects_matched()
    return trainer, int(step)


def test_training_writes_the_model_folder(tmp_path, records):
    meta = run(tmp_path, records)
    out = tmp_path / "models" / "gan_paper"
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "meta.json", "model.keras", "snapshots"]
    assert json.loads((out / "meta.json").read_text()) == json.loads(json.dumps(meta, default=str))
    for key in ("name", "kind", "image_size", "hparams", "paper_exact", "config", "seed", "parameters",
                "device", "versions", "git_commit", "training_seconds", "epochs", "steps", "final_losses"):
        assert key in meta, key
    assert (meta["kind"], meta["image_size"], meta["steps"], meta["epochs"], meta["device"]) == \
        ("gan_paper", SIZE, 6, 3, "CPU")
    assert meta["hparams"] == models.resolve_hparams("gan_paper", SMALL["gan_paper"])
    assert meta["versions"]["tensorflow"] == tf.__version__

    history = pd.read_csv(out / "history.csv")
    assert list(history.columns) == ["epoch", "step", "d_loss", "g_loss", "repair_loss", "seconds", "images_per_s"]
    assert history["epoch"].tolist() == [1, 2, 3] and history["step"].tolist() == [2, 4, 6]
    assert (history["images_per_s"] > 0).all() and np.isfinite(history.to_numpy()).all()
    assert meta["final_losses"]["repair_loss"] == pytest.approx(history["repair_loss"].iloc[-1])

    reference = np.load(out / "snapshots" / "reference.npz")
    assert reference["original"].shape == (3, SIZE, SIZE, 3) and reference["original"].dtype == np.uint8
    np.testing.assert_array_equal(reference["damaged"], reference["original"] * (1 - reference["mask"]))
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == \
        ["epoch_00001.npz", "epoch_00003.npz", "reference.npz"]
    last = np.load(out / "snapshots" / "epoch_00003.npz")["inpainted"]
    model = models.load(out)
    known = reference["mask"] == 0
    np.testing.assert_array_equal(np.broadcast_to(known, last.shape) * last,
                                  np.broadcast_to(known, last.shape) * reference["original"])
    again = model(reference["damaged"] / 255.0, reference["mask"].astype(np.float32))
    np.testing.assert_allclose(again, last / 255.0, atol=1 / 255 + 1e-6)

    trainer, step = restored("gan_paper", model_cfg(), tmp_path / "state" / "gan_paper")
    assert step == 6
    assert [int(o.iterations) for o in (trainer.generator_optimizer, trainer.discriminator_optimizer,
                                         trainer.repair_optimizer)] == [6, 6, 6]
    log = (tmp_path / "gan_paper.log").read_text()
    assert "epoch 3/3 step 6/6" in log and "checkpoint at step 6 (end of training)" in log
    events = list((tmp_path / "state" / "gan_paper" / "tensorboard").glob("events.out.tfevents.*"))
    tags = {value.tag for path in events for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value}
    assert {"d_loss", "g_loss", "repair_loss", "images_per_s"} <= tags

    rerun = run(tmp_path, records)  # everything done: resumes at the end and only rewrites outputs
    assert rerun["resumed_from_step"] == 6
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2, 3]


def test_meta_records_the_resources_the_job_had_and_the_gpus_it_saw(tmp_path, records):
    """Not the schema's defaults (threads 4, mem_mb 16000, runtime 720, gpus 1) that validation fills in."""
    cfg = model_cfg("diffusion_paper", epochs=1, steps_per_epoch=1, snapshot_epochs=[])
    meta = training.train("m", cfg, SIZE, records["train"], records["val"], tmp_path / "out",
                          state_dir=tmp_path / "state", log_path=tmp_path / "train.log",
                          threads=1, gpus=3, mem_mb=2000, runtime=10)
    assert meta["config"]["resources"] == {"threads": 1, "gpus": 3, "mem_mb": 2000, "runtime": 10}
    assert meta["gpus_seen"] == [] and meta["replicas"] == 1  # this machine has no GPU
    assert "asked for 3 GPUs, training on 1 replica(s)" in (tmp_path / "train.log").read_text()
    unknown = training.train("m", cfg, SIZE, records["train"], records["val"], tmp_path / "out2",
                             state_dir=tmp_path / "state2")
    assert unknown["config"]["resources"] == {"threads": None, "gpus": 1, "mem_mb": None, "runtime": None}


def test_a_model_trains_on_fresh_masks_of_its_protocol_and_snapshots_its_fixed_ones(tmp_path, records):
    recipe = {**default_masks()["protocols"]["lama_thick"], "max_area": 0.3}
    trained_on = {"protocol": "lama_thick", "recipe": recipe, "seed": 11}
    cfg = model_cfg("diffusion_paper", masks="lama_thick")
    meta = training.train("diffusion_paper", cfg, SIZE, records["train"], records["val"], tmp_path / "out",
                          state_dir=tmp_path / "state", log_path=tmp_path / "train.log", masks=trained_on)
    assert meta["masks"] == trained_on and meta["config"]["training"]["masks"] == "lama_thick"
    assert "lama_thick masks (fresh per image per step)" in (tmp_path / "train.log").read_text()
    reference = np.load(tmp_path / "out" / "snapshots" / "reference.npz")
    first_val = [f"img{i}" for i in range(24, 27)]  # the val shard's first images, in order
    np.testing.assert_array_equal(reference["mask"][..., 0], np.stack(
        [masks.protocol_mask(i, SIZE, "lama_thick", recipe, 11) for i in first_val]))
    with pytest.raises(ValueError, match=r"training.masks is 'square' but the masks given are protocol 'lama_thick'"):
        training.train("m", model_cfg("diffusion_paper"), SIZE, records["train"], records["val"], tmp_path / "o2",
                       state_dir=tmp_path / "s2", masks=trained_on)


def test_one_epoch_is_one_pass_over_the_train_split_by_default(tmp_path, records):
    meta = run(tmp_path, records, "diffusion_paper",
               model_cfg("diffusion_paper", steps_per_epoch=None, epochs=2, batch_size=5, snapshot_epochs=[]))
    assert meta["steps"] == 2 * (24 // 5)
    assert pd.read_csv(tmp_path / "models" / "diffusion_paper" / "history.csv")["step"].tolist() == [4, 8]


@pytest.mark.parametrize("kind", SMALL)
def test_gpu_settings_mixed_precision_and_xla_also_run_on_cpu(tmp_path, records, kind):
    cfg = model_cfg(kind, epochs=2, mixed_precision=True, jit_compile=True, snapshot_epochs=[2])
    meta = run(tmp_path, records, kind, cfg)
    assert (meta["mixed_precision"], meta["jit_compile"]) == (True, True)
    assert all(np.isfinite(v) for v in meta["final_losses"].values())
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for the caller
    reference = np.load(tmp_path / "models" / kind / "snapshots" / "reference.npz")
    filled = models.load(tmp_path / "models" / kind)(reference["damaged"] / 255.0,
                                                     reference["mask"].astype(np.float32),
                                                     original=reference["original"] / 255.0)
    assert filled.shape == (3, SIZE, SIZE, 3) and np.isfinite(filled).all()


@pytest.mark.slow
def test_training_on_two_devices():
    """tests/two_devices.py in its own process: it splits the CPU into two logical devices, which
    must happen before TensorFlow starts (MirroredStrategy then runs two replicas, as on two GPUs)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                             str(ROOT / "tests" / "two_devices.py")], cwd=ROOT, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]


@pytest.mark.bad_input
def test_bad_snapshot_epochs_are_named(tmp_path, records):
    with pytest.raises(ValueError, match=r"models.gan_paper.training.snapshot_epochs: \[7\] beyond training.epochs=3"):
        run(tmp_path, records, cfg=model_cfg(snapshot_epochs=[1, 7]))


@pytest.mark.bad_input
def test_a_batch_larger_than_the_train_split_is_an_error_naming_both(tmp_path, records):
    """24 train images and a batch of 25: the pipeline would repeat images inside a batch."""
    with pytest.raises(ValueError, match=r"training.batch_size=25 is larger than the train split \(24 images\)"):
        run(tmp_path, records, cfg=model_cfg(batch_size=25))
    assert "batch_size=25 is larger than the train split (24 images)" in (tmp_path / "gan_paper.log").read_text()
    assert not (tmp_path / "models").exists()


# Every kind, with dropout, shuffled data and augmentation: what must reproduce bit for bit.
SHORT = {"epochs": 2, "snapshot_epochs": []}
EVERY_KIND = {
    **{kind: model_cfg(kind, **SHORT) for kind in SMALL},
    "gan": {**model_cfg("gan", **SHORT), "hparams": {"channels": 8, "depth": 2, "dilations": [2],
                                                     "disc_channels": 8, "disc_layers": 2}},
    "diffusion": {**model_cfg("diffusion", augment=True, **SHORT),
                  "hparams": {"timesteps": 50, "channels": 8, "channel_mults": [1], "res_blocks": 1,
                              "dropout": 0.1, "sampling_steps": 4, "samples": 2}},
}
TRAIN_EVERY_KIND = """
import sys, json
from inpaintbench.runtime import start_tensorflow
start_tensorflow()
from inpaintbench.training import train
args = json.loads(sys.argv[1])
for name, cfg in args["cfgs"].items():
    train(name, cfg, args["size"], args["train"], args["val"], f"{args['out']}/{name}",
          state_dir=f"{args['out']}/state/{name}")
"""


@pytest.mark.slow
def test_cpu_training_is_bit_identical_for_the_same_config_and_seed(tmp_path, records):
    """Two processes (with different hash seeds) train every kind from scratch: same weights, same losses,
    same snapshots, and the same evaluation metrics of the stochastic sampler."""
    from inpaintbench.evaluation import evaluate

    runs = []
    for attempt in ("a", "b"):
        out = tmp_path / attempt
        args = json.dumps({"cfgs": EVERY_KIND, "size": SIZE, "out": str(out), **records})
        env = {**os.environ, "PYTHONHASHSEED": str(len(attempt) + ord(attempt))}
        result = subprocess.run([sys.executable, "-c", TRAIN_EVERY_KIND, args], env=env, capture_output=True,
                                text=True, timeout=900, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(out)
    for name in EVERY_KIND:
        first, second = (models.load(out / name).network.get_weights() for out in runs)
        assert len(first) == len(second) > 0
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b, err_msg=name)
        histories = [pd.read_csv(out / name / "history.csv").drop(columns=["seconds", "images_per_s"]) for out in runs]
        pd.testing.assert_frame_equal(*histories)
        for snapshot in (runs[0] / name / "snapshots").iterdir():
            for key, array in np.load(snapshot).items():
                np.testing.assert_array_equal(array, np.load(runs[1] / name / "snapshots" / snapshot.name)[key])
    metrics = []
    for out in runs:
        evaluate("diffusion", records["val"], SIZE, {"limit": None, "save_images": 0, "seed": 0, "batch_size": 4},
                 model_dir=out / "diffusion", metrics_csv=out / "metrics.csv", summary_json=out / "summary.json",
                 images_dir=out / "inpainted")
        metrics.append(pd.read_csv(out / "metrics.csv").drop(columns=["seconds"]))
    pd.testing.assert_frame_equal(*metrics)


TRAIN_SCRIPT = """
import sys, json
from inpaintbench.training import train
args = json.loads(sys.argv[1])
train(args["name"], args["cfg"], args["size"], args["train"], args["val"], args["out"], state_dir=args["state"],
      log_path=args["log"])
"""


def interrupted_job(script: str, args: str, log: Path, checkpoint: int, signum=signal.SIGTERM) -> str:
    """Run the training `script` in a subprocess and send it `signum` once it has checkpointed step
    `checkpoint`; it must stop with TrainingInterrupted. Returns its log."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    job = subprocess.Popen([sys.executable, "-c", script, args], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while f"checkpoint at step {checkpoint} " not in (log.read_text() if log.exists() else ""):
        assert job.poll() is None and time.time() < deadline, job.communicate()
        time.sleep(0.05)
    job.send_signal(signum)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode != 0 and "TrainingInterrupted" in stderr, stderr[-3000:]
    return log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT (Ctrl-C)"])
def test_an_interruption_saves_a_checkpoint_and_a_rerun_resumes(tmp_path, records, signum):
    """SLURM's SIGTERM and a user's Ctrl-C alike: the step finishes, a checkpoint is saved, the log says so."""
    name = signal.Signals(signum).name
    total = 400
    cfg = model_cfg(epochs=total // 2, checkpoint_every=25, snapshot_epochs=[1, total // 2])
    state, out, log = tmp_path / "state", tmp_path / "out", tmp_path / "train.log"
    args = json.dumps({"name": "gan_paper", "cfg": cfg, "size": SIZE, "out": str(out), "state": str(state),
                       "log": str(log), **records})
    first = interrupted_job(TRAIN_SCRIPT, args, log, checkpoint=50, signum=signum)
    stopped = int(first.split(f"{name} at step ")[1].split(";")[0])
    assert 50 <= stopped < total, "the job was meant to be cut short"
    # the checkpoint kept is the stopped step's: saved for the signal, or already by checkpoint_every
    assert f"{name} at step {stopped}; last checkpoint step {stopped};" in first
    assert f"TrainingInterrupted: gan_paper: stopped by {name} at step {stopped}; rerun to resume" in first
    assert not out.exists()
    assert restored("gan_paper", cfg, state)[1] == stopped

    rerun = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, args], capture_output=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resumed from step {stopped} " in log.read_text()
    trainer, step = restored("gan_paper", cfg, state)
    assert step == total
    assert [int(o.iterations) for o in (trainer.generator_optimizer, trainer.discriminator_optimizer,
                                         trainer.repair_optimizer)] == [total] * 3
    history = pd.read_csv(out / "history.csv")
    assert history["epoch"].tolist() == list(range(1, total // 2 + 1))
    assert history["step"].tolist() == list(range(2, total + 1, 2))
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["steps"], meta["resumed_from_step"]) == (total, stopped)
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == \
        ["epoch_00001.npz", f"epoch_{total // 2:05d}.npz", "reference.npz"]


def test_a_second_ctrl_c_stops_at_once():
    """The first SIGINT waits for the step to end; a user who presses Ctrl-C again does not wait."""
    previous = signal.getsignal(signal.SIGINT)
    with training._Interrupt() as interrupt:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        assert interrupt.received == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    assert signal.getsignal(signal.SIGINT) is previous


def diverge(tmp_path, records, kind, cfg):
    """Train until TrainingDiverged; returns (message, failing step, step of the checkpoint left)."""
    with pytest.raises(training.TrainingDiverged) as caught:
        run(tmp_path, records, kind, cfg)
    message = str(caught.value)
    assert str(tmp_path / "state" / kind / "checkpoints") in message
    bad_step = int(message.split(" at step ")[1].split(";")[0])
    kept = int(message.split("last good checkpoint: step ")[1].split(" ")[0])
    assert f"{kind}: " in (tmp_path / f"{kind}.log").read_text().split("ERROR")[1]
    assert not (tmp_path / "models" / kind).exists()
    return message, bad_step, kept


def assert_good_checkpoint(kind, cfg, state, kept, records):
    """The checkpoint left restores, and its weights give a finite loss on a real batch."""
    trainer, step = restored(kind, cfg, state)
    assert step == kept
    batch = next(iter(tfrecords.load_dataset(records["train"], 4, SIZE)))
    losses = trainer.train_step(batch)
    assert all(np.isfinite(float(v)) for v in losses.values())


def test_a_non_finite_loss_stops_with_a_clear_error_and_leaves_a_good_checkpoint(tmp_path, records):
    cfg = model_cfg("gan_paper", epochs=20, steps_per_epoch=1, checkpoint_every=1, snapshot_epochs=[])
    cfg["hparams"] = {**cfg["hparams"], "repair_learning_rate": 1e30}
    message, bad_step, kept = diverge(tmp_path, records, "gan_paper", cfg)
    assert message.startswith("gan_paper: non-finite repair_loss=nan at step ")
    assert kept == bad_step - 2  # the checkpoint of the weights that gave NaN is gone
    assert_good_checkpoint("gan_paper", cfg, tmp_path / "state" / "gan_paper", kept, records)


def test_a_loss_above_stop_loss_above_stops_like_a_non_finite_one(tmp_path, records):
    """The diffusion model's tanh saturates instead of overflowing: a huge learning rate drives its
    loss up, not to NaN; training.stop_loss_above catches that divergence."""
    cfg = model_cfg("diffusion_paper", epochs=20, steps_per_epoch=1, checkpoint_every=1, snapshot_epochs=[],
                    stop_loss_above=0.5)
    cfg["hparams"] = {**cfg["hparams"], "learning_rate": 1e30}
    message, bad_step, kept = diverge(tmp_path, records, "diffusion_paper", cfg)
    assert message.startswith("diffusion_paper: repair_loss=") and "above training.stop_loss_above=0.5" in message
    assert kept == bad_step - 2
    assert_good_checkpoint("diffusion_paper", cfg, tmp_path / "state" / "diffusion_paper", kept, records)


def test_state_folder_follows_the_settings_but_not_the_resources():
    config = load_config(TINY_CONFIG)
    base = state_dir(config, "gan_paper")
    assert base.startswith("results/training/gan_paper/")
    config["models"]["gan_paper"]["resources"].update(threads=8, gpus=4)
    config["masks"]["protocols"]["lama_thick"]["max_area"] = 0.4  # a protocol it does not train on
    assert state_dir(config, "gan_paper") == base
    config["masks"]["protocols"]["square"]["side"] = [0.3, 0.5]  # the one it trains on
    assert state_dir(config, "gan_paper") != base
    base = state_dir(config, "gan_paper")
    config["models"]["gan_paper"]["hparams"]["noise_dim"] = 3
    assert state_dir(config, "gan_paper") != base
    assert (model_resource(config, "gan_paper", "threads"), model_resource(config, "gan_paper", "gpus")) == (8, 4)
    config["models"]["gan_paper"]["resources"] = {"threads": 2}
    assert (model_resource(config, "gan_paper", "mem_mb"), model_resource(config, "gan_paper", "gpus")) == (16000, 1)


@pytest.mark.slow
def test_workflow_trains_every_enabled_model_and_reruns_only_an_edited_one(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {name: entry for name, entry in config["models"].items()
                        if entry["kind"] in ("gan_paper", "diffusion_paper")}
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "train_all", "--cores", "2", "--configfile", "tiny.yaml")
    for name in config["models"]:
        meta = json.loads((workdir / "results" / "models" / name / "meta.json").read_text())
        assert meta["name"] == name and meta["config"]["hparams"] == config["models"][name]["hparams"]
        assert (workdir / "results" / "benchmarks" / "train" / f"{name}.tsv").is_file()
        assert "done, 6 steps" in (workdir / "results" / "logs" / "train" / f"{name}.log").read_text()
    config["models"]["gan_paper"]["hparams"]["noise_dim"] = 4
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    plan = snakemake(workdir, "train_all", "-n", "--configfile", "tiny.yaml").stdout
    assert sorted(re.findall(r"^(?:local)?rule (\w+):", plan, flags=re.M)) == ["train", "train_all"]
    assert "wildcards: model=gan_paper" in plan and "model=gan_paper_exact" not in plan


def test_each_training_job_asks_for_its_gpus_and_its_configured_resources(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["gan_paper"]["resources"] = {"threads": 3, "mem_mb": 1234, "gpus": 2}  # runtime: the default
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config))
    plan = snakemake(workdir, "train_all", "-n", "--cores", "8", "--configfile", "tiny.yaml").stdout
    jobs = {block.split("wildcards: model=")[1].split()[0]: block
            for block in plan.split("rule train:")[1:]}
    assert sorted(jobs) == sorted(config["models"])
    for name, block in jobs.items():
        assert re.search(rf"\bgpu={2 if name == 'gan_paper' else 1}\b", block), block
    assert re.search(r"threads: 3\b", jobs["gan_paper"]) and "mem_mb=1234" in jobs["gan_paper"]
    assert "runtime=720" in jobs["gan_paper"]
    assert "mem_mb=2000" in jobs["diffusion_paper"] and "runtime=10" in jobs["diffusion_paper"]
