"""Snakemake step: merge a chunked method's evaluation chunks into the files one evaluation job writes."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.chunks import Chunk, merge_chunks  # noqa: E402
from inpaintbench.logs import exit_on_error  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
chunks = [Chunk(*files) for files in zip(sm.input.metrics, sm.input.summaries, sm.input.features, sm.input.images)]
with exit_on_error():  # merge_chunks() logs its error
    merge_chunks(chunks, params=sm.params.settings, metrics_csv=sm.output.metrics, summary_json=sm.output.summary,
                 features_npz=sm.output.features, images_dir=sm.output.images, log_path=sm.log[0])
