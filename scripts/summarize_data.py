"""Snakemake step: images per split and every skipped image, in results/data/summary.json."""

import pandas as pd

from inpaintbench.data import prepare
from inpaintbench.logs import exit_on_error, get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("summary", sm.log[0])
with exit_on_error(logger):
    summary = prepare.summarize([prepare.load_json(p) for p in sm.input.stats],
                                pd.read_csv(sm.input.skipped, dtype=str, keep_default_na=False))
    for item in summary["skipped_items"]:
        logger.warning(f"skipped {item['source']}: {item['reason']}")
    logger.info(f"{summary['total']} images {summary['images']}; {summary['skipped']} skipped "
             f"{summary['skipped_by_reason']}")
    prepare.write_summary(sm.output[0], summary, {"data": sm.params.data})
