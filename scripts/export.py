"""Snakemake step: the test split of one mask protocol as PNG images and masks, a manifest and export.json."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.export import export_protocol  # noqa: E402
from inpaintbench.logs import exit_on_error  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
with exit_on_error():  # export_protocol() logs its error
    export_protocol(sm.input.test, sm.output.folder, sm.params.settings, log_path=sm.log[0], threads=sm.threads)
