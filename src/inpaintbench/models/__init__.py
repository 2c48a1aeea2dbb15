"""Model registry: a config `kind` names the module that trains and runs it.

A built-in kind (KINDS) is the module `inpaintbench.models.<kind>`; any other kind is itself a
module path (`mypackage.my_model`) that the workflow's Python imports: a package you installed, or
a folder on PYTHONPATH (README.md, "Add your own model"; examples/my_model.py). Each defines
  DEFAULTS     hyperparameter defaults, overridden by the config's `hparams` (a literal dict: the
               config check reads it from the source, without TensorFlow);
  Trainer      a keras.Model built as Trainer(image_size, hparams, paper_exact, seed) with its
               optimizers created and built, a `train_step((images, masks))` returning a dict of
               scalar losses, MAIN_LOSS (the key reported as "repair loss") and `export()`, the
               Keras network saved as model.keras;
  Inpainter    a models.base.Inpainter built as Inpainter(network, image_size, hparams, paper_exact);
  LOSSES       optional: {loss: what it is} for each key train_step returns (a literal dict, read
               like DEFAULTS), the training curves' labels.
  READS_SEED   optional: False if Inpainter.predict ignores its seed (a literal, read like DEFAULTS;
               without it, True): only a kind that reads it is re-evaluated when evaluation.seed changes.
  FAMILY       optional: the family the study compares it in, one of inpaintbench.families.FAMILIES (a
               literal, read like DEFAULTS; without it, "other": in the tables, never in the GAN against
               diffusion verdict).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import zipfile
from pathlib import Path

KINDS = ("gan_paper", "diffusion_paper", "gan", "diffusion")
MODEL_FILE = "model.keras"
META_FILE = "meta.json"


class ModelLoadError(ValueError):
    """A model folder that holds no usable model; the message names the folder and the problem."""


def module_name(kind: str) -> str:
    """The module of `kind`: a built-in's in this package, else the module path the kind is."""
    return f"{__name__}.{kind}" if kind in KINDS else kind


def _unknown(kind: str, why) -> ValueError:
    why = " ".join(str(why).split())  # one line, whatever the module's error says
    return ValueError(f"model kind {kind!r} is not one of {', '.join(KINDS)} nor an importable module ({why})")


def _one_line(error: Exception) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def module(kind: str):
    """The kind's module, imported only once its source shows a literal DEFAULTS: a model folder's
    meta.json names a kind, and must not be able to import any other installed module."""
    hparam_defaults(kind)
    try:
        return importlib.import_module(module_name(kind))
    except ModuleNotFoundError as error:
        raise _unknown(kind, error) from error
    except Exception as error:  # a module of your own may raise anything on import
        raise ValueError(f"{source_file(kind)}: importing it raised {_one_line(error)}") from error


def source_file(kind: str) -> Path:
    """The Python file of `kind`'s module, found without running it (only its parent packages are imported)."""
    try:
        spec = importlib.util.find_spec(module_name(kind))
    except (ImportError, ValueError) as error:
        raise _unknown(kind, error) from error
    except Exception as error:  # a parent package of your own that raises on import
        raise _unknown(kind, f"importing its package raised {_one_line(error)}") from error
    if spec is None:
        raise _unknown(kind, f"no module named {kind!r} on the Python path")
    if not (spec.origin or "").endswith(".py"):
        raise _unknown(kind, f"{spec.origin or kind} is not a Python source file")
    return Path(spec.origin)


def _literal(kind: str, name: str):
    """The literal the kind's module assigns to `name`, read from the source without importing it
    (the Snakefile and the figures stay free of the seconds TensorFlow takes to load); None if none."""
    source = source_file(kind)
    try:
        tree = ast.parse(source.read_text(), filename=str(source))
    except SyntaxError as error:
        raise ValueError(f"{source}, line {error.lineno}: not valid Python: {error.msg}") from error
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
            try:
                return ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError) as error:
                raise ValueError(f"{source}, line {node.lineno}: {name} is not a literal (write it out as "
                                 f"{{key: value, ...}}, without calls or names)") from error
    return None


def hparam_defaults(kind: str) -> dict:
    """The kind's DEFAULTS as its module writes them: the Snakefile checks a config's models with them."""
    defaults = _literal(kind, "DEFAULTS")
    if defaults is None:
        raise ValueError(f"{source_file(kind)}: declares no literal DEFAULTS")
    return defaults


def loss_descriptions(kind: str) -> dict[str, str]:
    """What each loss of the kind's train_step is ({name: description}, its LOSSES): the training curves' labels."""
    return _literal(kind, "LOSSES") or {}


def reads_seed(kind: str) -> bool:
    """Whether the kind's predict draws with its seed (its READS_SEED): an edit of evaluation.seed
    re-evaluates only such models. A kind that does not say is assumed to, so it is never left stale."""
    declared = _literal(kind, "READS_SEED")
    return True if declared is None else bool(declared)


def declared_family(kind: str) -> str | None:
    """The kind's FAMILY as its module writes it (None if it declares none): inpaintbench.families checks it."""
    return _literal(kind, "FAMILY")


def check_image_size(kind: str, image_size: int, hparams: dict) -> None:
    """A ValueError if the kind's network cannot take image_size x image_size images: each stride-2
    level of a U-Net halves the side (the paper models are fully connected: any size)."""
    if kind == "diffusion":
        patch, mults = int(hparams["patch"]), hparams["channel_mults"]
        multiple = patch * 2 ** (len(mults) - 1)
        why = f"patch x 2^(levels - 1) of hparams patch={patch}, channel_mults={mults}"
    elif kind == "gan":
        depth = int(hparams["depth"])
        multiple, why = 2 ** depth, f"2^depth of hparams depth={depth}"
    else:
        return
    if image_size % multiple:
        raise ValueError(f"image size {image_size} is not divisible by {multiple} = {why}")


def resolve_hparams(kind: str, overrides: dict | None) -> dict:
    """The kind's defaults with the config's values on top; unknown keys are an error."""
    defaults = hparam_defaults(kind)
    unknown = set(overrides or {}) - set(defaults)
    if unknown:
        raise ValueError(f"hparams of kind {kind}: unknown key(s) {', '.join(sorted(unknown))}")
    return {**defaults, **(overrides or {})}


def build_trainer(kind: str, image_size: int, hparams: dict | None = None,
                  paper_exact: bool = False, seed: int = 0):
    return module(kind).Trainer(image_size, resolve_hparams(kind, hparams), paper_exact, seed)


def load(model_dir: str | Path):
    """The trained Inpainter in a results/models/{model} folder, loaded in Keras safe mode."""
    import keras

    model_dir = Path(model_dir)
    meta_path, model_path = model_dir / META_FILE, model_dir / MODEL_FILE
    if not model_dir.is_dir():
        raise ModelLoadError(f"{model_dir}: no such model folder")
    if not meta_path.is_file() or not model_path.is_file():
        raise ModelLoadError(f"{model_dir}: holds no trained model ({MODEL_FILE} and {META_FILE} expected)")
    try:
        meta = json.loads(meta_path.read_text())
        kind, image_size = meta["kind"], int(meta["image_size"])
        hparams, paper_exact = meta["hparams"], bool(meta.get("paper_exact", False))
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"{meta_path}: not a model description: {error}") from error
    if not zipfile.is_zipfile(model_path):
        raise ModelLoadError(f"{model_path}: not a Keras model file (a .keras file is a zip archive)")
    try:
        kind_module = module(kind)  # registers the kind's custom layers before Keras deserializes them
    except ValueError as error:  # a kind of your own, not importable here
        raise ModelLoadError(f"{meta_path}: {error}") from error
    try:
        network = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad or unsafe file
        raise ModelLoadError(f"{model_path}: cannot load the model: {error}") from error
    inpainter = kind_module.Inpainter(network, image_size, hparams, paper_exact)
    inpainter.name = meta.get("name", model_dir.name)
    return inpainter
