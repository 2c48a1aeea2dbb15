# inpaintbench: image inpainting benchmark, GANs vs diffusion models vs classical baselines.
# Stages: rules/data.smk -> rules/train.smk -> rules/evaluate.smk -> rules/report.smk
# Run:    snakemake --cores all                     (config/config.yaml: Places365-val)
#         snakemake --cores all --configfile config/demo.yaml   (offline demo)

from snakemake.utils import min_version

from inpaintbench.config import ConfigError, check_sources, read_yaml, shown_path, validate_config

min_version("9.0")


# A config given with --configfile replaces the default one instead of being merged into it,
# so that the demo's small models inherit nothing from the full-size defaults.
if not workflow.overwrite_configfiles:
    try:  # Snakemake's loader would not name the line of a YAML syntax error
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


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
