"""What the training rule reads from the config, kept free of TensorFlow so the Snakefile parses fast."""

from __future__ import annotations

from .config import canonical, fingerprint

STATE_ROOT = "results/training"
MODEL_RESOURCES = {"threads": 4, "mem_mb": 16000, "runtime": 720, "gpus": 1}  # the schema's default


def model_settings(config: dict, name: str) -> dict:
    """A model's config entry without what does not change its result (resources, enabled).

    This is what rules receive as params: a cluster user raising `runtime` retrains nothing.
    """
    return canonical({k: v for k, v in config["models"][name].items() if k not in ("resources", "enabled")})


def training_masks(config: dict, name: str) -> dict:
    """The masks a model trains on: its protocol (training.masks), that protocol's recipe and the mask seed.

    Only this part of `masks` reaches the model's params, so editing a protocol retrains exactly
    the models trained on it.
    """
    protocol = config["models"][name]["training"]["masks"]
    return canonical({"protocol": protocol, "recipe": config["masks"]["protocols"][protocol],
                      "seed": config["masks"]["seed"]})


def state_dir(config: dict, name: str) -> str:
    """results/training/{name}/{fingerprint} of a model's checkpoints and history so far.

    The fingerprint covers the model's entry (not its resources), the data and its training masks: a
    config edit starts afresh rather than resuming a stale run, a resources edit resumes.
    """
    data = {k: v for k, v in config["data"].items() if k != "resources"}
    return f"{STATE_ROOT}/{name}/{fingerprint(model_settings(config, name), data, training_masks(config, name))}"


def model_resource(config: dict, name: str, key: str):
    """A model's threads, mem_mb, runtime or gpus; keys missing from a partial `resources` get the default."""
    return config["models"][name].get("resources", {}).get(key, MODEL_RESOURCES[key])
