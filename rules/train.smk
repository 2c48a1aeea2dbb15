# The training stage: one job per enabled model on resources.gpus GPUs, checkpointed and resumable.
# A job's working state (checkpoints, history so far, TensorBoard events) lives in
# results/training/{model}/{fingerprint}: not an output, so Snakemake keeps it when a job fails
# or is preempted, and a rerun resumes from it. The fingerprint covers everything the training
# depends on but not its resources, so a config edit starts afresh and a resources edit resumes.

from inpaintbench.train_config import model_resource, model_settings, state_dir, training_masks


rule train:
    """Train one model on the train split; snapshots of fixed validation images along the way."""
    input:
        train=split_files("train"),
        val=split_files("val"),
    output:
        model="results/models/{model}/model.keras",
        meta="results/models/{model}/meta.json",
        history="results/models/{model}/history.csv",
        snapshots=directory("results/models/{model}/snapshots"),
    log:
        "results/logs/train/{model}.log",
    benchmark:
        "results/benchmarks/train/{model}.tsv"
    # Trainings first: every evaluation waits on one, and the longest is the run's critical path.
    priority: 1
    conda:
        ENV
    threads: lambda wildcards: model_resource(config, wildcards.model, "threads")
    resources:
        gpu=lambda wildcards: model_resource(config, wildcards.model, "gpus"),
        mem_mb=lambda wildcards: model_resource(config, wildcards.model, "mem_mb"),
        runtime=lambda wildcards: model_resource(config, wildcards.model, "runtime"),
    params:
        model=lambda wildcards: model_settings(config, wildcards.model),
        masks=lambda wildcards: training_masks(config, wildcards.model),
        image_size=config["data"]["image_size"],
        state_dir=lambda wildcards: state_dir(config, wildcards.model),
    script:
        "../scripts/train.py"


rule train_all:
    """Target: every enabled model trained."""
    input:
        expand("results/models/{model}/meta.json", model=MODELS),
