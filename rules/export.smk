# The frozen test set as files, per mask protocol: what other projects' models inpaint and
# `inpaintbench score` (the referee) scores. Nothing here depends on a method.

EXPORT = "results/export"


def export_params(wildcards):
    """What an export's bytes depend on: the protocol's masks, the test images (data keys, size, limit), the polarity."""
    data = config["data"]
    return canonical(
        {
            "masks": protocol_params(wildcards.protocol),
            "image_size": data["image_size"],
            "limit": config["evaluation"]["limit"],
            "mask_polarity": config["export"]["mask_polarity"],
            "data": {
                **data_params("source", "folder", "limit", "seed", "split", "demo"),
                "archive_md5": data["md5"] if data["source"] == "places365" else None,
            },
        }
    )


rule export_protocol:
    """One protocol's test set: <id>.png, <id>_mask.png, manifest.csv and export.json."""
    input:
        test=split_files("test"),
    output:
        folder=directory(f"{EXPORT}/{{protocol}}"),
    log:
        "results/logs/export/{protocol}.log",
    benchmark:
        "results/benchmarks/export/{protocol}.tsv"
    conda:
        ENV
    params:
        settings=export_params,
    script:
        "../scripts/export.py"


rule export:
    """Target: the test set of every protocol in evaluation.protocols, as files."""
    input:
        expand(f"{EXPORT}/{{protocol}}", protocol=PROTOCOLS),
