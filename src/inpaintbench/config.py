"""Load and validate workflow configs against the JSON schema the Snakefile uses.

The library validates with the same schema as `snakemake.utils.validate`, so that the
command line and the tests see exactly the config a workflow run sees, defaults included.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).parent / "schemas" / "config.schema.yaml"
MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
BASELINES = ("black", "mean_fill", "biharmonic", "pyramid_fill")
PAPER_KINDS = ("gan_paper", "diffusion_paper")  # the kinds with a paper-exact variant (paper_exact: true)


class ConfigError(ValueError):
    """A config that breaks the schema or a rule between keys; the message names the key."""


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_config(config: dict, source: str = "config") -> dict:
    """Return a copy of `config` with schema defaults filled in; raise ConfigError naming the key."""
    config = copy.deepcopy(config)
    schema = load_schema()
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            unknown = ", ".join(_key([*error.absolute_path, key]) for key in error.instance if key not in known)
            raise ConfigError(f"{source}: unknown key {unknown} (known here: {', '.join(known)})")
        raise ConfigError(f"{source}: key {_key(error.absolute_path)}: {error.message}")
    check_consistency(config, source)
    return config


def check_consistency(config: dict, source: str = "config") -> None:
    """Rules between keys that a JSON schema cannot say."""
    split = config["data"]["split"]
    if not math.isclose(sum(split.values()), 1.0, abs_tol=1e-6):
        raise ConfigError(f"{source}: key data.split: fractions {split} must add up to 1")
    for name, recipe in config["masks"]["protocols"].items():
        _check_recipe(recipe, f"{source}: key masks.protocols.{name}")
    protocols = config["masks"]["protocols"]
    for protocol in config.get("evaluation", {}).get("protocols", []):
        if protocol not in protocols:
            raise ConfigError(f"{source}: key evaluation.protocols: no protocol {protocol!r} in masks.protocols "
                              f"({', '.join(protocols)})")
    _check_data_sources(config["data"], source)
    for name in config["models"]:
        if not MODEL_NAME.match(name):
            raise ConfigError(f"{source}: key models.{name}: a model name is letters, digits and _")
        if name in BASELINES:
            raise ConfigError(f"{source}: key models.{name}: the name is taken by a baseline")
        protocol = config["models"][name]["training"]["masks"]
        if protocol not in protocols:
            raise ConfigError(f"{source}: key models.{name}.training.masks: no protocol {protocol!r} in "
                              f"masks.protocols ({', '.join(protocols)})")
    if not enabled_models(config) and not config["evaluation"]["baselines"] and not config["external"]:
        raise ConfigError(f"{source}: keys models, evaluation.baselines and external: no enabled model, no "
                          "baseline and no external method, so there is nothing to evaluate")
    _check_models(config, source)
    _check_external(config, source)
    _check_chunks(config, source)
    figures, evaluation = config["figures"], config["evaluation"]
    if figures["comparison_images"] > evaluation["save_images"]:
        raise ConfigError(f"{source}: key figures.comparison_images: {figures['comparison_images']} rows, but "
                          f"evaluation.save_images={evaluation['save_images']} keeps only that many images per method")


def _check_external(config: dict, source: str) -> None:
    """External method names are free (no model's, no baseline's) and path-safe; each pattern names one
    folder per protocol through {protocol} and nothing else in braces."""
    for name, method in config["external"].items():
        where = f"{source}: key external.{name}"
        if not MODEL_NAME.match(name):
            raise ConfigError(f"{where}: a method name is letters, digits and _")
        if name in BASELINES or name in config["models"]:
            raise ConfigError(f"{where}: the name is taken by a {'baseline' if name in BASELINES else 'model'}")
        fields = set(re.findall(r"{([^}]*)}", method["predictions"]))
        if fields != {"protocol"}:
            raise ConfigError(f"{where}.predictions: {method['predictions']!r} must name one folder per protocol "
                              "with {protocol} (and no other {field})")


def _check_chunks(config: dict, source: str) -> None:
    """evaluation.chunks names only `default`, models and baselines: an external method is scored from its
    files in one job, and a misspelt name would silently leave its method in one job."""
    chunks = config["evaluation"]["chunks"]
    for name in chunks if isinstance(chunks, dict) else ():
        where = f"{source}: key evaluation.chunks.{name}"
        if name in config["external"]:
            raise ConfigError(f"{where}: {name} is an external method, scored from its files in one job")
        if name != "default" and name not in config["models"] and name not in BASELINES:
            models = ", ".join(config["models"]) or "none"
            raise ConfigError(f"{where}: no model or baseline {name!r} (models: {models}; baselines: "
                              f"{', '.join(BASELINES)}; or default)")


def evaluation_chunks(config: dict, method: str) -> int:
    """How many jobs `method`'s evaluation on one protocol is split into (evaluation.chunks)."""
    chunks = config["evaluation"]["chunks"]
    if isinstance(chunks, dict):
        chunks = chunks.get(method, chunks.get("default", 1))
    return int(chunks)  # the schema's integer takes 8.0 too


def external_folder(config: dict, name: str, protocol: str) -> Path:
    """The folder of external method `name`'s predictions on `protocol`."""
    return Path(config["external"][name]["predictions"].replace("{protocol}", protocol))


def _check_data_sources(data: dict, source: str) -> None:
    """data.train and data.test both or neither, and each source with what it reads."""
    if bool(data["train"]) != bool(data["test"]):
        given, missing = ("train", "test") if data["train"] else ("test", "train")
        raise ConfigError(f"{source}: key data.{missing}: must be set when data.{given} is (training photos from "
                          "one source, test photos from another)")
    for key, where in (("data", data), ("data.train", data["train"]), ("data.test", data["test"])):
        if not where:
            continue
        if where["source"] == "folder" and not where.get("folder"):
            raise ConfigError(f"{source}: key {key}.folder: must be set when {key}.source is 'folder'")
        if key != "data" and where["source"] == "places365" and not (where["url"] or where["archive"]):
            raise ConfigError(f"{source}: key {key}: a places365 source needs a url or an archive")


def _check_recipe(recipe: dict, where: str) -> None:
    """[min, max] ranges in order, and a lama recipe with some weight to choose by."""
    parts = {"": recipe, **{f"{part}.": recipe[part] for part in ("strokes", "boxes") if part in recipe}}
    for prefix, values in parts.items():
        for key in ("side", "times", "size", "vertices", "width"):
            if isinstance(values.get(key), list) and values[key][0] > values[key][1]:
                raise ConfigError(f"{where}.{prefix}{key}: lower bound {values[key][0]} is above upper bound "
                                  f"{values[key][1]}")
    weights = [part["weight"] for prefix, part in parts.items() if prefix]
    if recipe["generator"] == "lama" and sum(weights) <= 0:
        raise ConfigError(f"{where}: strokes.weight and boxes.weight are both 0: no mask to draw")


def default_masks() -> dict:
    """The schema's `masks` section: the mask seed and the built-in protocols, with the field's values."""
    return validate_config({"data": {}, "masks": {}, "models": {}}, source="defaults")["masks"]


def _check_models(config: dict, source: str) -> None:
    """Each enabled model's kind is a module that can be found, its FAMILY (if any) a known family, its
    hparams are ones the kind has, and
    it takes data.image_size; all read from the sources, without importing them (no TensorFlow needed)."""
    from .families import kind_family
    from .models import check_image_size, hparam_defaults, resolve_hparams

    size = config["data"]["image_size"]
    for name in enabled_models(config):
        model = config["models"][name]
        try:
            hparam_defaults(model["kind"])
            kind_family(model["kind"])
        except ValueError as error:
            raise ConfigError(f"{source}: key models.{name}.kind: {error}") from error
        try:
            hparams = resolve_hparams(model["kind"], model.get("hparams"))
        except ValueError as error:
            raise ConfigError(f"{source}: key models.{name}.hparams: {error}") from error
        try:
            check_image_size(model["kind"], size, hparams)
        except ValueError as error:
            raise ConfigError(f"{source}: key models.{name}.hparams: data.image_size: {error}") from error
        _check_model_keys(name, model, hparams, f"{source}: key models.{name}")


def _check_model_keys(name: str, model: dict, hparams: dict, where: str) -> None:
    """The rules between one model's keys that would otherwise fail its training job, minutes in."""
    if model["paper_exact"] and model["kind"] not in PAPER_KINDS:
        raise ConfigError(f"{where}.paper_exact: kind {model['kind']} has no paper-exact variant "
                          f"(only {' and '.join(PAPER_KINDS)} have)")
    training = model["training"]
    late = [epoch for epoch in training["snapshot_epochs"] if epoch > training["epochs"]]
    if late:
        raise ConfigError(f"{where}.training.snapshot_epochs: {late} beyond training.epochs={training['epochs']}")
    if "sampling_steps" in hparams and "timesteps" in hparams and hparams["sampling_steps"] > hparams["timesteps"]:
        raise ConfigError(f"{where}.hparams.sampling_steps: {hparams['sampling_steps']} is above "
                          f"hparams.timesteps={hparams['timesteps']} (DDIM samples at most every step)")


def check_imports(config: dict, source: str = "config") -> None:
    """Each enabled model kind of your own imports (TensorFlow loads; `inpaintbench check-config` only:
    the workflow's validation stays free of it, and a training job names the error the same way)."""
    from .models import KINDS, module
    from .runtime import start_tensorflow

    own = [name for name in enabled_models(config) if config["models"][name]["kind"] not in KINDS]
    if own:
        start_tensorflow()  # before a module loads it: its start-up lines stay off the terminal
    for name in own:
        try:
            module(config["models"][name]["kind"])
        except ValueError as error:
            raise ConfigError(f"{source}: key models.{name}.kind: {error}") from error


def check_sources(config: dict, source: str = "config") -> None:
    """The archive or folder the data stage reads and the external methods' prediction folders exist (checked
    when a run starts, not in the library's validation: a config stays valid on a machine without the data)."""
    for prefix, data in (("data", config["data"]), ("data.train", config["data"]["train"]),
                         ("data.test", config["data"]["test"])):
        for key, wanted, exists in (("archive", "places365", Path.is_file), ("folder", "folder", Path.is_dir)):
            if data and data["source"] == wanted and data[key] and not exists(Path(data[key])):
                raise ConfigError(f"{source}: key {prefix}.{key}: {data[key]} does not exist "
                                  f"({prefix}.source is {wanted})")
    for name in config["external"]:
        for protocol in config["evaluation"]["protocols"]:
            folder = external_folder(config, name, protocol)
            if not folder.is_dir():
                raise ConfigError(f"{source}: key external.{name}.predictions: no folder {folder} (the predictions "
                                  f"on protocol {protocol})")


def shown_path(path: str | Path) -> str:
    """`path` as a message shows it: relative to the working directory if inside it."""
    path = Path(path)
    return str(path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path)


def read_yaml(path: str | Path):
    """The YAML document in `path`; a ConfigError names the file and the line of a syntax error."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return _unshared(yaml.safe_load(handle))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = f" ({error.context} at line {error.context_mark.line + 1})" if error.context_mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {error.problem or error.context}{context}") from error
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read config: {error}") from error


def _unshared(value):
    """`value` with a mapping or list of its own wherever YAML aliases (`*name`, `<<: *name`) shared one,
    so that editing one model's block does not edit the others (as in the config Snakemake loads)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def load_config(path: str | Path) -> dict:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, found {type(raw).__name__}")
    return validate_config(raw, source=str(path))


def enabled_models(config: dict) -> list[str]:
    """Enabled model names, sorted: the order of keys in a config changes nothing, tables included."""
    return sorted(name for name, model in config["models"].items() if model.get("enabled", True))


def canonical(value):
    """`value` with every dict's keys sorted, recursively; lists keep their order.

    Snakemake's params trigger compares each param's repr, in which a dict's key order shows:
    rules get their config slices in this form so that reordering a config's keys reruns nothing.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return type(value)(canonical(item) for item in value)
    return value


def fingerprint(*parts) -> str:
    """A short stable hash of JSON-able values, e.g. the config a training run depends on."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
