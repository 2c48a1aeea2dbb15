"""The study's answer in a few sentences and one table per mask protocol, written from the results.

The report's front page shows what this module writes: the study's question, GAN against diffusion,
answered per protocol between the best method of each family (inpaintbench.families) by the deciding
metric (FID when every contender has one, else hole PSNR), by how much, whether a paired test says the
difference is more than chance, how they stand against the best classical baseline, the blur measure
and the distribution metrics beside them, and the caveats (a deciding metric that rewards blur; few
test images; the demo's test images cut from its training photos). Columns written by later stages
(sharpness, fid, ...) are shown when the comparison table has them and left out when it does not.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from . import provenance
from .aggregate import (
    DISPLAY,
    MIN_IMAGES,
    _cell,
    display_rows,
    paired_rows,
    table_note,
    wilcoxon,
)
from .families import COMPARED

# The metrics the verdict compares on with a paired test: (column, name, unit, higher is better).
VERDICT_METRICS = (("hole_psnr", "hole PSNR", " dB", True), ("hole_l1", "hole L1", "", False))
# What picks each family's best and decides: FID when every contender has one, else hole PSNR (which
# rewards a blurred fill, as PSNR, SSIM and L1 do: the verdict then says so).
DISTRIBUTION_DECIDER = ("fid", "FID", "", False)
BLUR_DECIDER = VERDICT_METRICS[0]
# The headline table: (header, column, digits); optional columns only when the table has them.
HEADLINE = (("Method", "method", 0), ("Family", "family", 0), ("Hole PSNR (dB)", "hole_psnr", 2),
            ("Hole L1", "hole_l1", 4), ("Hole SSIM", "hole_ssim", 3), ("PSNR (dB)", "psnr", 2),
            ("Sharpness", "sharpness", 2), ("FID", "fid", 1), ("KID", "kid", 4),
            ("Known-pixel change (of 255)", "known_change", 3), ("Inference (ms/image)", "inference_ms", 1))
OPTIONAL = ("sharpness", "fid", "kid", "known_change")


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.number)) and math.isfinite(value)


def paired(per_image: dict[str, pd.DataFrame], a: str, b: str, metric: str) -> tuple[int, float, float]:
    """(images, mean of a - b, Wilcoxon p-value) of `metric` over the images both methods scored."""
    both = paired_rows(per_image[a], per_image[b], metric)
    differences = (both[f"{metric}_a"] - both[f"{metric}_b"]).to_numpy(float)
    if not differences.size:
        return 0, math.nan, math.nan
    return int(differences.size), float(differences.mean()), wilcoxon(differences)[1]


def _compared(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the compared families' inpainting methods (a method that reads the original is none)."""
    return rows[~rows["reads_original"].astype(bool) & rows["family"].isin(COMPARED)]


def deciding_metric(rows: pd.DataFrame) -> tuple:
    """FID when every method of the compared families has one, else hole PSNR."""
    compared = _compared(rows)
    if len(compared) and "fid" in compared and all(_finite(value) for value in compared["fid"]):
        return DISTRIBUTION_DECIDER
    return BLUR_DECIDER


def contenders(rows: pd.DataFrame, metric: tuple) -> list[str]:
    """The best inpainting method (by `metric`) of each compared family present, in COMPARED order."""
    column, _, _, higher = metric
    compared, best = _compared(rows), []
    for name in COMPARED:
        values = compared.loc[compared["family"] == name, column].astype(float)
        if len(values):
            best.append(values.idxmax() if higher else values.idxmin())
    return best


def best_baseline(rows: pd.DataFrame) -> str | None:
    baselines = rows[rows["family"] == "classical"]
    return baselines["hole_psnr"].idxmax() if len(baselines) else None


def _value(row, column: str, unit: str) -> str:
    """A method's mean, with its interval when the table has one."""
    digits = 2 if column.endswith("psnr") else 4
    text = f"{row[column]:.{digits}f}{unit}"
    low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    if _finite(low) and _finite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _overlap(rows: pd.DataFrame, a: str, b: str, column: str) -> bool:
    low, high = f"{column}_ci_low", f"{column}_ci_high"
    return rows.loc[a, low] <= rows.loc[b, high] and rows.loc[b, low] <= rows.loc[a, high]


def compare(rows, per_image, a: str, b: str, metric: tuple, alpha: float) -> str:
    """One sentence: which of a and b is better on `metric`, by how much, and the paired test's word."""
    column, name, unit, higher = metric
    n, difference, p = paired(per_image, a, b, column)
    if n == 0:
        return f"{a} and {b} share no image scored on {name}."
    if difference == 0:
        return f"On {name}, {a} ({_value(rows.loc[a], column, unit)}) and {b} tie (the same mean over {n} images)."
    winner, loser = (a, b) if (difference > 0) == higher else (b, a)
    verdict = "significant" if p < alpha else "not significant: the difference may be chance"
    intervals = "overlap" if _overlap(rows, a, b, column) else "do not overlap"
    return (f"On {name}, {winner} ({_value(rows.loc[winner], column, unit)}) beats {loser} "
            f"({_value(rows.loc[loser], column, unit)}) by {abs(difference):.{2 if unit else 4}f}{unit}; "
            f"paired Wilcoxon test over {n} images p = {p:.2g}, {verdict} at the {alpha:.0%} level; "
            f"their intervals {intervals}.")


def question(metric: tuple, models: list[str]) -> str:
    """The study's question as this protocol answers it: which methods stand for the two families, chosen how."""
    return (f"GAN against diffusion: the best method of each family by {metric[1]}, {models[0]} (gan) against "
            f"{models[1]} (diffusion).")


def distribution_comparison(rows: pd.DataFrame, a: str, b: str) -> str:
    """FID decides: which of a and b is closer to real photos, with KID beside it (FID has no per-image paired test)."""
    winner, loser = sorted((a, b), key=lambda m: rows.loc[m, "fid"])
    sentence = (f"On FID (lower is closer to real photos), {winner} ({rows.loc[winner, 'fid']:.1f}) beats {loser} "
                f"({rows.loc[loser, 'fid']:.1f}); FID is one number per set of images, with no paired test")
    if "kid" in rows and _finite(rows.loc[a, "kid"]) and _finite(rows.loc[b, "kid"]):
        spread = {m: f" ± {rows.loc[m, 'kid_sd']:.4f}" if _finite(rows.loc[m].get("kid_sd")) else "" for m in (a, b)}
        sentence += f": KID (± its sd over subsets) {a} {rows.loc[a, 'kid']:.4f}{spread[a]}, {b} " \
                    f"{rows.loc[b, 'kid']:.4f}{spread[b]}"
    return sentence + "."


BLUR_CAVEAT = ("Hole PSNR decides here, and PSNR, SSIM and L1 reward a blurred fill: no distribution metric (FID, "
               "KID, IDS) was available for every method, so this says which family fills closer to the true "
               "pixels, not which looks real; read sharpness beside it.")


def against_baseline(rows, per_image, models: list[str], baseline: str, alpha: float) -> str:
    """Where the strong models stand against the best classical baseline on hole PSNR."""
    parts = []
    for model in models:
        _, difference, p = paired(per_image, model, baseline, "hole_psnr")
        mark = "significant" if p < alpha else "not significant"
        if round(abs(difference), 2) == 0:
            parts.append(f"{model} is within 0.01 dB of it (p = {p:.2g}, {mark})")
        else:
            side = "above" if difference > 0 else "below"
            parts.append(f"{model} is {abs(difference):.2f} dB {side} it (p = {p:.2g}, {mark})")
    return (f"The best classical baseline, {baseline}, fills to {_value(rows.loc[baseline], 'hole_psnr', ' dB')} "
            f"hole PSNR: {'; '.join(parts)}.")


def optional_sentences(rows: pd.DataFrame, methods: list[str]) -> list[str]:
    """Sharpness, FID and KID of `methods` when the table has them; their status when they are unavailable."""
    sentences = []
    if "sharpness" in rows and any(_finite(rows.loc[m, "sharpness"]) for m in methods):
        values = ", ".join(f"{m} {rows.loc[m, 'sharpness']:.2f}" for m in methods if _finite(rows.loc[m, "sharpness"]))
        sentences.append(f"Sharpness (the hole's detail over the truth's; 1 is as sharp as the truth, "
                         f"lower is blurrier): {values}.")
    if "fid" in rows:
        values = [f"{m} {rows.loc[m, 'fid']:.1f}" for m in methods if _finite(rows.loc[m, "fid"])]
        if values:
            sentences.append(f"FID (lower is closer to real photos): {', '.join(values)}.")
            kids = [f"{m} {rows.loc[m, 'kid']:.4f}" for m in methods if "kid" in rows and _finite(rows.loc[m, "kid"])]
            if kids:
                sentences.append(f"KID (lower is closer): {', '.join(kids)}.")
        elif "distribution_status" in rows:
            status = next((str(s) for s in rows["distribution_status"] if isinstance(s, str) and s), "unavailable")
            sentences.append(f"FID, KID and IDS: {status}.")
    return sentences


def protocol_verdict(rows: pd.DataFrame, per_image: dict[str, pd.DataFrame], confidence: float) -> list[str]:
    """The verdict's sentences for one protocol. `rows`: its comparison rows indexed by method."""
    alpha = 1.0 - confidence
    metric = deciding_metric(rows)
    models, baseline = contenders(rows, metric), best_baseline(rows)
    sentences = []
    if len(models) == 2:
        sentences.append(question(metric, models))
        if metric is DISTRIBUTION_DECIDER:
            sentences.append(distribution_comparison(rows, *models))
        sentences += [compare(rows, per_image, *models, paired_metric, alpha) for paired_metric in VERDICT_METRICS]
    elif models:
        sentences.append(f"Only one of the families gan and diffusion was run: {models[0]} "
                         f"({rows.loc[models[0], 'family']}, {_value(rows.loc[models[0]], 'hole_psnr', ' dB')} "
                         "hole PSNR), with nothing of the other family to compare it with.")
    else:
        best = rows["hole_psnr"].idxmax()
        sentences.append(f"No method of the families {' or '.join(COMPARED)} was run; the best method on hole "
                         f"PSNR is {best} ({_value(rows.loc[best], 'hole_psnr', ' dB')}).")
    if models and metric is BLUR_DECIDER:
        sentences.append(BLUR_CAVEAT)
    if models and baseline:
        sentences.append(against_baseline(rows, per_image, models, baseline, alpha))
    shown = models + ([baseline] if baseline else [])
    sentences += optional_sentences(rows, shown or list(rows.index))
    n = int(rows["n"].min())
    if n < MIN_IMAGES:
        sentences.append(f"Caveat: only {n} test images, fewer than {MIN_IMAGES}: the intervals are too narrow "
                         "and the tests weak, so read this as a demonstration of the pipeline, not a result.")
    return sentences


def headline_rows(rows: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """(headers, cells) of the headline table: one row per method, best hole PSNR first, key columns
    with their intervals; optional columns only when some method has a value."""
    columns = [(h, c, d) for h, c, d in HEADLINE
               if c not in OPTIONAL or (c in rows and any(_finite(v) for v in rows[c]))]
    ordered = rows.sort_values("hole_psnr", ascending=False, kind="stable")
    cells = []
    for method, row in ordered.iterrows():
        row = row.copy()
        row["method"] = method + (" †" if bool(row["reads_original"]) else "")
        cells.append([_cell(row, column, digits) for _, column, digits in columns])
    return [header for header, _, _ in columns], cells


def html_table(headers: list[str], cells: list[list[str]], css: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# Snakemake's report shows the front page in a window-high pane that centres its content vertically
# (flex, items-center, overflow auto): a page taller than the window overflows above the pane's top,
# where no scrollbar reaches, and opens in its middle. `.h-screen.items-center:has(.ib-front)` aligns
# it to the top instead.
STYLE = """<style>
.h-screen.items-center:has(.ib-front) { align-items: flex-start; }
.prose.max-w-lg:has(.ib-front) { max-width: 72rem; }
.ib-front table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0; }
.ib-front th, .ib-front td { border-bottom: 1px solid #ccc; padding: 0.15rem 0.5rem; text-align: right; }
.ib-front th:first-child, .ib-front td:first-child { text-align: left; }
.ib-comparison th:nth-child(2), .ib-comparison td:nth-child(2) { text-align: left; }
.ib-comparison td { white-space: nowrap; }
body:has(> .ib-front) { font-family: sans-serif; }
.ib-front img { max-width: 100%; }
.ib-front .ib-note { font-size: 0.75rem; color: #555; }
</style>"""


def run_summary(table: pd.DataFrame, data: dict) -> str:
    """What was run: data, test images, protocols, and each trained model's size and training budget."""
    protocols = list(dict.fromkeys(table["protocol"]))
    first = table[table["protocol"] == protocols[0]]
    models = [f"{row['method']} ({row['kind']}, {int(row['parameters']):,} parameters, {row['repair_epochs']} "
              f"epochs, {row['training_seconds'] / 60:.1f} min)" for _, row in first.iterrows()
              if _finite(row["parameters"])]
    baselines = [m for m, k in zip(first["method"], first["kind"]) if k == "baseline"]
    external = [m for m, k in zip(first["method"], first["kind"]) if k == "external"]
    return (f"Data: {data['source']} images at {data['image_size']} px, {int(first['n'].min())} test images. "
            f"Mask protocols: {', '.join(protocols)}. Models: {'; '.join(models) or 'none'}. "
            f"Classical baselines: {', '.join(baselines) or 'none'}."
            + (f" Scored from predictions made elsewhere: {', '.join(external)}." if external else ""))


def image_tag(png, alt: str) -> str:
    """An <img> holding the PNG itself, so the report's page needs no other file."""
    encoded = base64.b64encode(Path(png).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def data_caveats(data: dict) -> list[str]:
    """What the data itself takes from any verdict: the demo tests on crops of the photos it trains on."""
    if data["source"] != "demo":
        return []
    return ["Caveat: the demo's test images are crops of the same photos it trains on (data.source: demo), so "
            "its test split is not independent of its train split: this is not a benchmark result."]


def verdicts(table: pd.DataFrame, per_image: dict[tuple[str, str], pd.DataFrame], confidence: float, data: dict):
    """{protocol: its verdict's sentences}; per_image: {(protocol, method): per-image metric rows}; data:
    the config's data slice (source, image_size)."""
    return {protocol: protocol_verdict(rows.set_index("method"),
                                       {m: frame for (p, m), frame in per_image.items() if p == protocol}, confidence)
            + data_caveats(data)
            for protocol, rows in table.groupby("protocol", sort=False)}


def front_page(table: pd.DataFrame, verdict: dict[str, list[str]], grids: dict[str, str], data: dict,
               confidence: float, without_snapshots=()) -> str:
    """The report's front page (an HTML fragment): what was run, then per protocol the verdict, the
    headline table and the comparison grid; a note naming the models trained without snapshots."""
    parts = ['<div class="ib-front">', STYLE, "<h2>The answer</h2>", f"<p>{html.escape(run_summary(table, data))}</p>"]
    if without_snapshots:
        parts.append(f'<p class="ib-note">No training snapshots (training.snapshot_epochs is empty) of: '
                     f'{html.escape(", ".join(without_snapshots))}.</p>')
    for protocol, rows in table.groupby("protocol", sort=False):
        parts.append(f"<h3>{html.escape(protocol)} masks</h3>")
        parts.append(f'<p class="ib-verdict">{html.escape(" ".join(verdict[protocol]))}</p>')
        parts.append(html_table(*headline_rows(rows.set_index("method")), "ib-headline"))
        parts.append(f'<p class="ib-note">Means over the test images, {confidence:.0%} bootstrap intervals in '
                     "brackets; best hole PSNR first. Hole L1: lower is better. † reads the undamaged image "
                     "(the paper's exact design): not an inpainting result. Every method is scored on the 8-bit "
                     "image it delivers with the known pixels pasted back (the benchmark's policy for every "
                     "method); known-pixel change: how much it altered them before (mean of 255).</p>")
        if protocol in grids:
            parts.append(image_tag(grids[protocol], f"comparison grid, {protocol} masks"))
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def comparison_html(table: pd.DataFrame, confidence: float) -> str:
    """The whole comparison table as a standalone HTML page (the report previews HTML, not CSV)."""
    headers = [header for header, _, _ in DISPLAY]
    note = table_note(table, confidence)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Comparison</title>{STYLE}</head>\n'
            f'<body><div class="ib-front">{html_table(headers, display_rows(table), "ib-comparison")}'
            f'<p class="ib-note">{html.escape(note)}</p></div></body></html>\n')


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=["", "nan", "NaN"], dtype={"method": str})


def write_front_page(table_csv, metrics_csvs: dict[tuple[str, str], str], grids: dict[str, str], page: dict,
                     page_path, table_path) -> dict[str, list[str]]:
    """Write the front page and the comparison table's HTML from comparison.csv, the per-image CSVs
    ({(protocol, method): path}) and the grids ({protocol: png}); `page` holds the data slice, the
    confidence and the models without snapshots. Returns each protocol's verdict."""
    table = read_table(table_csv)
    per_image = {run: pd.read_csv(path, dtype={"id": str}, keep_default_na=False, na_values=["", "nan", "NaN"])
                 for run, path in metrics_csvs.items()}
    verdict = verdicts(table, per_image, page["confidence"], page["data"])
    provenance.write_text(page_path, front_page(table, verdict, grids, page["data"], page["confidence"],
                                                page["without_snapshots"]))
    provenance.write_text(table_path, comparison_html(table, page["confidence"]))
    return verdict
