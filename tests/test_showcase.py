"""The images kept for the comparison grid come from as many source photos (or scene categories) as the
test split has: the selection rule on hand-made records, and the tiny run's saved PNGs and grid."""

from __future__ import annotations

import re

import pandas as pd

from conftest import TINY_CONFIG
from inpaintbench.config import load_config
from inpaintbench.evaluation import image_filename, showcase_ids

CONFIG = load_config(TINY_CONFIG)


def test_one_image_per_photo_before_a_second_of_any():
    records = [("chelsea_2", "chelsea"), ("astro_1", "astronaut"), ("chelsea_1", "chelsea"),
               ("astro_0", "astronaut"), ("coffee_5", "coffee")]
    assert showcase_ids(records, 3) == ["astro_0", "chelsea_1", "coffee_5"]
    assert showcase_ids(records, 10) == ["astro_0", "chelsea_1", "coffee_5", "astro_1", "chelsea_2"]
    assert showcase_ids(list(reversed(records)), 4) == showcase_ids(records, 4)  # read order does not matter
    assert showcase_ids(records, 0) == [] and showcase_ids([], 3) == []


def test_images_without_a_category_are_each_their_own_source():
    records = [("b", ""), ("a", ""), ("x1", "street"), ("x0", "street")]
    assert showcase_ids(records, 3) == ["a", "b", "x0"]  # groups in sorted key order: "id:a", "id:b", "street"


def test_the_tiny_run_keeps_and_shows_images_of_distinct_photos(tiny_run):
    keep, rows = CONFIG["evaluation"]["save_images"], CONFIG["figures"]["comparison_images"]
    for protocol in CONFIG["evaluation"]["protocols"]:
        tested = pd.read_csv(tiny_run / f"results/metrics/{protocol}/black.csv", dtype={"id": str})
        category = dict(zip(tested["id"].map(image_filename), tested["category"]))
        photos = tested["category"].nunique()
        assert photos >= rows > 1  # the demo's crops of several photos, so the check can fail
        for method in ("black", "gan"):
            saved = sorted(p.name for p in (tiny_run / f"results/inpainted/{protocol}/{method}").glob("*.png"))
            assert len(saved) == keep and len({category[name] for name in saved}) == min(keep, photos)
        log = (tiny_run / f"results/logs/report/comparison_figures_{protocol}.log").read_text()
        shown = re.search(r"comparison grid of (.+?);", log).group(1).split(", ")
        assert len(shown) == rows and len({category[image_filename(i)] for i in shown}) == rows
