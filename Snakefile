# inpaintbench: image inpainting benchmark, GANs vs diffusion models vs classical baselines.
# Stages: rules/data.smk -> rules/train.smk -> rules/evaluate.smk -> rules/report.smk
# Run:    snakemake --cores all                     (config/config.yaml: Places365-val)
#         snakemake --cores all --configfile config/demo.yaml   (offline demo)

import os

from snakemake.utils import min_version

from inpaintbench.config import ConfigError, check_sources, read_yaml, shown_path, validate_config
from inpaintbench.runtime import VERBOSE
from inpaintbench.workflow import warn_on_stale_report

min_version("9.0")

# The jobs' environment, set once here. Scripts (also on cluster nodes or in conda envs) import the
# library from src/; with `snakemake --verbose` jobs show TensorFlow's start-up lines and a failure's
# traceback too.
SRC = os.path.join(workflow.basedir, "src")
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))
if getattr(workflow.output_settings, "verbose", False):
    os.environ[VERBOSE] = "1"


# A config given with --configfile replaces the default one instead of being merged into it, so
# that the demo's small models inherit nothing from the full-size defaults. Snakemake's own
# --replace-workflow-config (in profiles/default) would not guarantee it, tested with 9.27: with
# `--workflow-profile none` or `--workflow-profile profiles/slurm` profiles/default is not read and
# the configs merge, and with it `--config key=value` alone drops the whole default config.
if not workflow.overwrite_configfiles:
    try:  # Snakemake's loader names neither the file nor the line of a YAML syntax error
        read_yaml("config/config.yaml")
    except ConfigError as error:
        raise SystemExit(f"inpaintbench: error: {error}")

    configfile: "config/config.yaml"


# The schema's defaults filled in, every key and the rules between keys checked by the library. A
# ConfigError stops the run with its one line (an exception would print the Snakefile's traceback).
CONFIG_SOURCE = ", ".join(map(shown_path, workflow.overwrite_configfiles)) or "config/config.yaml"
try:
    config.update(validate_config(config, CONFIG_SOURCE))
    check_sources(config, CONFIG_SOURCE)
except ConfigError as error:
    raise SystemExit(f"inpaintbench: error: {error}")


# `snakemake --report` on results older than the config warns that the report shows the last run.
warn_on_stale_report(workflow)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/export.smk"


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


rule all:
    default_target: True
    input:
        final_outputs(),
