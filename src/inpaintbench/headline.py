"""The study's answer in a few sentences and one table per mask protocol, written from the results.

The report's front page shows what this module writes: which of the strong models (kinds `gan` and
`diffusion`) fills holes better, by how much, whether a paired test says the difference is more
than chance, how they stand against the best classical baseline, and the caveats (few test
images; the demo's test images cut from its training photos; FID unavailable offline). Columns
written by later stages (sharpness, fid, ...) are shown when the comparison table has them and left
out when it does not.
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

STRONG_KINDS = ("gan", "diffusion")
# The metrics the verdict compares on: (column, name, unit, higher is better).
VERDICT_METRICS = (("hole_psnr", "hole PSNR", " dB", True), ("hole_l1", "hole L1", "", False))
# The headline table: (header, column, digits); optional columns only when the table has them.
HEADLINE = (("Method", "method", 0), ("Hole PSNR (dB)", "hole_psnr", 2), ("Hole L1", "hole_l1", 4),
            ("Hole SSIM", "hole_ssim", 3), ("PSNR (dB)", "psnr", 2), ("Sharpness", "sharpness", 2),
            ("FID", "fid", 1), ("Inference (ms/image)", "inference_ms", 1))
OPTIONAL = ("sharpness", "fid")


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.number)) and math.isfinite(value)


def paired(per_image: dict[str, pd.DataFrame], a: str, b: str, metric: str) -> tuple[int, float, float]:
    """(images, mean of a - b, Wilcoxon p-value) of `metric` over the images both methods scored."""
    both = paired_rows(per_image[a], per_image[b], metric)
    differences = (both[f"{metric}_a"] - both[f"{metric}_b"]).to_numpy(float)
    if not differences.size:
        return 0, math.nan, math.nan
    return int(differences.size), float(differences.mean()), wilcoxon(differences)[1]


def contenders(rows: pd.DataFrame) -> list[str]:
    """The best (by hole PSNR) inpainting model of each strong kind, in STRONG_KINDS order."""
    inpainting = rows[~rows["reads_original"].astype(bool)]
    best = []
    for kind in STRONG_KINDS:
        of_kind = inpainting[inpainting["kind"] == kind]
        if len(of_kind):
            best.append(of_kind["hole_psnr"].idxmax())
    return best


def best_baseline(rows: pd.DataFrame) -> str | None:
    baselines = rows[rows["kind"] == "baseline"]
    return baselines["hole_psnr"].idxmax() if len(baselines) else None


def _value(row, column: str, unit: str) -> str:
    digits = 2 if column.endswith("psnr") else 4
    return f"{row[column]:.{digits}f}{unit}"


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
    """Sharpness and FID of `methods` when the table has them; FID's status when it is unavailable."""
    sentences = []
    if "sharpness" in rows and any(_finite(rows.loc[m, "sharpness"]) for m in methods):
        values = ", ".join(f"{m} {rows.loc[m, 'sharpness']:.2f}" for m in methods if _finite(rows.loc[m, "sharpness"]))
        sentences.append(f"Sharpness (the hole's detail over the truth's; 1 is as sharp as the truth, "
                         f"lower is blurrier): {values}.")
    if "fid" in rows:
        values = [f"{m} {rows.loc[m, 'fid']:.1f}" for m in methods if _finite(rows.loc[m, "fid"])]
        if values:
            sentences.append(f"FID (lower is closer to real photos): {', '.join(values)}.")
        elif "distribution_status" in rows:
            status = next((str(s) for s in rows["distribution_status"] if isinstance(s, str) and s), "unavailable")
            sentences.append(f"FID, KID and IDS: {status}.")
    return sentences


def protocol_verdict(rows: pd.DataFrame, per_image: dict[str, pd.DataFrame], confidence: float) -> list[str]:
    """The verdict's sentences for one protocol. `rows`: its comparison rows indexed by method."""
    alpha = 1.0 - confidence
    models, baseline = contenders(rows), best_baseline(rows)
    sentences = []
    if len(models) == 2:
        sentences += [compare(rows, per_image, *models, metric, alpha) for metric in VERDICT_METRICS]
    elif models:
        sentences.append(f"Only one strong model was run: {models[0]} "
                         f"({_value(rows.loc[models[0]], 'hole_psnr', ' dB')} hole PSNR).")
    else:
        best = rows["hole_psnr"].idxmax()
        sentences.append(f"No strong model (kind {' or '.join(STRONG_KINDS)}) was run; the best method on hole "
                         f"PSNR is {best} ({_value(rows.loc[best], 'hole_psnr', ' dB')}).")
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
                     "(the paper's exact design): not an inpainting result.</p>")
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
