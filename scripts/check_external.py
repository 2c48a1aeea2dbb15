"""Snakemake step: read and check one external method's predictions on one protocol before they are scored."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.external_evaluation import check_external  # noqa: E402
from inpaintbench.logs import exit_on_error  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
with exit_on_error():  # check_external() logs its error
    check_external(sm.wildcards.method, sm.params.folder, sm.input.test, sm.params.settings,
                   check_json=sm.output.check, log_path=sm.log[0], threads=sm.threads)
