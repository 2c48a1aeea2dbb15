"""The `inpaintbench` command: fill holes in your own photos with a trained model or a baseline."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inpaintbench",
        description="Image inpainting benchmark tools. The benchmark itself runs with Snakemake "
                    "(see README.md); this command uses what it trained.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inpaint = commands.add_parser(
        "inpaint", help="fill a hole in a photo with a trained model or a baseline",
        description="Fill the hole given by --mask or --box. Only pixels inside the hole change.")
    inpaint.add_argument("--model", required=True,
                         help="a trained model folder (results/models/NAME) or a baseline: "
                              "black, mean_fill, biharmonic, pyramid_fill")
    inpaint.add_argument("--image", required=True, help="the photo, any size and format Pillow reads")
    where = inpaint.add_mutually_exclusive_group(required=True)
    where.add_argument("--mask", help="an image of the photo's size; non-zero pixels are the hole")
    where.add_argument("--box", help="the hole as x,y,w,h in pixels")
    inpaint.add_argument("--out", required=True, help="where to write the result (PNG unless the "
                                                      "suffix names another format)")
    inpaint.add_argument("--steps", type=int, help="diffusion models: DDIM sampling steps")
    inpaint.add_argument("--sampler", choices=["ddim", "ddpm"], help="diffusion models: sampler")
    inpaint.add_argument("--samples", type=int, help="diffusion models: samples averaged (default: the "
                                                     "model's `samples`); 1 gives one sharp fill")
    inpaint.add_argument("--seed", type=int, default=0, help="seed of stochastic samplers (default 0)")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .inpaint import InpaintError, inpaint_file

    options = {key: value for key, value in (("steps", args.steps), ("sampler", args.sampler),
                                             ("samples", args.samples)) if value is not None}
    try:
        out = inpaint_file(args.model, args.image, args.out, mask_path=args.mask, box=args.box,
                           seed=args.seed, **options)
    except InpaintError as error:
        print(f"inpaintbench: error: {error}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
