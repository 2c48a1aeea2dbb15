"""The family of every method: the study asks whether diffusion inpaints better than GANs, so the front
page compares the best method of each family, not two models by name.

A trained model's family is its kind's FAMILY (a literal in the kind's module, read without importing
it, as DEFAULTS is: the built-in kinds declare gan or diffusion; a kind of your own that declares none
is "other"); a classical baseline (evaluation.baselines) is "classical"; an external method's is its
config's `external.<name>.family`.
"""

from __future__ import annotations

from . import models

FAMILIES = ("gan", "diffusion", "classical", "other")
# The two families the study's question is about, in the order the front page names them.
COMPARED = ("gan", "diffusion")
UNDECLARED = "other"


def kind_family(kind: str) -> str:
    """A model kind's family: its FAMILY, or "other"; a value outside FAMILIES is an error naming the file."""
    declared = models.declared_family(kind)
    if declared is None:
        return UNDECLARED
    if declared not in FAMILIES:
        raise ValueError(f"{models.source_file(kind)}: FAMILY {declared!r} is not one of {', '.join(FAMILIES)}")
    return declared


def family(method: str, config: dict) -> str:
    """The family of `method` (a model, a baseline or an external method of `config`)."""
    if method in config["models"]:
        return kind_family(config["models"][method]["kind"])
    if method in config["evaluation"]["baselines"]:
        return "classical"
    external = (config.get("external") or {}).get(method)
    if external is not None:
        return external.get("family", UNDECLARED)
    raise ValueError(f"method {method!r} is not a model, a baseline nor an external method of the config")
