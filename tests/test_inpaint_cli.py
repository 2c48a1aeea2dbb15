"""The `inpaintbench inpaint` command and inpaint_file on real photos no model trained on."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from conftest import save_model
from inpaintbench import baselines, cli, models
from inpaintbench.config import default_masks
from inpaintbench.data.images import to_uint8
from inpaintbench.data.masks import protocol_mask
from inpaintbench.inpaint import InpaintError, hole_of_box, inpaint_file, inpaint_image, load_inpainter, windows
from inpaintbench.runtime import VERBOSE

BOX = (150, 90, 70, 50)  # x, y, w, h


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """scikit-image's coins (303x384, not square, grey), saved as an RGB JPEG: unseen by the demo."""
    path = tmp_path_factory.mktemp("photo") / "coins.jpg"
    Image.fromarray(data.coins()).convert("RGB").save(path, quality=95)
    return path


def _check_filled(photo, out, box=BOX):
    before = np.asarray(Image.open(photo).convert("RGB"))
    after = np.asarray(Image.open(out))
    assert after.shape == before.shape
    hole = hole_of_box(box, before.shape)
    assert np.array_equal(after[~hole], before[~hole]), "a pixel outside the hole changed"
    assert np.isfinite(after.astype(float)).all()
    return before, after, hole


@pytest.mark.parametrize("baseline", ["black", "mean_fill", "biharmonic", "pyramid_fill"])
def test_baselines_fill_only_the_hole(photo, tmp_path, baseline):
    out = tmp_path / "filled.png"
    assert cli.main(["inpaint", "--model", baseline, "--image", str(photo),
                     "--box", ",".join(map(str, BOX)), "--out", str(out)]) == 0
    before, after, hole = _check_filled(photo, out)
    if baseline == "black":
        assert (after[hole] == 0).all()
    else:
        assert not np.array_equal(after[hole], before[hole] * 0)
        # the coins photo is grey: a sensible fill stays close to the neighbourhood's grey levels
        assert abs(float(after[hole].mean()) - float(before[hole].mean())) < 60


def test_trained_models_fill_only_the_hole(tiny_run, photo, tmp_path):
    """Every model the tiny workflow trained (each kind it enables) inpaints an unseen photo."""
    model_dirs = sorted(p for p in (tiny_run / "results" / "models").iterdir() if p.is_dir())
    assert model_dirs, "the tiny run trained no model"
    for model_dir in model_dirs:
        out = tmp_path / f"{model_dir.name}.png"
        meta = json.loads((model_dir / "meta.json").read_text())
        options = ["--steps", "3", "--samples", "2"] if meta["kind"] == "diffusion" else []
        options += ["--let-model-read-the-answer"] if meta["paper_exact"] else []
        assert cli.main(["inpaint", "--model", str(model_dir), "--image", str(photo),
                         "--box", ",".join(map(str, BOX)), "--out", str(out), *options]) == 0
        before, after, hole = _check_filled(photo, out)
        assert not np.array_equal(after[hole], before[hole]), f"{model_dir.name} left the hole as it was"


def test_every_model_kind_fills_only_a_free_form_strokes_mask(tiny_run, photo, tmp_path):
    """DeepFill v2 strokes drawn on the coins photo (which no model saw): every trained model kind and a
    baseline change exactly the stroke pixels."""
    before = np.asarray(Image.open(photo).convert("RGB"))
    height, width = before.shape[:2]
    mask = protocol_mask("coins", max(height, width), "strokes", default_masks()["protocols"]["strokes"], 0)
    hole = mask[:height, :width].astype(bool)
    assert 0.02 < hole.mean() < 0.5 and not box_mask_like(hole)
    mask_path = tmp_path / "strokes.png"
    Image.fromarray(hole.astype(np.uint8) * 255).save(mask_path)
    model_dirs = sorted(p for p in (tiny_run / "results" / "models").iterdir() if p.is_dir())
    kinds = {json.loads((d / "meta.json").read_text())["kind"] for d in model_dirs}
    assert kinds == set(models.KINDS)
    for model in [*model_dirs, "biharmonic"]:
        out = tmp_path / f"{Path(model).name}.png"
        options = ["--steps", "3", "--samples", "1"] if Path(model).name == "diffusion" else []
        if Path(model).name.endswith("_exact"):  # refused on a user's photo unless asked for (it reads the answer)
            options.append("--let-model-read-the-answer")
        assert cli.main(["inpaint", "--model", str(model), "--image", str(photo), "--mask", str(mask_path),
                         "--out", str(out), *options]) == 0
        after = np.asarray(Image.open(out))
        assert after.shape == before.shape
        np.testing.assert_array_equal(after[~hole], before[~hole])
        assert (after[hole] != before[hole]).any(axis=-1).mean() > 0.5, f"{model} left the strokes as they were"


def box_mask_like(hole: np.ndarray) -> bool:
    rows, cols = np.nonzero(hole)
    return bool(hole[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all())


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_mean_fill_paints_the_hole_with_the_mean_colour_of_the_known_pixels(name):
    """The baseline fills through the networks' MeanFill layer; numpy's mean over the known pixels, to the bit."""
    image = np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB").resize((96, 96)), np.float32)[None] / 255
    hole = protocol_mask(name, 96, "lama_thick", default_masks()["protocols"]["lama_thick"], 0)
    hole = hole[None, ..., None].astype(np.float32)
    known = 1.0 - hole
    mean = np.sum(image * known, axis=(1, 2), keepdims=True) / np.sum(known, axis=(1, 2), keepdims=True)
    assert 0.05 < hole.mean() < 0.95 and np.ptp(mean) > 0  # a real hole, and a colour, not a grey
    np.testing.assert_array_equal(baselines.get("mean_fill")(image * known, hole), image * known + mean * hole)


def test_mask_file_and_python_function(photo, tmp_path):
    image = np.asarray(Image.open(photo).convert("RGB"))
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[40:80, 300:360] = 255
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    out = inpaint_file("mean_fill", photo, tmp_path / "out.png", mask_path=mask_path)
    after = np.asarray(Image.open(out))
    assert np.array_equal(after[mask == 0], image[mask == 0])
    direct = inpaint_image(load_inpainter("mean_fill"), image, mask > 0)
    assert np.array_equal(direct, after)


def test_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "inpaintbench.cli", "--help"],
                            capture_output=True, text=True, check=True)
    assert "inpaint" in result.stdout


def _error(capsys, *args):
    assert cli.main(["inpaint", *args]) == 2
    return capsys.readouterr().err


@pytest.mark.bad_input
def test_unreadable_image(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    err = _error(capsys, "--model", "black", "--image", str(bad), "--box", "1,1,2,2",
                 "--out", str(tmp_path / "o.png"))
    assert "broken.jpg" in err and "cannot read the image" in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.bad_input
def test_mask_of_another_size(photo, tmp_path, capsys):
    mask_path = tmp_path / "small_mask.png"
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(mask_path)
    err = _error(capsys, "--model", "black", "--image", str(photo), "--mask", str(mask_path),
                 "--out", str(tmp_path / "o.png"))
    assert "small_mask.png" in err and "10x10" in err and "384x303" in err


@pytest.mark.bad_input
@pytest.mark.parametrize("fill, message", [(0, "empty"), (255, "whole image")])
def test_empty_and_full_masks(photo, tmp_path, capsys, fill, message):
    size = Image.open(photo).size
    mask_path = tmp_path / "mask.png"
    Image.fromarray(np.full(size[::-1], fill, np.uint8)).save(mask_path)
    err = _error(capsys, "--model", "mean_fill", "--image", str(photo), "--mask", str(mask_path),
                 "--out", str(tmp_path / "o.png"))
    assert message in err


@pytest.mark.bad_input
def test_box_outside_the_image(photo, tmp_path, capsys):
    err = _error(capsys, "--model", "black", "--image", str(photo), "--box", "350,10,100,20",
                 "--out", str(tmp_path / "o.png"))
    assert "350,10,100,20" in err and "not inside the 384x303 image" in err


@pytest.mark.bad_input
def test_folder_without_a_model(photo, tmp_path, capsys):
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    err = _error(capsys, "--model", str(empty), "--image", str(photo), "--box", "1,1,5,5",
                 "--out", str(tmp_path / "o.png"))
    assert "not_a_model" in err and "holds no trained model" in err


@pytest.mark.bad_input
def test_option_a_model_does_not_take(tiny_run, photo, tmp_path, capsys):
    err = _error(capsys, "--model", str(tiny_run / "results" / "models" / "gan_paper"), "--image",
                 str(photo), "--box", "1,1,5,5", "--steps", "5", "--out", str(tmp_path / "o.png"))
    assert "gan_paper" in err and "steps" in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.bad_input
def test_model_file_cannot_run_code(photo, tmp_path):
    """A .keras file with a Lambda layer (arbitrary Python) is refused by safe-mode loading."""
    import keras

    model_dir = tmp_path / "evil"
    model_dir.mkdir()
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x[..., :3] * 0 + 1)(inputs))
    model.save(model_dir / "model.keras")
    (model_dir / "meta.json").write_text(json.dumps(
        {"kind": "gan", "image_size": 8, "hparams": {}, "paper_exact": False}))
    with pytest.raises(InpaintError, match="evil.*cannot load the model"):
        load_inpainter(model_dir)


@pytest.mark.bad_input
def test_a_paper_exact_model_refuses_a_users_photo_unless_told(tiny_run, photo, tmp_path, capsys):
    """It reads the undamaged image: on a user's photo that is the answer, handed over."""
    model = str(tiny_run / "results" / "models" / "gan_paper_exact")
    args = ["--model", model, "--image", str(photo), "--box", ",".join(map(str, BOX)), "--out", str(tmp_path / "o.png")]
    err = _error(capsys, *args)
    assert "gan_paper_exact: a paper-exact model reads the undamaged image" in err
    assert "--let-model-read-the-answer" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()
    assert cli.main(["inpaint", *args, "--let-model-read-the-answer"]) == 0
    _check_filled(photo, tmp_path / "o.png")


def _tiny_diffusion():
    from inpaintbench.models import diffusion

    hparams = models.resolve_hparams("diffusion", {"timesteps": 20, "channels": 8, "channel_mults": [1],
                                                   "res_blocks": 1, "sampling_steps": 4})
    return diffusion.Inpainter(diffusion.build_unet(16, hparams), 16, hparams)


@pytest.mark.bad_input
@pytest.mark.parametrize("method, options, message", [
    ("black", {"steps": 5}, "black: takes no option steps (its options: none)"),
    ("biharmonic", {"samples": 2}, "biharmonic: takes no option samples (its options: none)"),
    ("diffusion", {"steps": 0}, "diffusion: option steps=0 must be within 1..20"),
    ("diffusion", {"steps": 21}, "diffusion: option steps=21 must be within 1..20"),
    ("diffusion", {"samples": 0}, "diffusion: option samples=0 must be at least 1"),
    ("diffusion", {"eta": 1.5}, "diffusion: option eta=1.5 must be within 0.0..1.0"),
    ("diffusion", {"sampler": "euler"}, "diffusion: option sampler='euler' is not one of ddim, ddpm"),
    ("diffusion", {"steps": 2.5}, "diffusion: option steps=2.5 is not an integer"),
    ("diffusion", {"sampler": "ddpm", "steps": 4}, "diffusion: options steps and eta are the DDIM sampler's"),
    ("diffusion", {"guidance": 2}, "diffusion: takes no option guidance (its options: eta, sampler, samples, steps)"),
])
def test_one_rule_for_every_methods_options(method, options, message):
    """An option a method does not take, or a value out of range, is a ValueError naming it: baselines too."""
    inpainter = _tiny_diffusion() if method == "diffusion" else baselines.get(method)
    size = inpainter.image_size or 16
    images, masks = np.full((1, size, size, 3), 0.5, np.float32), np.zeros((1, size, size, 1), np.float32)
    masks[:, 4:9, 4:9] = 1
    with pytest.raises(ValueError) as error:
        inpainter(images * (1 - masks), masks, **options)
    assert str(error.value).startswith(message)
    assert inpainter(images * (1 - masks), masks, steps=None, samples=None).shape == images.shape  # None: not given


@pytest.mark.bad_input
@pytest.mark.parametrize("model, message", [
    ("diffusion", "diffusion: option steps=0 must be within 1..50"),
    ("mean_fill", "mean_fill: takes no option steps (its options: none)"),
])
def test_option_errors_name_the_model_once(model, message, tiny_run, photo, tmp_path, capsys):
    model = str(tiny_run / "results" / "models" / model) if model == "diffusion" else model
    steps = "0" if message.startswith("diffusion") else "5"
    err = _error(capsys, "--model", model, "--image", str(photo), "--box", "1,1,5,5", "--steps", steps,
                 "--out", str(tmp_path / "o.png"))
    assert err == f"inpaintbench: error: {message}\n"
    assert not (tmp_path / "o.png").exists()


def png_header_only(path, width: int, height: int) -> None:
    """A PNG that declares width x height pixels in a few bytes: a decompression bomb's opening."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))


BAD_CLI_INPUTS = ("bomb", "out_folder", "fake_model", "unknown_baseline", "box_outside")


def bad_cli_inputs(photo, tmp_path) -> dict[str, tuple[list[str], str]]:
    """{case: (the command's arguments, the start of its one line)}; every case named in BAD_CLI_INPUTS."""
    out = str(tmp_path / "o.png")
    bomb = tmp_path / "bomb.png"
    png_header_only(bomb, 40000, 40000)
    folder = tmp_path / "existing_folder"
    folder.mkdir()
    fake = tmp_path / "fake_model"
    fake.mkdir()
    (fake / "model.keras").write_bytes(np.random.default_rng(0).bytes(4096))
    (fake / "meta.json").write_text(json.dumps({"kind": "gan", "image_size": 32, "hparams": {}}))
    photo_args = ["--image", str(photo), "--box", "1,1,5,5"]
    return {
        "bomb": (["--model", "black", "--image", str(bomb), "--box", "1,1,5,5", "--out", out],
                 f"{bomb}: cannot read the image: too many pixels (a possible decompression bomb)"),
        "out_folder": (["--model", "black", *photo_args, "--out", str(folder)],
                       f"--out {folder}: is a folder; --out names the image file to write"),
        "fake_model": (["--model", str(fake), *photo_args, "--out", out],
                       f"{fake / 'model.keras'}: not a Keras model file (a .keras file is a zip archive)"),
        "unknown_baseline": (["--model", "biharmonc", *photo_args, "--out", out],
                             "--model biharmonc: no such model folder, and not a baseline (black, mean_fill, "
                             "biharmonic, pyramid_fill)"),
        "box_outside": (["--model", "black", "--image", str(photo), "--box", "-10,5,20,20", "--out", out],
                        "--box -10,5,20,20: not inside the 384x303 image"),
    }


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BAD_CLI_INPUTS)
def test_bad_inputs_are_one_line_errors(case, photo, tmp_path, capsys):
    """Exit 2, one line naming the input at fault, nothing written, no traceback."""
    cases = bad_cli_inputs(photo, tmp_path)
    assert set(cases) == set(BAD_CLI_INPUTS)
    args, message = cases[case]
    err = _error(capsys, *args)
    assert err.startswith(f"inpaintbench: error: {message}") and err.count("\n") == 1, err
    folder = tmp_path / "existing_folder"
    assert not (tmp_path / "o.png").exists() and folder.is_dir() and not any(folder.iterdir())


def test_the_command_prints_no_tensorflow_start_up_lines(photo, tmp_path):
    """Only the output path on stdout and nothing on stderr, unless --verbose."""
    out = tmp_path / "filled.png"
    result = subprocess.run([sys.executable, "-m", "inpaintbench.cli", "inpaint", "--model", "pyramid_fill",
                             "--image", str(photo), "--box", "1,1,5,5", "--out", str(out)],
                            capture_output=True, text=True, check=False,
                            env={k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", VERBOSE)})
    assert result.returncode == 0 and result.stdout == f"{out}\n" and result.stderr == ""


def _untrained(kind: str, size: int = 16):
    """An untrained honest model of `kind` at `size` px: its fill is a function of its input alone."""
    if kind == "diffusion":
        return _tiny_diffusion()
    small = {"gan": {"channels": 8, "depth": 2, "dilations": [2], "disc_channels": 8, "disc_layers": 2},
             "gan_paper": {"generator_units": [8], "discriminator_units": [8], "repair_units": [16], "noise_dim": 4},
             "diffusion_paper": {"hidden_units": 16}}[kind]
    hparams = models.resolve_hparams(kind, small)
    network = models.build_trainer(kind, size, hparams, seed=0).export()
    return models.module(kind).Inpainter(network, size, hparams)


def _box_and_stroke(shape) -> np.ndarray:
    """A small box and a long thin stroke (filled at the photo's scale by a 16 px model), a thick box
    (scaled down) and a box at the image's corner."""
    hole = np.zeros(shape[:2], bool)
    hole[40:45, 60:66] = True
    hole[150:154, 20:400] = True
    hole[200:230, 100:140] = True
    hole[-3:, -4:] = True
    return hole


@pytest.mark.parametrize("kind", [*models.KINDS, *baselines.BASELINES])
def test_the_fill_never_depends_on_what_is_under_the_hole(kind):
    """Random noise under the hole, twice: bit-identical outputs, also where the hole is scaled down."""
    image = data.chelsea()
    hole = _box_and_stroke(image.shape)
    method = _untrained(kind) if kind in models.KINDS else baselines.get(kind)
    outputs = []
    for seed in (1, 2):
        hidden = image.copy()
        hidden[hole] = np.random.default_rng(seed).integers(0, 256, (hole.sum(), 3))
        outputs.append(inpaint_image(method, hidden, hole, seed=0))
        np.testing.assert_array_equal(outputs[-1][~hole], image[~hole])
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_a_part_that_fits_is_filled_at_the_photos_own_scale():
    """The model reads its image size of the photo around the part, pixel for pixel, blanked: the fill is
    exactly its output on that crop (no scaling on the way in or out)."""
    image = data.chelsea()
    hole = np.zeros(image.shape[:2], bool)
    hole[100:105, 200:206] = True
    method = _untrained("gan")
    (window,) = windows(hole, 16)
    assert window.scale(16) == (1.0, 1.0) and (window.bottom - window.top, window.right - window.left) == (16, 16)
    crop, crop_hole = image[window.slices] / np.float32(255), hole[window.slices][..., None].astype(np.float32)
    expected = method((crop * (1 - crop_hole))[None], crop_hole[None])[0]
    np.testing.assert_array_equal(inpaint_image(method, image, hole)[hole], to_uint8(expected)[hole[window.slices]])


def test_float_images_come_back_as_float_with_the_known_pixels_as_given():
    image = (data.chelsea() / np.float32(255)).astype(np.float32)
    hole = _box_and_stroke(image.shape)
    out = inpaint_image(_untrained("gan"), image, hole)
    assert out.dtype == np.float32 and np.array_equal(out[~hole], image[~hole]) and 0 <= out.min() <= out.max() <= 1
    assert np.abs(out[hole] - image[hole]).mean() < 0.5


def test_the_command_says_when_a_part_is_filled_at_a_smaller_scale(photo, tmp_path, capsys):
    """A blob too thick for the 32 px model's window is scaled down, and one line says by how much;
    a long thin stroke is not, and nothing is said."""
    folder = tmp_path / "gan"
    folder.mkdir()
    hparams = models.resolve_hparams("gan", {"channels": 8, "depth": 2, "dilations": [2], "disc_channels": 8,
                                              "disc_layers": 2})
    save_model(models.build_trainer("gan", 32, hparams, seed=0), folder, "gan", hparams)
    stroke = np.zeros((303, 384), np.uint8)
    stroke[150:156, 20:320] = 255  # 6 px thick: cells of 12 px in 32 px windows at the photo's scale
    Image.fromarray(stroke).save(tmp_path / "stroke.png")
    common = ["inpaint", "--model", str(folder), "--image", str(photo)]
    assert cli.main([*common, "--mask", str(tmp_path / "stroke.png"), "--out", str(tmp_path / "a.png")]) == 0
    assert capsys.readouterr().err == ""
    assert cli.main([*common, "--box", "100,100,40,40", "--out", str(tmp_path / "b.png")]) == 0  # a 100 px window
    assert capsys.readouterr().err == ("inpaintbench: note: gan: 1 of 1 window(s) filled at scale 0.32 of the photo "
                                       "(the model works at 32 px; a window is scaled to it where a part is "
                                       "thicker than 40% of it or the photo is smaller)\n")


def test_a_long_thin_stroke_is_filled_at_the_photos_scale_piece_by_piece():
    """Windows of the model's size centred on cells of the stroke, each hole pixel pasted from one window."""
    hole = _box_and_stroke((300, 451))
    found = windows(hole, 16)
    pasted = np.zeros(hole.shape, int)
    for window in found:
        pasted[window.slices] += window.part
    np.testing.assert_array_equal(pasted, hole.astype(int))
    scales = {(w.top, w.left): w.scale(16) for w in found}
    stroke = [w for w in found if w.part.any() and 150 <= w.top + np.nonzero(w.part)[0].min() < 154]
    assert len(stroke) >= 380 // 6 and all(scales[(w.top, w.left)] == (1.0, 1.0) for w in stroke)
    thick = [w for w in found if w.part.any() and 200 <= w.top + np.nonzero(w.part)[0].min() < 230]
    # 30 px thick (its deepest pixel 15 px from a known one): cells of 30 px in windows of 75 px
    assert len(thick) == 2 and all(w.scale(16) == (16 / 75, 16 / 75) for w in thick)
