"""`snakemake export` on the tiny config (data stage and export only): the frozen test set as files, byte for byte
the same across runs, shard layouts and other protocols; the pixels and masks the benchmark scores; a round trip
through files made elsewhere (biharmonic, file by file) scored as the library scores."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import TINY_CONFIG, copy_workflow, snakemake
from inpaintbench import cli, export, metrics
from inpaintbench.data import tfrecords
from inpaintbench.data.images import to_uint8
from inpaintbench.data.masks import MaskSource
from inpaintbench.inpaint import inpaint_file

pytestmark = pytest.mark.slow
PROTOCOLS = ("square", "lama_thick")


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def _config(workdir: Path, name: str, **changes) -> str:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["data"]["shards"] = changes.get("shards", config["data"]["shards"])
    config["evaluation"]["protocols"] = changes.get("protocols", config["evaluation"]["protocols"])
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


def _test_shards(workdir: Path) -> list[Path]:
    """The test split's shards of the tiny config (two), not the one-shard run's left beside them."""
    return [workdir / "results" / "data" / "tfrecords" / tfrecords.shard_name("test", i, 2) for i in range(2)]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """(workflow folder, {run: files of results/export}): the tiny export, again forced, with one shard and one
    protocol, and back to the tiny config."""
    workdir = copy_workflow(tmp_path_factory.mktemp("export"))
    runs, made = {}, {}
    for run, config, extra in (("first", _config(workdir, "tiny.yaml"), ()),
                               ("again", "tiny.yaml", ("--forcerun", "export_protocol")),
                               ("one_shard", _config(workdir, "one.yaml", shards=1, protocols=["lama_thick"]), ())):
        snakemake(workdir, "export", "--cores", "2", "--configfile", config, *extra)
        runs[run] = _files(workdir / "results" / "export")
        made[run] = (workdir / "results" / "export" / "lama_thick" / "export.json").stat().st_mtime_ns
    snakemake(workdir, "export", "--cores", "2", "--configfile", "tiny.yaml")  # back to two shards
    runs["back"] = _files(workdir / "results" / "export")
    assert made["first"] < made["again"] < made["one_shard"]  # each run wrote its export anew
    assert (workdir / "results" / "data" / "tfrecords" / tfrecords.shard_name("test", 0, 1)).is_file()
    return workdir, runs


def test_export_is_byte_identical_across_runs_shard_layouts_and_other_protocols(exports):
    _, runs = exports
    assert {name.split("/")[0] for name in runs["first"]} == set(PROTOCOLS)
    assert runs["again"] == runs["first"] == runs["back"]
    def thick(files):
        return {name: data for name, data in files.items() if name.startswith("lama_thick/")}

    assert len(thick(runs["first"])) == 2 * 14 + 3  # images, masks, manifest, export.json, Snakemake's stamp
    assert thick(runs["one_shard"]) == thick(runs["first"])


def test_export_holds_the_pixels_and_masks_the_benchmark_scores(exports):
    workdir, runs = exports
    test_paths = _test_shards(workdir)
    masks = MaskSource("lama_thick", json.loads(runs["first"]["lama_thick/export.json"])["recipe"], 1234)
    folder = workdir / "results" / "export" / "lama_thick"
    with open(folder / "manifest.csv", newline="") as handle:
        manifest = list(csv.DictReader(handle))
    originals = {i.decode(): image for batch in tfrecords.load_dataset(test_paths, 8, 32, with_meta=True)
                 for i, image in zip(batch["id"].numpy(), to_uint8(batch["image"].numpy()))}
    assert sorted(originals) == [row["id"] for row in manifest]
    for row in manifest:
        image, mask = Image.open(folder / row["image_file"]), Image.open(folder / row["mask_file"])
        assert (image.mode, image.size, mask.mode) == ("RGB", (32, 32), "L")
        assert np.array_equal(np.asarray(image), originals[row["id"]])
        hole = masks.image_mask(row["id"], 32).astype(bool)
        assert np.array_equal(np.asarray(mask), np.where(hole, 255, 0))  # hole_white, the default
        assert float(row["hole_fraction"]) == hole.mean()
        for column, name in (("image_sha256", row["image_file"]), ("mask_sha256", row["mask_file"])):
            assert row[column] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    record = json.loads(runs["first"]["lama_thick/export.json"])
    assert record["protocol"] == "lama_thick" and record["masks_seed"] == 1234 and record["image_size"] == 32
    assert record["mask_polarity"] == "hole_white" and record["images"] == len(manifest)
    assert record["data"]["source"] == "demo" and "inpaintbench_version" in record and "created" not in record


def test_keep_white_export_inverts_the_masks_only(exports, tmp_path):
    workdir, runs = exports
    test_paths = _test_shards(workdir)
    record = json.loads(runs["first"]["square/export.json"])
    params = {"masks": {"protocol": "square", "recipe": record["recipe"], "seed": record["masks_seed"]},
              "image_size": 32, "limit": None, "mask_polarity": "keep_white", "data": record["data"]}
    export.export_protocol(test_paths, tmp_path, params)
    ours = workdir / "results" / "export" / "square"
    masks = sorted(path.name for path in ours.glob("*_mask.png"))
    assert masks and masks == sorted(path.name for path in tmp_path.glob("*_mask.png"))
    for name in masks:
        assert np.array_equal(255 - np.asarray(Image.open(tmp_path / name)), np.asarray(Image.open(ours / name)))
        image = name.removesuffix("_mask.png") + ".png"
        assert (tmp_path / image).read_bytes() == (ours / image).read_bytes()
    assert json.loads((tmp_path / "export.json").read_text())["mask_polarity"] == "keep_white"


def _planned(workdir: Path, config: str) -> set[str]:
    """The rules `snakemake export` would run with `config`."""
    result = snakemake(workdir, "export", "-n", "--quiet", "rules", "--configfile", config)
    return {line.split()[0] for line in result.stdout.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()} - {"total"}


def test_changing_the_polarity_reruns_the_exports_alone(exports):
    workdir, _ = exports
    assert _planned(workdir, "tiny.yaml") == set()
    config = yaml.safe_load((workdir / "tiny.yaml").read_text())
    config["export"] = {"mask_polarity": "keep_white"}
    (workdir / "keep.yaml").write_text(yaml.safe_dump(config))
    assert _planned(workdir, "keep.yaml") == {"export_protocol", "export"}


def test_round_trip_through_files_scores_as_the_library(exports, tmp_path):
    """Fill the exported set with biharmonic file by file (as another project would), then score the folder."""
    workdir, _ = exports
    folder = workdir / "results" / "export" / "lama_thick"
    predicted = tmp_path / "biharmonic"
    for mask in sorted(folder.glob("*_mask.png")):
        stem = mask.name.removesuffix("_mask.png")
        inpaint_file("biharmonic", folder / f"{stem}.png", predicted / f"{stem}.png", mask_path=mask)
    assert cli.main(["score", "--images", str(folder), "--masks", str(folder), "--predictions", str(predicted),
                     "--out", str(tmp_path / "out"), "--weights", "none"]) == 0
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(folder / "manifest.csv", newline="") as handle:
        manifest = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [row["id"] for row in manifest]
    assert [row["category"] for row in rows] == [row["category"] for row in manifest]
    load = lambda path: np.asarray(Image.open(path), np.float64) / 255.0  # noqa: E731
    originals = np.stack([load(folder / row["image_file"]) for row in manifest])
    filled = np.stack([load(predicted / row["image_file"]) for row in manifest])
    holes = np.stack([load(folder / row["mask_file"]) for row in manifest])[..., None]
    expected = metrics.all_metrics(originals, filled, holes)
    for i, row in enumerate(rows):
        assert float(row["known_change"]) == 0 and math.isinf(float(row["known_psnr"]))
        for key, values in expected.items():
            assert float(row[key]) == pytest.approx(values[i], abs=1e-6, nan_ok=True), (row["id"], key)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["export"]["protocol"] == "lama_thick" and summary["n"] == len(manifest)
    shutil.rmtree(predicted)
