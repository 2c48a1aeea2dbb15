"""The `inpaintbench` command: fill holes in your own photos with a trained model or a baseline."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from .runtime import VERBOSE, start_tensorflow

BOX = re.compile(r"^-?\d+(,-?\d+){3}$")
VERBOSE_HELP = f"show TensorFlow's start-up messages (or set {VERBOSE}=1)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inpaintbench",
        description="Image inpainting benchmark tools. The benchmark itself runs with Snakemake "
                    "(see README.md); this command uses what it trained.")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    verbose = argparse.ArgumentParser(add_help=False)  # --verbose after the command, too
    verbose.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inpaint = commands.add_parser(
        "inpaint", parents=[verbose], help="fill a hole in a photo with a trained model or a baseline",
        description="Fill the hole given by --mask or --box. Only pixels inside the hole change, "
                    "unless the output format is lossy (JPEG, GIF): then a warning counts the others changed.")
    inpaint.add_argument("--model", required=True,
                         help="a trained model folder (results/models/NAME) or a baseline: "
                              "black, mean_fill, biharmonic, pyramid_fill")
    inpaint.add_argument("--image", required=True, help="the photo, any size and format Pillow reads")
    where = inpaint.add_mutually_exclusive_group(required=True)
    where.add_argument("--mask", help="an image of the photo's size: the hole is where it is at least half "
                                      "white (luminance >= 128 of 255), or, if it has transparent pixels, "
                                      "where it is opaque (alpha >= 128)")
    where.add_argument("--box", help="the hole as x,y,w,h in pixels, inside the photo")
    inpaint.add_argument("--out", required=True, help="the image file to write: PNG unless the suffix names "
                                                      "TIFF, WebP, BMP, PPM or (lossy, with a warning) JPEG, GIF")
    inpaint.add_argument("--steps", type=int, help="diffusion models: DDIM sampling steps")
    inpaint.add_argument("--sampler", choices=["ddim", "ddpm"], help="diffusion models: sampler")
    inpaint.add_argument("--samples", type=int, help="diffusion models: samples averaged (default: the "
                                                     "model's `samples`); 1 gives one sharp fill")
    inpaint.add_argument("--seed", type=int, default=0, help="seed of stochastic samplers (default 0)")
    inpaint.add_argument("--let-model-read-the-answer", action="store_true",
                         help="run a paper-exact model anyway: it reads the undamaged photo, so it is "
                              "handed the pixels the hole hides (to see the paper's leak, not to inpaint)")
    _add_score(commands, verbose)
    check = commands.add_parser(
        "check-config", parents=[verbose], help="check workflow configs as the workflow does",
        description="Check each config file as the workflow would (YAML syntax with its line, the schema, "
                    "the rules between keys, the data source, and that each model kind of your own imports) "
                    "without running anything.")
    check.add_argument("configs", nargs="+", metavar="CONFIG", help="a config file (YAML)")
    return parser


def _add_score(commands, verbose) -> None:
    """The `score` subcommand's arguments (inpaintbench.external's score_command)."""
    score = commands.add_parser(
        "score", parents=[verbose], help="score inpaintings made elsewhere on a test set (e.g. snakemake export's)",
        description="Pair predictions with test images by file name (<id>.png, any image suffix), check them, "
                    "measure the known pixels they changed, paste those back, and score every metric of the "
                    "benchmark: scores.csv, summary.json and scores.md in --out.")
    score.add_argument("--images", required=True, help="the test images: <id>.png (e.g. results/export/square)")
    score.add_argument("--masks", required=True, help="the masks: <id>_mask.png (the export's, LaMa's) or <id>.png "
                                                      "(MAT's, MI-GAN's)")
    score.add_argument("--predictions", required=True, help="the inpainted images: <id>.png, any image suffix")
    score.add_argument("--out", required=True, help="the folder to write the scores to")
    score.add_argument("--mask-polarity", choices=["hole_white", "keep_white"], default="hole_white",
                       help="hole_white: 255 = hole (the export's default, LaMa); "
                            "keep_white: 255 = known (MAT, MI-GAN)")
    score.add_argument("--size", type=int, help="the test images' size in px; predictions of another size are "
                                                "resized to it (default: the images' size, and any other is an error)")
    score.add_argument("--weights", default="imagenet",
                       help="InceptionV3 weights for FID, KID and P-IDS/U-IDS: imagenet (the Keras cache, fetched on "
                            "first use), a path to the .h5, or none")


def check_configs(paths) -> int:
    """Print each config's verdict; 2 if any is invalid."""
    from .config import ConfigError, check_imports, check_sources, enabled_models, load_config

    status = 0
    for path in paths:
        try:
            config = load_config(path)
            check_sources(config, path)
            check_imports(config, path)
        except ConfigError as error:
            print(f"inpaintbench: error: {error}", file=sys.stderr)
            status = 2
            continue
        print(f"{path}: valid; models: {', '.join(enabled_models(config)) or 'none'}; "
              f"baselines: {', '.join(config['evaluation']['baselines']) or 'none'}")
    return status


def score(args) -> int:
    """`inpaintbench score`: 2 and one line when the files cannot be scored."""
    from .config import validate_config
    from .external import ExternalError, score_command

    settings = validate_config({"data": {}, "masks": {}, "models": {}}, source="defaults")["evaluation"]["distribution"]
    try:
        score_command(args.images, args.masks, args.predictions, args.out, polarity=args.mask_polarity,
                      size=args.size, weights=None if args.weights == "none" else args.weights,
                      distribution_settings=settings, report=lambda line: print(line, file=sys.stderr))
    except ExternalError as error:
        print(f"inpaintbench: error: {error}", file=sys.stderr)
        return 2
    return 0


def _box_values_joined(argv: list[str]) -> list[str]:
    """`--box -10,5,20,20` as `--box=-10,5,20,20`: argparse takes a leading '-' for an option."""
    joined, i = [], 0
    while i < len(argv):
        if argv[i] == "--box" and i + 1 < len(argv) and BOX.match(argv[i + 1]):
            joined.append(f"--box={argv[i + 1]}")
            i += 2
        else:
            joined.append(argv[i])
            i += 1
    return joined


def _print_notes(logger: logging.Logger) -> None:
    """`logger`'s messages on stderr, one line each, as notes (not errors: the command goes on)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("inpaintbench: note: %(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv=None) -> int:
    args = _parser().parse_args(_box_values_joined(sys.argv[1:] if argv is None else list(argv)))
    if args.verbose:
        os.environ[VERBOSE] = "1"
    if args.command == "check-config":
        return check_configs(args.configs)
    start_tensorflow()
    if args.command == "score":
        return score(args)
    from .inpaint import NOTES, InpaintError, inpaint_file

    _print_notes(NOTES)
    options = {key: value for key, value in (("steps", args.steps), ("sampler", args.sampler),
                                             ("samples", args.samples)) if value is not None}
    try:
        done = inpaint_file(args.model, args.image, args.out, mask_path=args.mask, box=args.box,
                           seed=args.seed, let_model_read_the_answer=args.let_model_read_the_answer,
                           **options)
    except InpaintError as error:
        print(f"inpaintbench: error: {error}", file=sys.stderr)
        return 2
    for note in done.notes:
        print(f"inpaintbench: note: {note}", file=sys.stderr)
    for warning in done.warnings:
        print(f"inpaintbench: warning: {warning}", file=sys.stderr)
    print(f"hole: {done.hole_pixels} px, {done.hole_pixels / done.image_pixels:.2%} of the image")
    print(done.path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
