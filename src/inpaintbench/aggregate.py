"""The comparison of every method: the paper's Table 1 redone, with confidence intervals,
paired tests between methods, and the metrics by hole size and by scene category.

Inputs are the per-image CSVs and summaries of evaluation, and for trained models their
meta.json (epochs, final main loss, parameters, training time).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import provenance

METRICS = ("psnr", "ssim", "hole_psnr", "hole_ssim", "l1")
# Fewer test images than this and a method's intervals and tests mean little: a percentile bootstrap
# interval of a mean is built from the sample's own spread, so it is too narrow for small samples
# (a nominal 95% one covers about 90% of the time at 10 images, 93.6% at 30, for normal data), and
# under 6 pairs the Wilcoxon test cannot reach p < 0.05 at all. Such rows are flagged (few_images).
MIN_IMAGES = 30
# The paper's Table 1 (repair epoch, repair loss, PSNR, SSIM), beside our rows of its two models.
PAPER_TABLE = {
    "gan_paper": {"paper_repair_epochs": "999/1000", "paper_repair_loss": 0.349, "paper_psnr": 10.78, "paper_ssim": 0.46},
    "diffusion_paper": {"paper_repair_epochs": "999/1000", "paper_repair_loss": 0.098, "paper_psnr": 17.39, "paper_ssim": 0.82},
}
PAPER_COLUMNS = ("paper_repair_epochs", "paper_repair_loss", "paper_psnr", "paper_ssim")
BIN_COLUMNS = ("n", *METRICS)


def read_method(metrics_csv, summary_json, meta_json=None) -> tuple[pd.DataFrame, dict, dict | None]:
    """(per-image rows, evaluation summary, model meta or None) of one method; errors name the file."""
    rows = pd.read_csv(metrics_csv, keep_default_na=False, na_values=["nan", "NaN", ""],
                       dtype={"id": str, "category": str})
    missing = {"id", "category", "hole_fraction", *METRICS} - set(rows.columns)
    if missing:
        raise ValueError(f"{metrics_csv}: missing column(s) {', '.join(sorted(missing))}")
    if rows.empty:
        raise ValueError(f"{metrics_csv}: no image rows")
    summary = json.loads(Path(summary_json).read_text())
    meta = json.loads(Path(meta_json).read_text()) if meta_json else None
    return rows, summary, meta


def bootstrap_ci(values, samples: int, confidence: float, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaNs, e.g. hole SSIM of tiny holes, left out)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    means = values[rng.integers(0, values.size, (samples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def comparison_row(method: str, rows: pd.DataFrame, summary: dict, meta: dict | None,
                   aggregation: dict) -> dict:
    rng = np.random.default_rng(aggregation["seed"])
    row = {"method": method, "kind": summary["kind"], "reads_original": bool(summary["needs_original"]),
           "n": len(rows), "few_images": len(rows) < MIN_IMAGES}
    if meta:
        planned = (meta.get("config") or {}).get("training", {}).get("epochs", meta["epochs"])
        row.update(repair_epochs=f"{meta['epochs']}/{planned}",
                   final_repair_loss=float(meta["final_losses"][meta["main_loss"]]),
                   parameters=int(meta["parameters"]), training_seconds=float(meta["training_seconds"]))
    else:
        row.update(repair_epochs="", final_repair_loss=math.nan, parameters=math.nan, training_seconds=math.nan)
    for metric in METRICS:
        row[metric] = float(np.nanmean(rows[metric].to_numpy(float)))
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = bootstrap_ci(
            rows[metric], aggregation["bootstrap_samples"], aggregation["confidence"], rng)
    row["inference_ms"] = float(summary["inference_ms_per_image"])
    row.update(PAPER_TABLE.get(summary["kind"], dict.fromkeys(PAPER_COLUMNS, "")))
    return row


def pairwise(per_method: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Wilcoxon signed-rank test on per-image PSNR for each pair of methods (same images, paired by id)."""
    records = []
    for a, b in itertools.combinations(per_method, 2):
        paired = per_method[a][["id", "psnr"]].merge(per_method[b][["id", "psnr"]], on="id", suffixes=("_a", "_b"))
        paired = paired[np.isfinite(paired["psnr_a"]) & np.isfinite(paired["psnr_b"])]
        differences = (paired["psnr_a"] - paired["psnr_b"]).to_numpy()
        if np.count_nonzero(differences) == 0:
            statistic, p_value = math.nan, 1.0  # identical on every image: no evidence of a difference
        else:
            result = stats.wilcoxon(paired["psnr_a"], paired["psnr_b"])
            statistic, p_value = float(result.statistic), float(result.pvalue)
        mean_difference = float(differences.mean()) if differences.size else math.nan
        better = "" if not differences.size or mean_difference == 0 else (a if mean_difference > 0 else b)
        records.append({"method_a": a, "method_b": b, "n": len(paired),
                        "psnr_a": float(paired["psnr_a"].mean()), "psnr_b": float(paired["psnr_b"].mean()),
                        "mean_difference_db": mean_difference, "better": better,
                        "wilcoxon_statistic": statistic, "p_value": p_value, "few_images": len(paired) < MIN_IMAGES})
    return pd.DataFrame(records, columns=["method_a", "method_b", "n", "psnr_a", "psnr_b", "mean_difference_db",
                                          "better", "wilcoxon_statistic", "p_value", "few_images"])


def _grouped(per_method: dict[str, pd.DataFrame], key: str) -> pd.DataFrame:
    records = []
    for method, rows in per_method.items():
        for value, group in rows.groupby(key, observed=True, sort=True):
            records.append({"method": method, key: value, "n": len(group),
                            **{metric: float(np.nanmean(group[metric].to_numpy(float))) for metric in METRICS}})
    return pd.DataFrame(records, columns=["method", key, *BIN_COLUMNS])


def by_hole_size(per_method: dict[str, pd.DataFrame], bins: int) -> pd.DataFrame:
    """Means per hole-size bin: `bins` equal-width bins of the hole's area fraction, shared by every method."""
    fractions = pd.concat([rows["hole_fraction"] for rows in per_method.values()])
    _, edges = pd.cut(fractions, bins=bins, retbins=True)
    binned = {}
    for method, rows in per_method.items():
        rows = rows.copy()
        index = np.clip(np.searchsorted(edges, rows["hole_fraction"], side="right") - 1, 0, bins - 1)
        rows["bin"] = index
        binned[method] = rows
    table = _grouped(binned, "bin")
    table.insert(2, "hole_fraction_low", edges[table["bin"].to_numpy(int)])
    table.insert(3, "hole_fraction_high", edges[table["bin"].to_numpy(int) + 1])
    return table


def by_category(per_method: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Means per scene category; images without a known category are left out."""
    known = {method: rows[rows["category"].astype(str).str.len() > 0] for method, rows in per_method.items()}
    return _grouped(known, "category")


def _cell(row, metric: str, digits: int) -> str:
    value = row[metric]
    if value == "" or value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if f"{metric}_ci_low" in row:
        return f"{value:.{digits}f} [{row[f'{metric}_ci_low']:.{digits}f}, {row[f'{metric}_ci_high']:.{digits}f}]"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


DISPLAY = (  # (header, column, digits)
    ("Method", "method", 0), ("Reads original", "reads_original", 0), ("Test images", "n", 0),
    ("Repair epochs", "repair_epochs", 0),
    ("Repair loss", "final_repair_loss", 3), ("PSNR (dB)", "psnr", 2), ("SSIM", "ssim", 3),
    ("Hole PSNR (dB)", "hole_psnr", 2), ("Hole SSIM", "hole_ssim", 3), ("L1", "l1", 4),
    ("Parameters", "parameters", 0), ("Training (s)", "training_seconds", 0), ("Inference (ms/image)", "inference_ms", 1),
    ("Paper epochs", "paper_repair_epochs", 0), ("Paper loss", "paper_repair_loss", 3),
    ("Paper PSNR", "paper_psnr", 2), ("Paper SSIM", "paper_ssim", 2),
)


def display_rows(table: pd.DataFrame) -> list[list[str]]:
    rows = []
    for _, row in table.iterrows():
        cells = []
        for _, column, digits in DISPLAY:
            value = row[column]
            if column == "reads_original":
                cells.append("yes" if value else "no")
            elif column == "n":
                cells.append(f"{int(value)} (few)" if row["few_images"] else str(int(value)))
            elif column == "parameters" and isinstance(value, (int, float)) and math.isfinite(value):
                cells.append(f"{int(value):,}")
            else:
                cells.append(_cell(row, column, digits))
        rows.append(cells)
    return rows


def few_images_note(table: pd.DataFrame) -> str:
    """The caption's warning when a method has too few test images for its intervals to mean much."""
    if not table["few_images"].any():
        return ""
    return (f" (few): fewer than {MIN_IMAGES} test images, too few for a meaningful interval or test; "
            "read those rows as a demonstration, not a result.")


def to_markdown(table: pd.DataFrame, confidence: float) -> str:
    headers = [header for header, _, _ in DISPLAY]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in display_rows(table)]
    note = (f"\nMeans over the test images with {confidence:.0%} bootstrap confidence intervals in brackets. "
            f"Paper columns: the paper's Table 1 for its GAN and diffusion models.{few_images_note(table)}\n")
    return "\n".join(lines) + "\n" + note


def _tex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"), ("#", r"\#")):
        text = text.replace(char, escaped)
    return text


def to_latex(table: pd.DataFrame, confidence: float) -> str:
    headers = [header for header, _, _ in DISPLAY]
    lines = [r"\begin{table}[ht]", r"\centering", r"\scriptsize",
             r"\begin{tabular}{" + "l" * len(headers) + "}", r"\hline",
             " & ".join(_tex_escape(h) for h in headers) + r" \\", r"\hline"]
    lines += [" & ".join(_tex_escape(c) for c in cells) + r" \\" for cells in display_rows(table)]
    lines += [r"\hline", r"\end{tabular}",
              rf"\caption{{Inpainting on the test split: means with {_tex_escape(f'{confidence:.0%}')} bootstrap "
              rf"confidence intervals; paper columns from its Table 1.{_tex_escape(few_images_note(table))}}}",
              r"\label{tab:comparison}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _write_csv(table: pd.DataFrame, path) -> None:
    with provenance.atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def aggregate(methods: list[str], metrics_csvs, summaries, model_metas: dict[str, str], aggregation: dict,
              outputs: dict, log=None) -> pd.DataFrame:
    """Write comparison.{csv,md,tex}, pairwise.csv, by_hole_size.csv and by_category.csv; return the comparison.

    `log` (a logger) is warned of every method with fewer than MIN_IMAGES test images.
    """
    if not (len(methods) == len(metrics_csvs) == len(summaries)):
        raise ValueError(f"aggregate: {len(methods)} methods but {len(metrics_csvs)} metric files "
                         f"and {len(summaries)} summaries")
    per_method, rows = {}, []
    for method, metrics_csv, summary_json in zip(methods, metrics_csvs, summaries):
        images, summary, meta = read_method(metrics_csv, summary_json, model_metas.get(method))
        if summary["method"] != method:
            raise ValueError(f"{summary_json}: summary of method {summary['method']!r}, expected {method!r}")
        per_method[method] = images
        rows.append(comparison_row(method, images, summary, meta, aggregation))
    table = pd.DataFrame(rows)
    for row in rows:
        if row["few_images"] and log:
            log.warning("%s: %d test images, fewer than %d: its confidence intervals are too narrow and its "
                        "paired tests weak; marked (few) in the table", row["method"], row["n"], MIN_IMAGES)
    _write_csv(table, outputs["csv"])
    provenance.write_text(outputs["md"], to_markdown(table, aggregation["confidence"]))
    provenance.write_text(outputs["tex"], to_latex(table, aggregation["confidence"]))
    _write_csv(pairwise(per_method), outputs["pairwise"])
    _write_csv(by_hole_size(per_method, aggregation["hole_size_bins"]), outputs["by_hole_size"])
    _write_csv(by_category(per_method), outputs["by_category"])
    return table
