# inpaintbench: image inpainting benchmark, GANs vs diffusion models vs classical baselines.
# Stages: rules/data.smk -> rules/train.smk -> rules/evaluate.smk -> rules/report.smk
# Run:    snakemake --cores all                     (config/config.yaml: Places365-val)
#         snakemake --cores all --configfile config/demo.yaml   (offline demo)

from snakemake.utils import min_version, validate

min_version("9.0")


# A config given with --configfile replaces the default one instead of being merged into it,
# so that the demo's small models inherit nothing from the full-size defaults.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "src/inpaintbench/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
