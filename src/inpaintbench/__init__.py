"""inpaintbench: a reproducible benchmark of image inpainting (GANs, diffusion models, baselines)."""

__version__ = "0.1.0"
