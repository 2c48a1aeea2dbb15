"""Training photos from one source and test photos from another (issue 24), and the paper's protocol unchanged."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import ROOT, copy_workflow, snakemake
from inpaintbench.config import ConfigError, check_sources, load_config, validate_config
from inpaintbench.data import demo, prepare, sources, tfrecords
from test_data import small_tar
from test_download import Files


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_paper_protocol_gives_todays_manifests_and_shard_pixels(tmp_path):
    """Pinned from main before data.train/data.test existed: one source split by data.split."""
    data = load_config(ROOT / "tests/configs/tiny.yaml")["data"]
    frame = prepare.manifest_frame(prepare.build_manifest(data))
    frame.to_csv(tmp_path / "demo.csv", index=False)
    assert sha256(tmp_path / "demo.csv") == "893ed3d61611e91f4cbea0fac6b44d7f7f8d1a2b93be0df577d95899dac14a59"
    archive = tmp_path / "val_256.tar"
    small_tar(archive)
    places = {**data, "source": "places365", "split": {"train": 0.4, "val": 0.2, "test": 0.4}}
    listing = prepare.build_manifest(places, archive=str(archive), needs_train=False,
                                     categories={"cat.jpg": "kitchen", "coffee.jpg": "cafe"})
    prepare.manifest_frame(listing).to_csv(tmp_path / "tar.csv", index=False)
    assert sha256(tmp_path / "tar.csv") == "2015bdbfdfffa37c7b6cb8c4ca9c74ca472ec2c2f562292286298075bd3be5ab"
    for shard in range(2):
        prepare.write_shard(frame, shard, 2, 32, None, tmp_path / "tf", report=lambda *_: None)
    pinned = {"train": (1580108, [[206, 197, 193], [203, 193, 179], [178, 143, 124], [134, 108, 92]],
                        ["astronaut_256_256_0", "astronaut_256_0_0", "chelsea_150_301_0", "chelsea_150_0_0"]),
              "test": (1137441, [[220, 105, 66], [168, 131, 99], [109, 68, 38], [34, 22, 13]],
                       ["astronaut_256_256_256", "chelsea_300_0_0", "chelsea_300_151_0", "coffee_200_0_0"])}
    for split, (total, pixels, ids) in pinned.items():
        paths = tfrecords.split_paths(tmp_path / "tf", split)
        images, _ = next(iter(tfrecords.load_dataset(paths, 4, 32)))
        values = np.round(images.numpy() * 255).astype(int)
        assert (values.sum(), values[:, 5, 7, :].tolist()) == (total, pixels)
        assert [image_id for image_id, _ in tfrecords.read_ids(paths, 4)] == ids


# Training photos from train_256's layout, test photos from a val-like tar, over HTTP ----------------------

TRAIN_CATEGORIES = ["/a/airfield", "/a/apartment_building/outdoor", "/b/bedroom"]
PER_CATEGORY = 4
VAL_PHOTOS = 6


def add(tar: tarfile.TarFile, name: str, payload: bytes | None = None) -> None:
    member = tarfile.TarInfo(name)
    if payload is None:
        member.type = tarfile.DIRTYPE
        tar.addfile(member)
        return
    member.size = len(payload)
    tar.addfile(member, io.BytesIO(payload))


def train_like_tar() -> tuple[bytes, list[str]]:
    """Like train_256_places365standard.tar (`data_256/<letter>/<category>/<n>.jpg`, a nested category), and the
    lines of places365_train_standard.txt for it."""
    photos = [demo.photo(name) for name in demo.PHOTOS]
    buffer, lines = io.BytesIO(), []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        add(tar, "data_256")
        for index, category in enumerate(TRAIN_CATEGORIES):
            add(tar, f"data_256{category}")
            for n in range(1, PER_CATEGORY + 1):
                image = Image.fromarray(photos[(index + n) % len(photos)]).convert("RGB").resize((40, 40))
                jpeg = io.BytesIO()
                image.save(jpeg, "JPEG")
                add(tar, f"data_256{category}/{n:08d}.jpg", jpeg.getvalue())
                lines.append(f"{category}/{n:08d}.jpg {index}")
    return buffer.getvalue(), lines


def filelist(train_lines: list[str]) -> bytes:
    """Like filelist_places365-standard.tar: category names, train_standard's and val's lists."""
    names = "".join(f"{name} {index}\n" for index, name in enumerate(TRAIN_CATEGORIES))
    val = "".join(f"Places365_val_{i:08d}.jpg {i % 3}\n" for i in range(1, VAL_PHOTOS + 1))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in [("categories_places365.txt", names), ("places365_val.txt", val),
                           ("places365_train_standard.txt", "\n".join(train_lines) + "\n")]:
            add(tar, name, text.encode())
    return buffer.getvalue()


@pytest.fixture
def places_server(tmp_path):
    train, lines = train_like_tar()
    demo.val_like_tar(tmp_path / "val_256.tar", VAL_PHOTOS, size=32, seed=5)
    files = Files()
    files.files = {"train_256_places365standard.tar": train, "val_256.tar": (tmp_path / "val_256.tar").read_bytes(),
                   "filelist.tar": filelist(lines)}
    thread = threading.Thread(target=files.serve_forever, daemon=True)
    thread.start()
    yield files
    files.shutdown()
    files.server_close()


def source(server: Files, name: str) -> dict:
    payload = server.files[name]
    return {"source": "places365", "url": server.url(name), "md5": hashlib.md5(payload).hexdigest(),
            "size_bytes": len(payload)}


@pytest.mark.slow
def test_train_and_test_from_two_sources_through_the_workflow(places_server, tmp_path):
    """The data stage, a baseline's evaluation and the category table (no model: they train as on any source)."""
    workdir = copy_workflow(tmp_path / "workflow")
    tiny = load_config(ROOT / "tests/configs/tiny.yaml")
    config = {"data": {"train": source(places_server, "train_256_places365standard.tar"),
                       "test": source(places_server, "val_256.tar"), "val_images": 2,
                       "categories_url": places_server.url("filelist.tar"), "categories_md5": None,
                       "image_size": 32, "shards": 2},
              "masks": {"seed": 1}, "models": {},
              "evaluation": {**tiny["evaluation"], "protocols": ["square"], "baselines": ["mean_fill"]},
              "figures": tiny["figures"]}
    (workdir / "two.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "data", "results/tables/by_category.csv", "--cores", "2", "--configfile", "two.yaml")

    manifest = prepare.read_manifest(workdir / "results/data/manifest.csv")
    trained = manifest[manifest["split"] != "test"]
    assert trained["source"].str.startswith("data_256/").all() and len(trained) == 3 * PER_CATEGORY
    assert (manifest[manifest["split"] == "test"]["source"].str.startswith("val_256/")).all()
    assert (manifest["split"] == "test").sum() == VAL_PHOTOS and (manifest["split"] == "val").sum() == 2
    assert manifest["id"].is_unique
    nested = manifest[manifest["source"] == "data_256/a/apartment_building/outdoor/00000002.jpg"]
    assert nested[["id", "category"]].values.tolist() == [["a__apartment_building__outdoor__00000002",
                                                           "apartment_building/outdoor"]]
    assert set(trained["category"]) == {"airfield", "apartment_building/outdoor", "bedroom"}
    tfdir = workdir / "results/data/tfrecords"
    for split in ("train", "val", "test"):
        ids = {image_id for image_id, _ in tfrecords.read_ids(tfrecords.split_paths(tfdir, split))}
        assert ids == set(manifest[manifest["split"] == split]["id"])
    metrics = pd.read_csv(workdir / "results/metrics/square/mean_fill.csv", keep_default_na=False)
    expected = dict(zip(manifest["id"], manifest["category"]))
    assert len(metrics) == VAL_PHOTOS and set(metrics["id"]) <= set(manifest[manifest["split"] == "test"]["id"])
    assert dict(zip(metrics["id"], metrics["category"])) == {i: expected[i] for i in metrics["id"]}
    assert set(metrics["category"]) == {"airfield", "apartment_building/outdoor", "bedroom"}
    table = pd.read_csv(workdir / "results/tables/by_category.csv", keep_default_na=False)
    assert set(table["category"]) == {"airfield", "apartment_building/outdoor", "bedroom"}
    log = (workdir / "results/logs/data/fetch_archive_train_256_places365standard.tar.log").read_text()
    assert "downloaded and verified" in log


@pytest.mark.slow
def test_both_downloads_resume_from_their_own_parts_after_a_killed_run(places_server, tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    config = {"data": {"train": source(places_server, "train_256_places365standard.tar"),
                       "test": source(places_server, "val_256.tar"), "val_images": 2,
                       "categories_url": places_server.url("filelist.tar"), "categories_md5": None,
                       "image_size": 32, "shards": 2}, "masks": {"seed": 1}, "models": {}}
    (workdir / "two.yaml").write_text(yaml.safe_dump(config))
    downloads = workdir / "results/downloads"
    downloads.mkdir(parents=True)
    cuts = {"train_256_places365standard.tar": 3000, "val_256.tar": 7000}
    for name, cut in cuts.items():  # what a run killed mid-download leaves
        (downloads / f"{name}.part").write_bytes(places_server.files[name][:cut])
    snakemake(workdir, *(f"results/downloads/{name}" for name in cuts), "--cores", "2", "--configfile", "two.yaml")
    assert sorted(places_server.requests) == sorted((name, f"bytes={cut}-") for name, cut in cuts.items())
    for name in cuts:
        assert (downloads / name).read_bytes() == places_server.files[name]
        log = (workdir / f"results/logs/data/fetch_archive_{name}.log").read_text()
        assert f"resuming at byte {cuts[name]}" in log and f"md5 of {name} (" in log and "): ok" in log
    assert sorted(path.name for path in downloads.iterdir()) == sorted(cuts)


def read_bytes_so_far() -> int:
    return int(next(line for line in open("/proc/self/io") if line.startswith("rchar")).split()[1])


def test_listing_a_tar_reads_member_headers_not_image_bytes(tmp_path):
    """1.8 million members: a buffered file read 8 KiB of image bytes behind each header."""
    archive = tmp_path / "train.tar"
    with tarfile.open(archive, "w") as tar:
        for n in range(300):
            add(tar, f"data_256/a/airfield/{n:08d}.jpg", bytes(20_000))
    before = read_bytes_so_far()
    listing = sources.list_tar(archive)
    assert len(listing.rows) == 300
    assert read_bytes_so_far() - before < 0.1 * archive.stat().st_size


def folder_of(root, names) -> dict:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(demo.photo("chelsea")[:16, :16]).save(path)
    return {"source": "folder", "folder": str(root), "limit": None}


def test_the_validation_subset_is_fixed_by_seed_and_id_whatever_else_the_source_holds(tmp_path):
    names = [f"scene{i % 3}/{i:03d}.png" for i in range(30)]
    test = folder_of(tmp_path / "test", ["t1.png", "t2.png"])

    def val_ids(train_names, seed=0):
        train = folder_of(tmp_path / f"train{len(train_names)}", train_names)
        listing = prepare.build_train_test_manifest({"train": train, "test": test, "val_images": 4, "seed": seed},
                                                    {})
        splits = pd.DataFrame(listing.rows).groupby("split")["id"].apply(set).to_dict()
        assert len(splits["test"]) == 2 and not splits["test"] & (splits["train"] | splits["val"])
        return splits["val"]

    everything = val_ids(names)
    assert len(everything) == 4 and val_ids(names) == everything
    assert len(val_ids(names + ["scene9/999.png"]) - everything) <= 1  # one more photo displaces at most one
    assert val_ids(names, seed=1) != everything


@pytest.mark.bad_input
def test_data_train_without_data_test_and_a_val_subset_as_big_as_the_source_are_named(tmp_path):
    config = load_config(ROOT / "tests/configs/tiny.yaml")
    config["data"]["train"] = {"source": "folder", "folder": str(tmp_path)}
    with pytest.raises(ConfigError, match="key data.test: must be set when data.train is"):
        validate_config(config)
    train = folder_of(tmp_path / "train", ["a.png", "b.png"])
    with pytest.raises(ValueError, match="data.val_images 2 leaves no training image of the 2 in data.train"):
        prepare.build_train_test_manifest({"train": train, "test": train, "val_images": 2, "seed": 0}, {})
    with pytest.raises(ValueError, match="image id 'a' is in both data.train and data.test"):
        prepare.build_train_test_manifest({"train": train, "test": train, "val_images": 1, "seed": 0}, {})


def test_places_standard_plans_both_downloads_its_shards_and_gpu_evaluations(tmp_path):
    """On a cluster a trained model's evaluation of 36,500 photos runs on a GPU (evaluation.resources.gpus),
    a baseline's on CPUs."""
    workdir = copy_workflow(tmp_path / "workflow")
    result = snakemake(workdir, "-n", "evaluate_all", "--configfile", "config/places-standard.yaml")
    plan = result.stdout + result.stderr
    assert "output: results/downloads/train_256_places365standard.tar" in plan
    assert "output: results/downloads/val_256.tar" in plan
    assert plan.count("rule shard:") == load_config(ROOT / "config/places-standard.yaml")["data"]["shards"] == 32
    gpus = {}
    for job in re.split(r"\n(?=rule \w+:)", plan):
        if re.match(r"rule (evaluate|evaluate_chunk):", job):
            method = re.search(r"method=(\w+)", job)[1]
            gpus.setdefault(method, set()).add(int(re.search(r"\bgpu=(\d+)", job)[1]))
    assert gpus == {"gan": {1}, "diffusion": {1}, "black": {0}, "mean_fill": {0}, "biharmonic": {0},
                    "pyramid_fill": {0}}


@pytest.mark.bad_input
def test_a_missing_data_train_archive_is_named(tmp_path):
    config = load_config(ROOT / "config/places-standard.yaml")
    config["data"]["train"]["archive"] = str(tmp_path / "train_256_places365standard.tar")
    with pytest.raises(ConfigError, match=r"key data.train.archive: .*train_256_places365standard.tar does not exist"):
        check_sources(config)
