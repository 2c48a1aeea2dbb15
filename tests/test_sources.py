"""Training photos from one source and test photos from another (issue 24), and the paper's protocol unchanged."""

from __future__ import annotations

import hashlib

import numpy as np

from conftest import ROOT
from inpaintbench.config import load_config
from inpaintbench.data import prepare, tfrecords
from test_data import small_tar


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
