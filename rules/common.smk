# Helpers shared by the stages: the config slices each rule depends on, and output lists.

import os
import sys

from inpaintbench.config import BASELINES, canonical, enabled_models, fingerprint
from inpaintbench.data.images import IMAGE_SUFFIXES
from inpaintbench.data.layout import SPLITS, shard_name
from inpaintbench.models import loss_descriptions
from inpaintbench.runtime import VERBOSE
from inpaintbench.train_config import model_settings, training_masks

# Scripts and jobs (also on cluster nodes or in conda envs) import the library from src/.
SRC = os.path.join(workflow.basedir, "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))
# `snakemake --verbose`: jobs show TensorFlow's start-up lines and a failure's traceback too.
if getattr(workflow.output_settings, "verbose", False):
    os.environ[VERBOSE] = "1"

DATA = "results/data"
SHARDS = config["data"]["shards"]
MODELS = enabled_models(config)
METHODS = MODELS + list(config["evaluation"]["baselines"])
# The models that read the undamaged image as their paper writes (set apart in the figures).
PAPER_EXACT = [model for model in MODELS if config["models"][model]["paper_exact"]]
# The paper's square first, then the others as listed: the order of the tables.
PROTOCOLS = sorted(config["evaluation"]["protocols"], key=lambda name: name != "square")
ENV = "../envs/inpaintbench.yaml"


wildcard_constraints:
    shard=r"\d+",
    model="|".join(MODELS) or "NO_MODEL",
    method="|".join(METHODS) or "NO_METHOD",
    protocol="|".join(PROTOCOLS),


def data_params(*keys):
    """The data.* keys a rule depends on, nothing else (so only their edits rerun it)."""
    return canonical({key: config["data"][key] for key in keys})


def folder_state():
    """A hash of every image file's name, size and mtime under data.folder (source: folder).

    As a param it reruns the stage when an image is added, removed or changed, without
    handing Snakemake thousands of inputs (whose names may hold braces).
    """
    folder = config["data"]["folder"]
    if config["data"]["source"] != "folder" or not folder or not os.path.isdir(folder):
        return None
    files = []
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                stat = os.stat(os.path.join(dirpath, name))
                files.append((os.path.relpath(os.path.join(dirpath, name), folder), stat.st_size, stat.st_mtime_ns))
    return fingerprint(sorted(files))


def archive_state():
    """The user's own archive (data.archive) as [path, size, mtime]: replacing the file, even by an
    older one that the mtime trigger would miss, reruns the data stage (a download is md5-checked)."""
    archive = config["data"]["archive"]
    if config["data"]["source"] != "places365" or not archive:
        return None
    stat = os.stat(archive)
    return [os.path.abspath(archive), stat.st_size, stat.st_mtime_ns]


def archive_path():
    """The val_256.tar a run reads: the user's own (data.archive) or the downloaded one."""
    if config["data"]["source"] != "places365":
        return []
    return config["data"]["archive"] or "results/downloads/val_256.tar"


def user_archive_md5():
    """data.md5 if the user supplies the archive, for the manifest job to check (a download is checked on arrival)."""
    if config["data"]["source"] == "places365" and config["data"]["archive"]:
        return config["data"]["md5"]
    return None


def shard_files(shard):
    return [f"{DATA}/tfrecords/{shard_name(split, shard, SHARDS)}" for split in SPLITS]


def split_files(split):
    return [f"{DATA}/tfrecords/{shard_name(split, i, SHARDS)}" for i in range(SHARDS)]


# Evaluation and report (rules/evaluate.smk, rules/report.smk): one evaluation job per (protocol, method).
TABLES = "results/tables"
FIGURES = "results/figures"
METRICS_PATTERN = "results/metrics/{protocol}/{method}"
# The test images' InceptionV3 features (one job; the only one that fetches or loads the weights).
REAL_FEATURES = "results/features/real.npz"
TABLE_FILES = {
    "csv": f"{TABLES}/comparison.csv",
    "md": f"{TABLES}/comparison.md",
    "tex": f"{TABLES}/comparison.tex",
    "pairwise": f"{TABLES}/pairwise.csv",
    "by_hole_size": f"{TABLES}/by_hole_size.csv",
    "by_category": f"{TABLES}/by_category.csv",
}
COMPARISON_FIGURES = {
    "grid": f"{FIGURES}/{{protocol}}/comparison_grid.png",
    "psnr": f"{FIGURES}/{{protocol}}/psnr_vs_hole_size.png",
}
MODEL_FIGURES = ("snapshots", "training_curves")
# The report's front page (report/workflow.rst includes it) and the comparison table as HTML.
FRONT_PAGE = {"page": "results/report/front_page.html", "table": f"{TABLES}/comparison.html"}


def model_files(wildcards):
    """The trained model's files when the method is a model; nothing for a baseline."""
    if wildcards.method not in MODELS:
        return {}
    return {
        "model": f"results/models/{wildcards.method}/model.keras",
        "meta": f"results/models/{wildcards.method}/meta.json",
    }


def protocol_params(protocol):
    """A protocol's name, recipe and the mask seed: what its test masks depend on, nothing else."""
    return canonical(
        {"protocol": protocol, "recipe": config["masks"]["protocols"][protocol], "seed": config["masks"]["seed"]}
    )


def feature_settings():
    """The evaluation.distribution keys features depend on: the weights and the batch (not KID's settings)."""
    return {key: config["evaluation"]["distribution"][key] for key in ("weights", "batch_size")}


def real_features_params():
    """What the test images' features depend on: which images (batch and limit) and the weights."""
    evaluation = config["evaluation"]
    return canonical(
        {
            "evaluation": {
                "batch_size": evaluation["batch_size"],
                "limit": evaluation["limit"],
                "distribution": feature_settings(),
            },
            "image_size": config["data"]["image_size"],
        }
    )


def evaluation_params(wildcards):
    """The evaluation slice (of evaluation.distribution only what features depend on), the protocol's
    masks, and for a model its config entry and training masks (so one model's or one protocol's edit
    reruns only its jobs, and an edit of KID's settings none)."""
    model = None
    if wildcards.method in MODELS:
        model = {**model_settings(config, wildcards.method), "masks": training_masks(config, wildcards.method)}
    evaluation = {
        key: value
        for key, value in config["evaluation"].items()
        if key not in ("resources", "protocols", "distribution")
    }
    return canonical(
        {
            "evaluation": {**evaluation, "distribution": feature_settings()},
            "image_size": config["data"]["image_size"],
            "masks": protocol_params(wildcards.protocol),
            "model": model,
        }
    )


def metric_files(extension):
    """Every (protocol, method)'s metrics file, every method of the first protocol first."""
    return expand(f"{METRICS_PATTERN}.{extension}", protocol=PROTOCOLS, method=METHODS)


def final_outputs():
    """The default target: the trained models, per-(protocol, method) metrics, the tables and every figure.

    The models are targets themselves, not only inputs of evaluation: Snakemake does not remake
    a missing input whose consumers are up to date, so a model folder deleted by an interrupted
    (forced) retraining would stay gone while the tables still describe it.
    """
    return [
        f"{DATA}/summary.json",
        *expand("results/models/{model}/{file}", model=MODELS, file=("model.keras", "meta.json")),
        *metric_files("csv"),
        *metric_files("json"),
        REAL_FEATURES,
        *metric_files("features.npz"),
        *TABLE_FILES.values(),
        *FRONT_PAGE.values(),
        *expand(list(COMPARISON_FIGURES.values()), protocol=PROTOCOLS),
        *expand(f"{FIGURES}/{{model}}/{{figure}}.png", model=MODELS, figure=MODEL_FIGURES),
    ]
