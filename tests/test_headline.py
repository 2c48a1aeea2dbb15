"""The report's front page written from the results: verdict sentences, headline table and HTML, on
small hand-made tables (a clear winner, a tie, a lone model, missing and present optional columns)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from inpaintbench import headline
from inpaintbench.aggregate import MIN_IMAGES

CI = 0.5  # half-width of every hand-made interval
FAMILY_OF = {"gan": "gan", "diffusion": "diffusion", "baseline": "classical"}  # the built-in kinds' FAMILY


def images(hole_psnr, hole_l1) -> pd.DataFrame:
    """Per-image rows of one method (ids 0..n-1)."""
    return pd.DataFrame({"id": [str(i) for i in range(len(hole_psnr))], "hole_psnr": hole_psnr, "hole_l1": hole_l1})


def row(method: str, kind: str, per_image: pd.DataFrame, protocol="square", **extra) -> dict:
    values = {"protocol": protocol, "method": method, "family": FAMILY_OF.get(kind, "other"), "kind": kind,
              "reads_original": False, "n": len(per_image),
              "few_images": len(per_image) < MIN_IMAGES, "psnr": 20.0, "ssim": 0.8, "hole_ssim": 0.5, "l1": 0.02,
              "inference_ms": 1.0, "parameters": math.nan if kind == "baseline" else 1000.0,
              "repair_epochs": "" if kind == "baseline" else "3/3",
              "training_seconds": math.nan if kind == "baseline" else 60.0}
    for metric in ("hole_psnr", "hole_l1", "psnr", "ssim", "hole_ssim", "l1"):
        mean = float(per_image[metric].mean()) if metric in per_image else values[metric]
        values.update({metric: mean, f"{metric}_ci_low": mean - CI * (metric == "hole_psnr"),
                       f"{metric}_ci_high": mean + CI * (metric == "hole_psnr")})
    return {**values, **extra}


def study(n: int, gan_shift: float, **extra):
    """gan better than diffusion by gan_shift dB on every image (with noise), pyramid_fill below both."""
    rng = np.random.default_rng(0)
    base = 20 + rng.normal(0, 1, n)
    per_image = {"gan": images(base + gan_shift + rng.normal(0, 0.01, n), 0.10 - gan_shift / 100 + np.zeros(n)),
                 "diffusion": images(base, np.full(n, 0.10)),
                 "pyramid_fill": images(base - 1 + rng.normal(0, 0.01, n), np.full(n, 0.12))}
    kinds = {"gan": "gan", "diffusion": "diffusion", "pyramid_fill": "baseline"}
    table = pd.DataFrame([row(m, kinds[m], frame, **extra.get(m, {})) for m, frame in per_image.items()])
    return table, per_image


def verdict(table, per_image, confidence=0.95) -> str:
    return " ".join(headline.protocol_verdict(table.set_index("method"), per_image, confidence))


def test_a_clear_winner_is_named_with_its_margin_and_a_significant_p_value():
    table, per_image = study(40, gan_shift=0.8)
    text = verdict(table, per_image)
    assert text.startswith("GAN against diffusion: the best method of each family by hole PSNR, gan (gan) against "
                           "diffusion (diffusion).")
    assert re.search(r"On hole PSNR, gan \([\d.]+ dB \[[\d.]+, [\d.]+\]\) beats diffusion \([\d.]+ dB \[[\d.]+, "
                     r"[\d.]+\]\) by 0\.8\d dB; paired Wilcoxon test over 40 images p = [\d.e-]+, significant at the "
                     r"5% level", text), text
    assert "On hole L1, gan (0.0920 [0.0920, 0.0920]) beats diffusion (0.1000 [0.1000, 0.1000]) by 0.0080" in text
    assert "intervals do not overlap" in text  # 0.8 dB apart, half-widths 0.5
    assert re.search(r"best classical baseline, pyramid_fill, .*gan is 1\.8\d dB above it \(p = [\d.e-]+, "
                     r"significant\); diffusion is 1\.0\d dB above it", text), text
    assert "Caveat" not in text and "Sharpness" not in text and "FID (" not in text
    assert headline.BLUR_CAVEAT in text  # no distribution metric: hole PSNR decides, and it rewards blur


def test_identical_models_tie_and_a_small_split_carries_the_caveat():
    table, per_image = study(8, gan_shift=0.0)
    per_image["gan"] = per_image["diffusion"].copy()
    text = verdict(table, per_image)
    assert "On hole PSNR, gan" in text and "and diffusion tie (the same mean over 8 images)" in text
    assert "On hole L1, gan (0.1000 [0.1000, 0.1000]) and diffusion tie" in text
    assert f"Caveat: only 8 test images, fewer than {MIN_IMAGES}" in text


def test_a_small_difference_on_few_images_is_not_significant():
    table, per_image = study(5, gan_shift=0.8)
    text = verdict(table, per_image)
    assert "beats diffusion" in text and "not significant: the difference may be chance" in text  # 5 pairs: p >= 0.0625


def test_sharpness_and_fid_are_reported_when_present_and_the_status_when_fid_is_unavailable():
    table, per_image = study(40, gan_shift=0.8, gan={"sharpness": 0.61}, diffusion={"sharpness": 0.93},
                             pyramid_fill={"sharpness": 0.40})
    text = verdict(table, per_image)
    assert "gan 0.61, diffusion 0.93, pyramid_fill 0.40." in text
    table["fid"], table["distribution_status"] = math.nan, "unavailable: no InceptionV3 weights"
    assert "FID, KID and IDS: unavailable: no InceptionV3 weights." in verdict(table, per_image)
    table["fid"] = [31.5, 12.25, 80.0]
    assert "FID (lower is closer to real photos): gan 31.5, diffusion 12.2, pyramid_fill 80.0." in verdict(
        table, per_image)
    headers, cells = headline.headline_rows(table.set_index("method"))
    assert headers[-3:] == ["Sharpness", "FID", "Inference (ms/image)"] and cells[1][-2] == "12.2"
    # every method of both families has an FID: it picks the best of each family and decides, no blur caveat
    text = verdict(table, per_image)
    assert text.startswith("GAN against diffusion: the best method of each family by FID, gan (gan) against "
                           "diffusion (diffusion). On FID (lower is closer to real photos), diffusion (12.2) beats gan "
                           "(31.5); FID is one number per set of images, with no paired test.")
    assert headline.BLUR_CAVEAT not in text and "On hole PSNR, gan" in text


def test_one_strong_model_or_none():
    table, per_image = study(40, gan_shift=0.8)
    lone = table[table["method"] != "diffusion"]
    text = verdict(lone, per_image)
    assert text.startswith("Only one of the families gan and diffusion was run: gan (gan, ") and "pyramid_fill" in text
    text = verdict(table[table["kind"] == "baseline"], per_image)
    assert text.startswith("No method of the families gan or diffusion was run; the best method on hole PSNR is "
                           "pyramid_fill")


def test_headline_table_puts_the_best_first_and_leaves_out_absent_columns():
    table, per_image = study(40, gan_shift=0.8)
    table.loc[table["method"] == "diffusion", "reads_original"] = True
    headers, cells = headline.headline_rows(table.set_index("method"))
    assert headers == ["Method", "Family", "Hole PSNR (dB)", "Hole L1", "Hole SSIM", "PSNR (dB)",
                       "Inference (ms/image)"]
    assert [c[0] for c in cells] == ["gan", "diffusion †", "pyramid_fill"]
    low, high = table.loc[0, "hole_psnr_ci_low"], table.loc[0, "hole_psnr_ci_high"]
    assert cells[0][1:3] == ["gan", f"{table.loc[0, 'hole_psnr']:.2f} [{low:.2f}, {high:.2f}]"]
    # the paper-exact model (reads the original) is not a contender: gan is the only one of the families left
    assert verdict(table, per_image).startswith("Only one of the families gan and diffusion was run: gan")


def test_front_page_html_has_every_protocol_table_and_embedded_grid(tmp_path):
    square, per_image = study(40, gan_shift=0.8)
    strokes = square.assign(protocol="lama_thick")
    table = pd.concat([square, strokes], ignore_index=True)
    per_run = {(p, m): frame for p in ("square", "lama_thick") for m, frame in per_image.items()}
    from PIL import Image
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "grid.png")
    data = {"source": "demo", "image_size": 32}
    verdict_of = headline.verdicts(table, per_run, 0.95, data)
    page = headline.front_page(table, verdict_of, {"square": tmp_path / "grid.png"}, data, 0.95)
    assert list(verdict_of) == ["square", "lama_thick"]
    assert page.count('<table class="ib-headline">') == 2 and page.count("data:image/png;base64,") == 1
    assert page.index("<h3>square masks</h3>") < page.index("<h3>lama_thick masks</h3>")
    assert "Data: demo images at 32 px, 40 test images. Mask protocols: square, lama_thick." in page
    assert "gan (gan, 1,000 parameters, 3/3 epochs, 1.0 min)" in page
    assert "<td>gan</td>" in page and verdict_of["square"][0].split(";")[0] in page


@pytest.mark.parametrize("source", ["demo", "places365", "folder"])
def test_only_the_demos_verdict_says_it_tests_on_crops_of_its_training_photos(source):
    table, per_image = study(8, gan_shift=0.8)
    verdict_of = headline.verdicts(table, {("square", m): frame for m, frame in per_image.items()}, 0.95,
                                   {"source": source, "image_size": 32})
    text = " ".join(verdict_of["square"])
    assert f"Caveat: only 8 test images, fewer than {MIN_IMAGES}" in text
    assert ("test images are crops of the same photos it trains on" in text) == (source == "demo")


def test_the_front_page_notes_the_models_trained_without_snapshots():
    table, per_image = study(40, gan_shift=0.8)
    data = {"source": "demo", "image_size": 32}
    verdict_of = headline.verdicts(table, {("square", m): frame for m, frame in per_image.items()}, 0.95, data)
    note = "No training snapshots (training.snapshot_epochs is empty) of: gan."
    assert note in headline.front_page(table, verdict_of, {}, data, 0.95, ["gan"])
    assert "No training snapshots" not in headline.front_page(table, verdict_of, {}, data, 0.95, [])


def test_comparison_html_renders_every_row(tmp_path):
    from inpaintbench.aggregate import DISPLAY, DISTRIBUTION_COLUMNS, PAPER_COLUMNS, distribution_columns
    table, _ = study(8, gan_shift=0.8)
    for column in PAPER_COLUMNS:
        table[column] = ""
    table["final_repair_loss"], table["hole_ssim_n"] = 0.5, 8
    table["known_change"], table["known_psnr"] = [0.0, 0.0, 1.5], [math.inf, math.inf, 38.25]
    for column in ("sharpness", "sharpness_ci_low", "sharpness_ci_high"):
        table[column] = 0.9
    unavailable = {name: None for name in DISTRIBUTION_COLUMNS.values()}
    unavailable.update(n=0, unavailable=dict.fromkeys(DISTRIBUTION_COLUMNS.values(), "no weights"))
    for column, value in distribution_columns(unavailable, "the output").items():
        table[column] = value
    page = headline.comparison_html(table, 0.95)
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr>") == 1 + len(table)
    assert all(f"<th>{header}</th>" in page for header, _, _ in DISPLAY)
    assert "<td>8 (few)</td>" in page and "too few for a meaningful interval" in page
    assert page.count("<td>unavailable</td>") == len(table) * 4  # FID, KID, P-IDS, U-IDS
    assert page.count("<td>inf</td>") == 2 and "<td>1.500</td><td>38.25</td>" in page  # known pixels changed
    assert "<td>pyramid_fill</td><td>classical</td>" in page


@pytest.mark.parametrize("confidence, word", [(0.95, "5%"), (0.99, "1%")])
def test_the_significance_level_follows_the_confidence(confidence, word):
    table, per_image = study(40, gan_shift=0.8)
    assert f"significant at the {word} level" in verdict(table, per_image, confidence)


def test_the_verdict_compares_families_not_names():
    """Methods of any name: the best of each family (an external GAN beats our weaker one), a classical method
    never a contender, a method of family other left out."""
    table, per_image = study(40, gan_shift=0.8)
    per_image["lama"] = per_image["gan"].assign(hole_psnr=per_image["gan"]["hole_psnr"] + 1.0)
    per_image["mine"] = per_image["gan"].assign(hole_psnr=per_image["gan"]["hole_psnr"] + 5.0)
    extra = pd.DataFrame([row("lama", "external", per_image["lama"], family="gan"),
                          row("mine", "my_model", per_image["mine"])])
    table = pd.concat([table, extra], ignore_index=True)
    text = verdict(table, per_image)
    assert text.startswith("GAN against diffusion: the best method of each family by hole PSNR, lama (gan) against "
                           "diffusion (diffusion).")
    assert re.search(r"On hole PSNR, lama \([\d.]+ dB \[[\d.]+, [\d.]+\]\) beats diffusion .* by 1\.8\d dB", text)
    assert "mine" not in text.split("Sharpness")[0]  # family other: in the tables, not in the verdict


def test_the_verdict_shows_kid_beside_fid_and_a_blur_caveat_when_one_method_lacks_fid():
    table, per_image = study(40, gan_shift=0.8)
    table["fid"], table["kid"], table["kid_sd"] = [31.5, 12.25, 80.0], [0.03, 0.01, 0.08], [0.002, 0.001, 0.004]
    text = verdict(table, per_image)
    assert "KID (± its sd over subsets) gan 0.0300 ± 0.0020, diffusion 0.0100 ± 0.0010." in text
    assert "KID (lower is closer): gan 0.0300, diffusion 0.0100, pyramid_fill 0.0800." in text
    table.loc[table["method"] == "gan", "fid"] = math.nan
    text = verdict(table, per_image)
    assert "best method of each family by hole PSNR" in text and headline.BLUR_CAVEAT in text
