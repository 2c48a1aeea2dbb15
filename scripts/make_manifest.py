"""Snakemake step: list the source's images into results/data/manifest.csv."""

import pandas as pd

from inpaintbench.config import enabled_models
from inpaintbench.data import prepare
from inpaintbench.logs import exit_on_error, get_logger
from inpaintbench.provenance import atomic_path

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("manifest", sm.log[0])
with exit_on_error(logger):
    categories = None
    if sm.input.categories:
        table = pd.read_csv(sm.input.categories, dtype=str, keep_default_na=False)
        categories = dict(zip(table["file"], table["category"]))
        if not categories:
            logger.warning("no scene categories known: the category column stays empty")
    if "train" in sm.params.data:
        listing = prepare.build_train_test_manifest(sm.params.data, sm.params.archives, categories,
                                                    sm.params.archive_md5)
    else:
        listing = prepare.build_manifest(sm.params.data, archive=sm.params.archives.get("all"),
                                         categories=categories, archive_md5=sm.params.archive_md5,
                                         needs_train=bool(enabled_models(sm.config)))
    for item in listing.skipped:
        logger.warning(f"skipped {item['source']}: {item['reason']}")
    frame = prepare.manifest_frame(listing)
    logger.info(f"{len(frame)} images listed, {len(listing.skipped)} entries skipped; "
             f"split: {frame['split'].value_counts().to_dict()}")
    with atomic_path(sm.output.manifest) as tmp:
        frame.to_csv(tmp, index=False)
    with atomic_path(sm.output.skipped) as tmp:
        pd.DataFrame(listing.skipped, columns=["source", "reason"]).to_csv(tmp, index=False)
