"""examples/my_model.py, README.md's "Add your own model": registered by its module path as a user
registers theirs, trained through the training job, evaluated, and planned by Snakemake; and the one
line a config gets when its kind is neither built in nor importable."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import ROOT, TINY_CONFIG, copy_workflow, snakemake
from inpaintbench import models, training
from inpaintbench.config import ConfigError, validate_config
from inpaintbench.data import tfrecords
from inpaintbench.data.images import to_uint8
from inpaintbench.evaluation import evaluate, image_filename
from test_training import SIZE, records  # noqa: F401 (a fixture: 24 train and 6 val photo crops at 16 px)

EXAMPLES = ROOT / "examples"
KIND = "my_model"  # examples/my_model.py, with EXAMPLES on the Python path
MODEL = {"kind": KIND, "hparams": {"channels": 16},  # epochs of one pass over the 24 train images, 6 steps
         "training": {"batch_size": 4, "epochs": 10, "steps_per_epoch": None, "checkpoint_every": 30}}


@pytest.fixture
def on_path(monkeypatch):
    """examples/ on the Python path, as PYTHONPATH=examples puts it for a run."""
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_the_example_trains_through_the_training_job_and_evaluates(tmp_path, records, on_path):  # noqa: F811
    out = tmp_path / "models" / "mine"
    meta = training.train("mine", MODEL, SIZE, records["train"], records["val"], out, state_dir=tmp_path / "state")
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "meta.json", "model.keras", "snapshots"]
    assert (meta["kind"], meta["main_loss"], meta["steps"]) == (KIND, "hole_l1", 60)
    assert meta["hparams"] == {**models.module(KIND).DEFAULTS, "channels": 16}
    losses = pd.read_csv(out / "history.csv")["hole_l1"].to_numpy()
    assert len(losses) == 10 and np.isfinite(losses).all()
    assert losses[-1] < 0.85 * losses[0] and losses[5:].mean() < losses[:5].mean(), losses  # it learns

    folder = tmp_path / "evaluation"
    summary = evaluate("mine", records["val"], SIZE, {"batch_size": 4, "limit": None, "save_images": 6, "seed": 0},
                       model_dir=out, metrics_csv=folder / "metrics.csv", summary_json=folder / "summary.json",
                       images_dir=folder / "images")
    rows = pd.read_csv(folder / "metrics.csv", dtype={"id": str})
    assert summary["kind"] == KIND and summary["n"] == len(rows) == 6
    assert np.isfinite(rows[["psnr", "hole_psnr", "hole_l1"]].to_numpy()).all()
    batch = next(iter(tfrecords.load_dataset(records["val"], 6, SIZE, with_meta=True)))
    for image_id, image, mask in zip(batch["id"].numpy(), batch["image"].numpy(), batch["mask"].numpy()):
        pixels = np.asarray(Image.open(folder / "images" / image_filename(image_id.decode())))
        known, original = mask[..., 0] == 0, to_uint8(image)
        np.testing.assert_array_equal(pixels[known], original[known])  # known pixels unchanged
        assert pixels[~known].mean() > 10  # the hole is filled, not left black


def test_snakemake_plans_training_and_evaluating_the_example_with_it_on_pythonpath(tmp_path, monkeypatch):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {"mine": {**MODEL, "resources": config["models"]["gan"]["resources"]}}
    workdir = copy_workflow(tmp_path / "run")
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES), prepend=os.pathsep)
    plan = snakemake(workdir, "-n", "--configfile", "mine.yaml").stdout
    assert re.search(r"rule train:.*?wildcards: model=mine\b", plan, flags=re.S)
    for protocol in config["evaluation"]["protocols"]:
        assert re.search(rf"rule evaluate:.*?wildcards: protocol={protocol}, method=mine\b", plan, flags=re.S)


@pytest.mark.slow
def test_the_readme_example_without_snapshot_epochs_runs_the_default_target_to_the_end(tmp_path, monkeypatch):
    """README's own-model config as written sets no snapshot_epochs: the report gets its training curves,
    a snapshots figure saying there are none and a front-page note, not a failed model_figures job."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {"mine": {"kind": KIND, "hparams": {"channels": 8, "layers": 2},
                                 "training": {"batch_size": 8, "epochs": 2, "steps_per_epoch": 2},
                                 "resources": config["models"]["gan"]["resources"]}}
    config["evaluation"].update(protocols=["square"], baselines=["black"])
    workdir = copy_workflow(tmp_path / "run")
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("PYTHONPATH", str(EXAMPLES), prepend=os.pathsep)
    snakemake(workdir, "--cores", "2", "--configfile", "mine.yaml")
    figures = workdir / "results/figures/mine"
    assert sorted(p.name for p in figures.iterdir()) == ["snapshots.png", "training_curves.png"]
    page = (workdir / "results/report/front_page.html").read_text()
    assert "No training snapshots (training.snapshot_epochs is empty) of: mine." in page


def config_with(model: dict) -> dict:
    return {"data": {"image_size": SIZE}, "masks": {}, "models": {"mine": model}}


@pytest.mark.bad_input
@pytest.mark.parametrize("kind, why", [(KIND, "no module named 'my_model' on the Python path"),  # examples/ not on it
                                       ("mypackage.my_model", "No module named 'mypackage'")])
def test_a_kind_that_is_neither_built_in_nor_importable_is_one_line_naming_the_key(kind, why, monkeypatch):
    monkeypatch.delitem(sys.modules, KIND, raising=False)  # as in a process without examples/ on the path
    with pytest.raises(ConfigError) as error:
        validate_config(config_with({"kind": kind}), "my.yaml")
    assert str(error.value) == (f"my.yaml: key models.mine.kind: model kind {kind!r} is not one of gan_paper, "
                                f"diffusion_paper, gan, diffusion nor an importable module ({why})")


@pytest.mark.bad_input
def test_a_kind_that_is_no_module_path_is_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"my.yaml: key models.mine.kind: .* does not match"):
        validate_config(config_with({"kind": "my-model"}), "my.yaml")


@pytest.mark.bad_input
def test_the_examples_hparams_are_checked_against_its_defaults(on_path):
    assert validate_config(config_with(MODEL))["models"]["mine"]["kind"] == KIND  # and a good one passes
    with pytest.raises(ConfigError, match=r"^my.yaml: key models.mine.hparams: hparams of kind my_model: "
                                          r"unknown key\(s\) width$"):
        validate_config(config_with({"kind": KIND, "hparams": {"width": 8}}), "my.yaml")


def check_config(config: dict, folder, python_path) -> subprocess.CompletedProcess:
    """`inpaintbench check-config` of `config` written in `folder`, `python_path` on PYTHONPATH."""
    path = folder / "my.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(python_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "inpaintbench.cli", "check-config", str(path)],
                          capture_output=True, text=True, env=env, check=False, cwd=folder)


def test_check_config_imports_the_example_without_tensorflows_start_up_lines(tmp_path):
    result = check_config(config_with(MODEL), tmp_path, EXAMPLES)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"{tmp_path / 'my.yaml'}: valid; models: mine; ")


BROKEN_MODULES = {  # a module of your own as it may be broken, and what the one line says of it
    "syntax_error": ("DEFAULTS = {'channels': 8\n", ", line 1: not valid Python: "),
    "raises_on_import": ("raise RuntimeError('needs a GPU')\nDEFAULTS = {}\n",
                         ": importing it raised RuntimeError: needs a GPU"),
    "defaults_not_literal": ("import math\n\nDEFAULTS = dict(channels=8, scale=math.pi)\n",
                             ", line 3: DEFAULTS is not a literal (write it out as {key: value, ...}"),
    "unknown_family": ("DEFAULTS = {}\nFAMILY = 'transformer'\n",
                       ": FAMILY 'transformer' is not one of gan, diffusion, classical, other"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BROKEN_MODULES)
def test_a_broken_model_module_is_one_line_naming_its_file_and_the_model(case, tmp_path):
    """`inpaintbench check-config` (which imports kinds of your own) exits 2 with one line, no traceback."""
    source, message = BROKEN_MODULES[case]
    (tmp_path / f"broken_{case}.py").write_text(source)
    config = tmp_path / "my.yaml"
    result = check_config(config_with({"kind": f"broken_{case}"}), tmp_path, tmp_path)
    assert (result.returncode, result.stdout, result.stderr.count("\n")) == (2, "", 1), result.stderr
    expected = f"inpaintbench: error: {config}: key models.mine.kind: {tmp_path / f'broken_{case}.py'}{message}"
    assert result.stderr.startswith(expected), result.stderr


@pytest.mark.bad_input
def test_a_module_that_raises_on_import_fails_its_training_job_in_one_line_naming_the_model(
        tmp_path, records, monkeypatch):  # noqa: F811
    """Validation does not import a module (no TensorFlow in the Snakefile): its training job names it."""
    (tmp_path / "raises_on_import.py").write_text(BROKEN_MODULES["raises_on_import"][0])
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError) as error:
        training.train("mine", {**MODEL, "kind": "raises_on_import", "hparams": {}}, SIZE, records["train"],
                       records["val"], tmp_path / "out", state_dir=tmp_path / "state", log_path=tmp_path / "mine.log")
    message = f"mine: {tmp_path / 'raises_on_import.py'}: importing it raised RuntimeError: needs a GPU"
    assert str(error.value) == message
    assert (tmp_path / "mine.log").read_text().splitlines()[-1].endswith(f"ERROR ValueError: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.bad_input
def test_a_package_that_raises_on_import_is_one_line_naming_the_model(tmp_path, monkeypatch):
    """Finding `mypackage.my_model` imports `mypackage`: its error is the config check's one line."""
    (tmp_path / "failing_package").mkdir()
    (tmp_path / "failing_package" / "__init__.py").write_text("raise RuntimeError('no\\nCUDA')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as error:
        validate_config(config_with({"kind": "failing_package.my_model"}), "my.yaml")
    assert str(error.value) == ("my.yaml: key models.mine.kind: model kind 'failing_package.my_model' is not one of "
                                "gan_paper, diffusion_paper, gan, diffusion nor an importable module (importing its "
                                "package raised RuntimeError: no CUDA)")
