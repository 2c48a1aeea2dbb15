"""Snakemake step: the report's front page (verdict, headline tables, grids) and the comparison table as HTML."""

from inpaintbench.headline import write_front_page
from inpaintbench.logs import exit_on_error, get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("front_page", sm.log[0])
with exit_on_error(logger):
    runs = [(protocol, method) for protocol in sm.params.protocols for method in sm.params.methods]
    grids = dict(zip(sm.params.protocols, sm.input.grids))
    verdicts = write_front_page(sm.input.table, dict(zip(runs, sm.input.metrics)), grids, sm.params.page,
                                sm.output.page, sm.output.table)
    for protocol, sentences in verdicts.items():
        logger.info("%s: %s", protocol, " ".join(sentences))
    logger.info("front page -> %s; comparison table -> %s", sm.output.page, sm.output.table)
