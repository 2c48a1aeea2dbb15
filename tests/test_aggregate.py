"""The tables' hole-area bins, means, family and known-pixel columns, on per-image rows made here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from inpaintbench.aggregate import MIN_IMAGES, by_hole_size, comparison_row, hole_size_bin, hole_size_label, table_note
from inpaintbench.families import family


def test_the_field_bins_include_their_upper_edge_and_keep_holes_above_half():
    fractions = [0.0, 0.05, 0.1, 0.1001, 0.25, 0.4, 0.5, 0.5001, 0.9, 1.0]
    assert hole_size_bin(fractions).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 5, 5]
    assert [hole_size_label(i) for i in range(6)] == ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-100%"]


def rows(fractions, hole_ssim) -> pd.DataFrame:
    n = len(fractions)
    return pd.DataFrame({"id": [f"i{k}" for k in range(n)], "category": "c", "hole_fraction": fractions,
                         "psnr": np.arange(n, dtype=float), "ssim": 0.5, "hole_psnr": 10.0, "hole_ssim": hole_ssim,
                         "l1": 0.1, "hole_l1": 0.2, "sharpness": 0.8, "known_change": 0.0, "known_psnr": math.inf})


def test_by_hole_size_counts_every_image_and_averages_the_defined_hole_ssims():
    table = by_hole_size({"m": rows([0.05, 0.15, 0.18, 0.6], [0.4, np.nan, 0.8, np.nan])})
    assert table["bin"].tolist() == ["0-10%", "10-20%", "50-100%"] and table["n"].tolist() == [1, 2, 1]
    assert table["psnr"].tolist() == [0.0, 1.5, 3.0]
    assert table["hole_ssim"].iloc[1] == 0.8 and math.isnan(table["hole_ssim"].iloc[2])
    assert table[["hole_fraction_low", "hole_fraction_high"]].iloc[2].tolist() == [0.5, 1.0]


def test_the_comparison_row_says_on_how_many_images_hole_ssim_rests():
    summary = {"kind": "baseline", "needs_original": False, "inference_ms_per_image": 1.0}
    aggregation = {"seed": 0, "bootstrap_samples": 200, "confidence": 0.95}
    row = comparison_row("lama_thin", "black", rows([0.2] * 4, [np.nan, 0.3, np.nan, 0.5]), summary, None,
                         aggregation, family="classical")
    assert (row["protocol"], row["method"], row["n"], row["hole_ssim_n"]) == ("lama_thin", "black", 4, 2)
    assert row["hole_ssim"] == 0.4 and row["hole_ssim_ci_low"] >= 0.3 and row["hole_ssim_ci_high"] <= 0.5
    none = comparison_row("lama_thin", "black", rows([0.2] * 2, [np.nan, np.nan]), summary, None, aggregation,
                          family="classical")
    assert none["hole_ssim_n"] == 0 and math.isnan(none["hole_ssim"]) and math.isnan(none["hole_ssim_ci_low"])


def test_the_captions_notes_on_missing_weights_and_few_images_are_whole_sentences():
    """Each ends with its full stop: the (few) note is not glued to the reason the weights are missing."""
    table = pd.DataFrame({"few_images": [True, False], "distribution_status": ["unavailable"] * 2,
                          "distribution_reason": ["fid: w.h5: no such file (evaluation.distribution.weights)"] * 2})
    note = table_note(table, 0.95)
    assert note.endswith(" Unavailable: w.h5: no such file (evaluation.distribution.weights). Rows marked (few) "
                         f"rest on fewer than {MIN_IMAGES} test images, too few for a meaningful interval or test: "
                         "read them as a demonstration, not a result."), note


def test_the_row_carries_the_family_and_the_known_pixel_change_an_external_method_made():
    """Ours leave the known pixels alone (0, inf); a method that changed them shows its mean change and known PSNR."""
    summary = {"kind": "external", "needs_original": False, "inference_ms_per_image": 0.0}
    aggregation = {"seed": 0, "bootstrap_samples": 50, "confidence": 0.95}
    changed = rows([0.2] * 2, [0.5, 0.5]).assign(known_change=[2.0, 4.0], known_psnr=[30.0, 40.0])
    row = comparison_row("square", "lama", changed, summary, None, aggregation, family="gan")
    assert (row["family"], row["known_change"], row["known_psnr"]) == ("gan", 3.0, 35.0)
    untouched = comparison_row("square", "black", rows([0.2] * 2, [0.5, 0.5]), summary, None, aggregation,
                               family="classical")
    assert (untouched["known_change"], untouched["known_psnr"]) == (0.0, math.inf)
    assert list(row)[:3] == ["protocol", "method", "family"]


def test_the_caption_states_the_pasting_policy_and_the_8_bit_scoring():
    table = pd.DataFrame({"few_images": [False], "distribution_status": ["scored"], "distribution_reason": [""]})
    note = table_note(table, 0.95)
    assert "scored on the 8-bit image it delivers, with the known pixels pasted back (the benchmark's policy for " \
           "every method" in note and "Known-pixel change: how much a method altered" in note


def test_every_method_has_a_family(tmp_path, monkeypatch):
    """Built-in kinds declare theirs, baselines are classical, an external method's comes from its config, a kind
    of your own declares its FAMILY or is "other"."""
    (tmp_path / "own_gan.py").write_text('DEFAULTS = {}\nFAMILY = "gan"\n')
    (tmp_path / "own_silent.py").write_text("DEFAULTS = {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    kinds = {"g": "gan", "gp": "gan_paper", "d": "diffusion", "dp": "diffusion_paper", "o": "own_gan",
             "s": "own_silent"}
    config = {"models": {name: {"kind": kind} for name, kind in kinds.items()},
              "evaluation": {"baselines": ["biharmonic"]}, "external": {"lama": {"family": "gan"}, "x": {}}}
    found = {method: family(method, config) for method in [*kinds, "biharmonic", "lama", "x"]}
    assert found == {"g": "gan", "gp": "gan", "d": "diffusion", "dp": "diffusion", "o": "gan", "s": "other",
                     "biharmonic": "classical", "lama": "gan", "x": "other"}
    assert family("biharmonic", {"models": {}, "evaluation": {"baselines": ["biharmonic"]}}) == "classical"


@pytest.mark.bad_input
def test_an_unknown_family_or_method_is_an_error_naming_it(tmp_path, monkeypatch):
    (tmp_path / "own_odd.py").write_text('DEFAULTS = {}\nFAMILY = "transformer"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"models": {"odd": {"kind": "own_odd"}}, "evaluation": {"baselines": []}}
    with pytest.raises(ValueError, match=r"own_odd.py: FAMILY 'transformer' is not one of gan, diffusion, "
                                         r"classical, other$"):
        family("odd", config)
    with pytest.raises(ValueError, match="method 'nope' is not a model, a baseline nor an external method"):
        family("nope", config)
