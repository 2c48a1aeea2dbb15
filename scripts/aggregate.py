"""Snakemake step: the comparison tables of every method under every mask protocol."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before the features module loads it: its start-up lines stay out of the job output
from inpaintbench.aggregate import aggregate  # noqa: E402
from inpaintbench.logs import exit_on_error, get_logger  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("aggregate", sm.log[0])
with exit_on_error(logger):
    metas = dict(zip(sm.params.models, sm.input.metas))
    table = aggregate(list(sm.params.protocols), list(sm.params.methods), sm.input.metrics, sm.input.summaries,
                      dict(sm.output.items()), model_metas=metas, aggregation=sm.params.aggregation, logger=logger,
                      distribution={"real": sm.input.real_features, "features": sm.input.features,
                                    "settings": sm.params.distribution},
                      families=dict(sm.params.families))
    logger.info("comparison of %d methods on %d protocol(s) -> %s\n%s", len(sm.params.methods),
                len(sm.params.protocols), sm.output.csv,
                table[["protocol", "method", "n", "psnr", "ssim", "hole_psnr", "sharpness", "fid", "kid"]]
                .to_string(index=False))
