"""The comparison of every method under every mask protocol: the paper's Table 1 redone, with
confidence intervals, paired tests between methods, and the metrics by hole size and by scene
category, each per protocol.

Inputs are the per-image CSVs and summaries of evaluation (one per method and protocol), and for
trained models their meta.json (epochs, final main loss, parameters, training time), and the
InceptionV3 features evaluation saved: the test images' and each (protocol, method)'s. FID, KID and
P-IDS/U-IDS are computed here from those files, never from images: so an edit of KID's settings
reruns this job alone (seconds per method; bench/results/distribution.json), not an evaluation.
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

# The features module (FID, KID, IDS) is imported where it is used: it loads TensorFlow, which the
# figures, importing this module for its bins, do not need.

METRICS = ("psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "sharpness")
# How much a method changed the pixels outside the hole before they were pasted back: mean |output - input|
# on 0-255 and the PSNR of the known region (inpaintbench.metrics.known_pixel_change); 0 and inf for ours.
KNOWN = ("known_change", "known_psnr")
# The distribution metrics' columns (features.distribution_metrics' names, KID's mean as `kid`).
DISTRIBUTION_COLUMNS = {"fid": "fid", "kid": "kid_mean", "kid_sd": "kid_sd", "p_ids": "p_ids", "u_ids": "u_ids"}
# The field's bins of hole area (LaMa, AOT-GAN): 0-10%, ..., 40-50%, each (low, high]; holes above
# 50% (none in the built-in evaluation protocols, which redraw them) go to a last 50-100% bin.
HOLE_SIZE_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 1.0)
# Fewer test images than this and a method's intervals and tests mean little: a percentile bootstrap
# interval of a mean is built from the sample's own spread, so it is too narrow for small samples
# (a nominal 95% one covers about 90% of the time at 10 images, 93.6% at 30, for normal data), and
# under 6 pairs the Wilcoxon test cannot reach p < 0.05 at all. Such rows are flagged (few_images).
MIN_IMAGES = 30
# The paper's Table 1 (repair epoch, repair loss, PSNR, SSIM), beside our rows of its two models.
PAPER_TABLE = {
    "gan_paper": {"paper_repair_epochs": "999/1000", "paper_repair_loss": 0.349,
                  "paper_psnr": 10.78, "paper_ssim": 0.46},
    "diffusion_paper": {"paper_repair_epochs": "999/1000", "paper_repair_loss": 0.098,
                        "paper_psnr": 17.39, "paper_ssim": 0.82},
}
PAPER_COLUMNS = ("paper_repair_epochs", "paper_repair_loss", "paper_psnr", "paper_ssim")
BIN_COLUMNS = ("n", *METRICS)


def hole_size_bin(fractions) -> np.ndarray:
    """The bin (index into HOLE_SIZE_EDGES) of each hole-area fraction: (low, high], 0 in the first."""
    index = np.searchsorted(HOLE_SIZE_EDGES, np.asarray(fractions, float), side="left") - 1
    return np.clip(index, 0, len(HOLE_SIZE_EDGES) - 2)


def hole_size_label(index: int) -> str:
    return f"{100 * HOLE_SIZE_EDGES[index]:.0f}-{100 * HOLE_SIZE_EDGES[index + 1]:.0f}%"


def read_method(metrics_csv, summary_json, meta_json=None) -> tuple[pd.DataFrame, dict, dict | None]:
    """(per-image rows, evaluation summary, model meta or None) of one method; errors name the file."""
    rows = pd.read_csv(metrics_csv, keep_default_na=False, na_values=["nan", "NaN", ""],
                       dtype={"id": str, "category": str})
    missing = {"id", "category", "hole_fraction", *METRICS, *KNOWN} - set(rows.columns)
    if missing:
        raise ValueError(f"{metrics_csv}: missing column(s) {', '.join(sorted(missing))}")
    if rows.empty:
        raise ValueError(f"{metrics_csv}: no image rows")
    summary = json.loads(Path(summary_json).read_text())
    meta = json.loads(Path(meta_json).read_text()) if meta_json else None
    return rows, summary, meta


def defined_mean(values) -> float:
    """Mean of the values that are not NaN (hole SSIM where no window fits); NaN if none is."""
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


def known_means(change, psnr) -> dict:
    """The means of the known-pixel columns: an infinite known PSNR (an image left alone) is its own mean."""
    psnr = np.asarray(psnr, float)
    return {"known_change": float(np.mean(change)),
            "known_psnr": float(psnr.mean()) if np.isfinite(psnr).all() else math.inf}


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


def comparison_row(protocol: str, method: str, rows: pd.DataFrame, summary: dict, meta: dict | None,
                   aggregation: dict, *, family: str) -> dict:
    rng = np.random.default_rng(aggregation["seed"])
    row = {"protocol": protocol, "method": method, "family": family, "kind": summary["kind"],
           "reads_original": bool(summary["needs_original"]), "n": len(rows), "few_images": len(rows) < MIN_IMAGES,
           "hole_ssim_n": int(np.isfinite(rows["hole_ssim"].to_numpy(float)).sum())}
    if meta:
        planned = (meta.get("config") or {}).get("training", {}).get("epochs", meta["epochs"])
        row.update(repair_epochs=f"{meta['epochs']}/{planned}",
                   final_repair_loss=float(meta["final_losses"][meta["main_loss"]]),
                   parameters=int(meta["parameters"]), training_seconds=float(meta["training_seconds"]))
    else:
        row.update(repair_epochs="", final_repair_loss=math.nan, parameters=math.nan, training_seconds=math.nan)
    for metric in METRICS:
        row[metric] = defined_mean(rows[metric])
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = bootstrap_ci(
            rows[metric], aggregation["bootstrap_samples"], aggregation["confidence"], rng)
    row.update(known_means(rows["known_change"], rows["known_psnr"]))
    row["inference_ms"] = float(summary["inference_ms_per_image"])
    row.update(PAPER_TABLE.get(summary["kind"], dict.fromkeys(PAPER_COLUMNS, "")))
    return row


def wilcoxon(differences) -> tuple[float, float]:
    """(statistic, p-value) of the Wilcoxon signed-rank test of paired differences; (NaN, 1) when they
    are all zero (identical on every image: no evidence of a difference)."""
    differences = np.asarray(differences, float)
    if np.count_nonzero(differences) == 0:
        return math.nan, 1.0
    result = stats.wilcoxon(differences)
    return float(result.statistic), float(result.pvalue)


def distribution_columns(result: dict, scored: str) -> dict:
    """A comparison row's FID, KID, its sd, P-IDS and U-IDS (NaN when not scored), from
    features.distribution_metrics: `distribution_status` is "scored", "partly scored" (too few images
    for some) or "unavailable" (no weights: no value at all), `distribution_reason` says why per metric,
    `distribution_n` how many images were scored and `distribution_output` which output (`scored`)."""
    row = {column: math.nan if result[name] is None else float(result[name])
           for column, name in DISTRIBUTION_COLUMNS.items()}
    reasons = {}
    for column, name in DISTRIBUTION_COLUMNS.items():
        if name in result["unavailable"]:
            reasons.setdefault(result["unavailable"][name], []).append(column)
    status = "unavailable" if result["n"] == 0 else "partly scored" if reasons else "scored"
    return {**row, "distribution_n": result["n"], "distribution_output": scored, "distribution_status": status,
            "distribution_reason": "; ".join(f"{', '.join(columns)}: {reason}" for reason, columns in reasons.items())}


def _distribution_cell(row, column: str, digits: int) -> str:
    """"unavailable" without weights; "n/a: why" for a metric too few images cannot give; else the value."""
    if row["distribution_status"] == "unavailable":
        return "unavailable"
    value = row[column]
    if not math.isfinite(value):
        from .features import DIMENSIONS

        if column in ("p_ids", "u_ids") and row["distribution_n"] <= DIMENSIONS + 1:
            return f"n/a: needs > {DIMENSIONS + 1} images"
        return "n/a"
    if column == "kid" and math.isfinite(row["kid_sd"]):
        return f"{value:.{digits}f} ± {row['kid_sd']:.{digits}f}"
    return f"{value:.{digits}f}"


def paired_rows(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Two methods' per-image `metric` paired by image id ({metric}_a, {metric}_b), on the images
    both scored (finite in both): what every paired test and difference is computed on."""
    both = a[["id", metric]].merge(b[["id", metric]], on="id", suffixes=("_a", "_b"))
    return both[np.isfinite(both[f"{metric}_a"]) & np.isfinite(both[f"{metric}_b"])]


def pairwise(per_method: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Wilcoxon signed-rank test on per-image PSNR for each pair of methods (same images, paired by id)."""
    records = []
    for a, b in itertools.combinations(per_method, 2):
        paired = paired_rows(per_method[a], per_method[b], "psnr")
        differences = (paired["psnr_a"] - paired["psnr_b"]).to_numpy()
        statistic, p_value = wilcoxon(differences)
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
                            **{metric: defined_mean(group[metric]) for metric in METRICS}})
    return pd.DataFrame(records, columns=["method", key, *BIN_COLUMNS])


def by_hole_size(per_method: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Means per bin of hole area (HOLE_SIZE_EDGES), the same bins for every method and protocol."""
    binned = {method: rows.assign(bin=hole_size_bin(rows["hole_fraction"])) for method, rows in per_method.items()}
    table = _grouped(binned, "bin")
    index = table["bin"].to_numpy(int)
    table["bin"] = [hole_size_label(i) for i in index]
    table.insert(2, "hole_fraction_low", np.asarray(HOLE_SIZE_EDGES)[index])
    table.insert(3, "hole_fraction_high", np.asarray(HOLE_SIZE_EDGES)[index + 1])
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
    ("Protocol", "protocol", 0), ("Method", "method", 0), ("Family", "family", 0),
    ("Reads original", "reads_original", 0),
    ("Test images", "n", 0), ("Repair epochs", "repair_epochs", 0), ("Repair loss", "final_repair_loss", 3),
    ("PSNR (dB)", "psnr", 2), ("SSIM", "ssim", 3), ("Hole PSNR (dB)", "hole_psnr", 2), ("Hole SSIM", "hole_ssim", 3),
    ("Hole SSIM images", "hole_ssim_n", 0), ("L1", "l1", 4), ("Hole L1", "hole_l1", 4),
    ("Sharpness (hole detail / truth)", "sharpness", 3), ("Known-pixel change (of 255)", "known_change", 3),
    ("Known PSNR (dB)", "known_psnr", 2), ("FID", "fid", 2), ("KID (± sd)", "kid", 4),
    ("P-IDS", "p_ids", 3), ("U-IDS", "u_ids", 3), ("FID/KID/IDS scored", "distribution_output", 0),
    ("Parameters", "parameters", 0), ("Training (s)", "training_seconds", 0),
    ("Inference (ms/image)", "inference_ms", 1),
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
            elif column in DISTRIBUTION_COLUMNS:
                cells.append(_distribution_cell(row, column, digits))
            elif column == "known_psnr" and value == math.inf:
                cells.append("inf")
            else:
                cells.append(_cell(row, column, digits))
        rows.append(cells)
    return rows


def few_images_note(table: pd.DataFrame) -> str:
    """The caption's warning when a method has too few test images for its intervals to mean much."""
    if not table["few_images"].any():
        return ""
    return (f" Rows marked (few) rest on fewer than {MIN_IMAGES} test images, too few for a meaningful interval "
            "or test: read them as a demonstration, not a result.")


def distribution_note(table: pd.DataFrame) -> str:
    """The captions' sentences on the blur measure and the distribution metrics, and why any are missing."""
    note = (" Sharpness: the fill's mean neighbour difference in the hole over the truth's (1: as detailed, "
            "below 1: blurrier). FID, KID and P-IDS/U-IDS: on InceptionV3 features (Keras's weights) of the whole "
            "images, one sample per image; they rank methods within this benchmark and are not comparable with "
            "published values.")
    unavailable = table.loc[table["distribution_status"] == "unavailable", "distribution_reason"]
    if len(unavailable):
        note += f" Unavailable: {unavailable.iloc[0].split(': ', 1)[-1].rstrip('.')}."
    return note


KNOWN_PIXELS_NOTE = (
    " Every method is scored on the 8-bit image it delivers, with the known pixels pasted back (the benchmark's "
    "policy for every method; ours paste them back themselves), so methods differ only inside the holes. "
    "Known-pixel change: how much a method altered the pixels outside the hole before that, as mean absolute "
    "difference on 0-255 and the PSNR of the known region against the input (0 and inf: left alone). "
    "Family: gan, diffusion, classical or other, what the front page compares.")


def table_note(table: pd.DataFrame, confidence: float) -> str:
    """The comparison table's caption, for the markdown and HTML renderings."""
    return (f"Means over the test images with {confidence:.0%} bootstrap confidence intervals in brackets, "
            "per mask protocol. Hole SSIM: over the images whose hole holds a whole 7x7 window (Hole SSIM images). "
            f"Paper columns: the paper's Table 1 (square holes) for its GAN and diffusion models. "
            "Repair epochs: run of configured; a paper model's epoch is one batch, as in the paper, the others' "
            "steps_per_epoch batches. Repair loss: each model's own main loss at the end of training (paper "
            "models: MSE of the repaired image; gan: weighted L1; diffusion: MSE of the predicted noise or x0), "
            "comparable within a kind, not across kinds."
            f"{KNOWN_PIXELS_NOTE}{distribution_note(table)}{few_images_note(table)}")


def to_markdown(table: pd.DataFrame, confidence: float) -> str:
    headers = [header for header, _, _ in DISPLAY]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cells) + " |" for cells in display_rows(table)]
    return "\n".join(lines) + "\n\n" + table_note(table, confidence) + "\n"


def from_markdown(markdown: str) -> list[list[str]]:
    """The cells of the lines of a to_markdown table (header first, the rule line and the note dropped):
    how a benchmark reads back the table it recorded."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|")]
    return [row for row in rows if not all(set(cell) <= {"-", ":"} for cell in row)]


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
              rf"\caption{{Inpainting on the test split, per mask protocol: means with "
              rf"{_tex_escape(f'{confidence:.0%}')} bootstrap confidence intervals; paper columns from its Table 1."
              rf"{_tex_escape(KNOWN_PIXELS_NOTE + distribution_note(table) + few_images_note(table))}}}",
              r"\label{tab:comparison}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _write_csv(table: pd.DataFrame, path) -> None:
    with provenance.atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def _per_protocol(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One table from a table per protocol, with the protocol as its first column."""
    return pd.concat([table.assign(protocol=protocol)[["protocol", *table.columns]]
                      for protocol, table in tables.items()], ignore_index=True)


def aggregate(protocols: list[str], methods: list[str], metrics_csvs, summaries, outputs: dict, *,
              model_metas: dict[str, str], aggregation: dict, distribution: dict, families: dict[str, str],
              logger=None) -> pd.DataFrame:
    """Write comparison.{csv,md,tex}, pairwise.csv, by_hole_size.csv and by_category.csv, every table per
    protocol; return the comparison. metrics_csvs and summaries hold every method of the first
    protocol, then of the second, and so on. `distribution` holds the test images' features file
    ("real"), the methods' ("features", in that order) and evaluation.distribution ("settings");
    `families` each method's family (inpaintbench.families).
    `logger` is warned of every method with fewer than MIN_IMAGES test images."""
    from . import features

    runs = [(protocol, method) for protocol in protocols for method in methods]
    if not (len(runs) == len(metrics_csvs) == len(summaries) == len(distribution["features"])):
        raise ValueError(f"aggregate: {len(methods)} methods x {len(protocols)} protocols but {len(metrics_csvs)} "
                         f"metric files, {len(summaries)} summaries and {len(distribution['features'])} feature files")
    real = features.load_features(distribution["real"])
    per_run, rows = {protocol: {} for protocol in protocols}, []
    for (protocol, method), metrics_csv, summary_json, features_npz in zip(runs, metrics_csvs, summaries,
                                                                          distribution["features"]):
        images, summary, meta = read_method(metrics_csv, summary_json, model_metas.get(method))
        if (summary["protocol"], summary["method"]) != (protocol, method):
            raise ValueError(f"{summary_json}: summary of method {summary['method']!r} on protocol "
                             f"{summary['protocol']!r}, expected {method!r} on {protocol!r}")
        per_run[protocol][method] = images
        scores = features.distribution_metrics(real, features.load_features(features_npz), distribution["settings"])
        rows.append({**comparison_row(protocol, method, images, summary, meta, aggregation, family=families[method]),
                     **distribution_columns(scores, summary["distribution"]["scored"])})
    table = pd.DataFrame(rows)
    for row in rows:
        if row["few_images"] and logger:
            logger.warning("%s on %s: %d test images, fewer than %d: its confidence intervals are too narrow and "
                        "its paired tests weak; marked (few) in the table", row["method"], row["protocol"], row["n"],
                        MIN_IMAGES)
    _write_csv(table, outputs["csv"])
    provenance.write_text(outputs["md"], to_markdown(table, aggregation["confidence"]))
    provenance.write_text(outputs["tex"], to_latex(table, aggregation["confidence"]))
    for name, tabulate in (("pairwise", pairwise), ("by_hole_size", by_hole_size), ("by_category", by_category)):
        _write_csv(_per_protocol({protocol: tabulate(per_method) for protocol, per_method in per_run.items()}),
                   outputs[name])
    return table
