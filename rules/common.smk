# Helpers shared by the stages (rules/*.smk): the paths and the config slices more than one stage
# uses, the wildcards' constraints, and the functions that give each rule exactly its slice of the
# config as params (so that only an edit of that slice reruns it). A stage's own paths are in its file.

from inpaintbench.config import canonical, enabled_models, evaluation_chunks, external_folder
from inpaintbench.data.layout import SPLITS, download_name, part_of, shard_name, source_parts
from inpaintbench.data.images import image_paths
from inpaintbench.models import reads_seed
from inpaintbench.train_config import model_settings, training_masks

DATA = "results/data"
SHARDS = config["data"]["shards"]
SOURCE_PARTS = source_parts(config["data"])
MODELS = enabled_models(config)
OWN_METHODS = MODELS + list(config["evaluation"]["baselines"])
# The own methods whose evaluation on a protocol is split into several jobs (config evaluation.chunks).
CHUNKED = [method for method in OWN_METHODS if evaluation_chunks(config, method) > 1]
# Methods whose predictions were made elsewhere (config `external`), scored from their files.
EXTERNAL = sorted(config["external"])
METHODS = OWN_METHODS + EXTERNAL
# The paper's square first, then the others as listed: the order of the tables.
PROTOCOLS = sorted(config["evaluation"]["protocols"], key=lambda name: name != "square")
ENV = "../envs/inpaintbench.yaml"


wildcard_constraints:
    shard=r"\d+",
    model="|".join(MODELS) or "NO_MODEL",
    method="|".join(METHODS),
    protocol="|".join(PROTOCOLS),


def data_params(*keys):
    """The data.* keys a rule depends on, nothing else (so only their edits rerun it)."""
    return canonical({key: config["data"][key] for key in keys})


def archive_path(part):
    """The tar a source part reads: the user's own (archive) or the downloaded one; none for a folder or the demo."""
    source = SOURCE_PARTS[part]
    if source["source"] != "places365":
        return None
    return source["archive"] or f"results/downloads/{download_name(source)}"


def archives():
    """{part: tar} of every part that reads a tar (the paper's protocol: `all`, else `train` and `test`)."""
    return {part: archive_path(part) for part in SOURCE_PARTS if archive_path(part)}


def split_archives():
    """{split: tar its images are read from}: the shard jobs read each row from its own source's tar."""
    return {split: archive_path(part_of(split, SOURCE_PARTS)) for split in SPLITS}


def per_part(value):
    """`value(source)` of the one source (the paper's protocol), else {part: value(source)}."""
    if "all" in SOURCE_PARTS:
        return value(SOURCE_PARTS["all"])
    return {part: value(source) for part, source in SOURCE_PARTS.items()}


def user_archive_md5():
    """The md5 of each archive the user supplies, for the manifest job to check (a download is checked on arrival)."""
    return per_part(lambda s: s["md5"] if s["source"] == "places365" and s["archive"] else None)


def shard_files(shard):
    return [f"{DATA}/tfrecords/{shard_name(split, shard, SHARDS)}" for split in SPLITS]


def split_files(split):
    return [f"{DATA}/tfrecords/{shard_name(split, i, SHARDS)}" for i in range(SHARDS)]


# The per-(protocol, method) outputs of rules/evaluate.smk that rules/report.smk reads.
METRICS_PATTERN = "results/metrics/{protocol}/{method}"
# The test images' InceptionV3 features (one job; the only one that fetches or loads the weights).
REAL_FEATURES = "results/features/real.npz"
# One chunk of a chunked evaluation (rules/evaluate.smk), merged into METRICS_PATTERN's files.
CHUNK_PATTERN = "results/evaluation/chunks/{protocol}/{method}/{chunk}-of-{chunks}"


def evaluation_gpus(wildcards):
    """GPUs of an evaluation job: evaluation.resources.gpus for a trained model, none for a baseline (numpy)."""
    if wildcards.method not in MODELS:
        return 0
    return config["evaluation"]["resources"].get("gpus", 0)


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
    """What the test images' features depend on: which images (the limit) and the weights and their batch.
    Not evaluation.batch_size: the images are read in the features' own batches."""
    evaluation = config["evaluation"]
    return canonical(
        {
            "evaluation": {"limit": evaluation["limit"], "distribution": feature_settings()},
            "image_size": config["data"]["image_size"],
        }
    )


def draws_with_seed(method):
    """Whether the method's output depends on evaluation.seed: a model whose kind reads it (diffusion), no baseline."""
    return method in MODELS and reads_seed(config["models"][method]["kind"])


def evaluation_params(wildcards):
    """The evaluation slice the job depends on: not the baselines' list or the protocols (its wildcards
    say which), evaluation.seed only for a method that draws with it, of evaluation.distribution only
    what features depend on; the protocol's masks; for a model its config entry and training masks (so
    one model's, one baseline's or one protocol's edit reruns only its jobs, an edit of KID's settings none).
    Not evaluation.chunks: a chunked method's chunk paths and merge inputs hold its count, and one job's
    params are the merge's (the same summary)."""
    model = None
    if wildcards.method in MODELS:
        model = {**model_settings(config, wildcards.method), "masks": training_masks(config, wildcards.method)}
    unread = {"resources", "protocols", "baselines", "distribution", "chunks"} | (
        set() if draws_with_seed(wildcards.method) else {"seed"}
    )
    evaluation = {key: value for key, value in config["evaluation"].items() if key not in unread}
    return canonical(
        {
            "evaluation": {**evaluation, "distribution": feature_settings()},
            "image_size": config["data"]["image_size"],
            "masks": protocol_params(wildcards.protocol),
            "model": model,  # rerun trigger (recorded in the summary): the job reads the model from its files
        }
    )


def chunk_files(name):
    """A chunked method's chunk files `name` (in CHUNK_PATTERN's folder), chunk 1 of n to n of n: the merge's input."""

    def files(wildcards):
        count = evaluation_chunks(config, wildcards.method)
        return expand(
            f"{CHUNK_PATTERN}/{name}",
            protocol=wildcards.protocol,
            method=wildcards.method,
            chunk=range(1, count + 1),
            chunks=count,
        )

    return files


def metric_files(extension):
    """Every (protocol, method)'s metrics file, every method of the first protocol first."""
    return expand(f"{METRICS_PATTERN}.{extension}", protocol=PROTOCOLS, method=METHODS)


# What check_external found in an external method's predictions, before evaluate_external scores them.
CHECKS = "results/checks"


def prediction_folder(wildcards):
    """The folder of an external method's predictions on the protocol."""
    return str(external_folder(config, wildcards.method, wildcards.protocol))


def prediction_files(wildcards):
    """Every image file in that folder: adding, changing or removing one reruns the method's evaluation."""
    return [str(path) for path in image_paths(prediction_folder(wildcards))]


def external_params(wildcards):
    """What an external method's scores depend on: its config entry, the test images and the protocol's masks
    (as the export writes them, polarity included), the showcase count and what features depend on."""
    evaluation = config["evaluation"]
    return canonical(
        {
            "evaluation": {
                "limit": evaluation["limit"],
                "save_images": evaluation["save_images"],
                "distribution": feature_settings(),
            },
            "image_size": config["data"]["image_size"],
            "masks": protocol_params(wildcards.protocol),
            "mask_polarity": config["export"]["mask_polarity"],
            "external": config["external"][wildcards.method],
        }
    )
