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
    out = inpaint_file("mean_fill", photo, tmp_path / "out.png", mask_path=mask_path).path
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


def test_inpaint_image_returns_the_dtype_it_was_given():
    """uint8, or float32 in [0, 1] (how 16-bit photos go in): the same fill, every other pixel as given."""
    method = _tiny_diffusion()
    image8 = np.asarray(Image.fromarray(data.astronaut()).resize((40, 30)))
    image32 = image8 / np.float32(255)
    hole = hole_of_box((10, 8, 12, 9), image8.shape)
    out8 = inpaint_image(method, image8, hole, steps=2, samples=1)
    out32 = inpaint_image(method, image32, hole, steps=2, samples=1)
    assert out8.dtype == np.uint8 and out32.dtype == np.float32
    np.testing.assert_array_equal(out32[~hole], image32[~hole])
    np.testing.assert_array_equal(out8, np.round(out32 * 255).astype(np.uint8))
    assert not np.array_equal(out8[hole], image8[hole])


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
    """Only the hole's size and the output path on stdout and nothing on stderr, unless --verbose."""
    out = tmp_path / "filled.png"
    result = subprocess.run([sys.executable, "-m", "inpaintbench.cli", "inpaint", "--model", "pyramid_fill",
                             "--image", str(photo), "--box", "1,1,5,5", "--out", str(out)],
                            capture_output=True, text=True, check=False,
                            env={k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", VERBOSE)})
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"hole: 25 px, 0.02% of the image\n{out}\n"


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


def _filled(capsys, *args):
    """(stdout, stderr) of a successful inpaint command."""
    assert cli.main(["inpaint", *args]) == 0
    return capsys.readouterr()


def _write_photos(folder: Path) -> dict[str, np.ndarray]:
    """Photos in the formats a user has, each with its pixels (and alpha) as the file holds them."""
    coins = data.coins()  # 303 x 384 grey
    pixels = {
        "dark16.png": (coins.astype(np.uint32) * 40).astype(np.uint16),  # at most 16% of white
        "dark16.tif": (coins.astype(np.uint32) * 40).astype(np.uint16),
        "grey.png": coins,
        "grey_alpha.png": np.dstack([coins, np.tile(np.linspace(0, 255, 384).astype(np.uint8), (303, 1))]),
        "rgba.png": np.dstack([np.asarray(Image.fromarray(data.astronaut()).resize((384, 303))),
                               np.tile(np.linspace(255, 0, 384).astype(np.uint8), (303, 1))]),
    }
    modes = {2: None, 3: "LA", 4: "RGBA"}
    for name, array in pixels.items():
        Image.fromarray(array, modes[array.shape[-1]] if array.ndim == 3 else None).save(folder / name)
    return pixels


@pytest.mark.parametrize("name, suffix, mode", [
    ("dark16.png", ".png", "I;16"), ("dark16.tif", ".tif", "I;16"), ("grey.png", ".png", "L"),
    ("grey_alpha.png", ".png", "LA"), ("rgba.png", ".png", "RGBA"), ("rgba.png", ".webp", "RGBA"),
    ("rgba.png", ".tif", "RGBA"), ("dark16.png", ".pgm", "I")])
def test_a_photo_keeps_its_depth_grey_and_alpha(tmp_path, capsys, name, suffix, mode):
    """16-bit stays 16-bit and as dark (not stretched to its maximum), grey stays grey, alpha is untouched
    everywhere, and every other pixel outside the hole is as given."""
    given = _write_photos(tmp_path)[name]
    out = tmp_path / f"out{suffix}"
    _, err = _filled(capsys, "--model", "mean_fill", "--image", str(tmp_path / name), "--box", ",".join(map(str, BOX)),
                     "--out", str(out))
    assert err == ""
    written = Image.open(out)
    after = np.asarray(written)
    hole = hole_of_box(BOX, given.shape)
    assert written.mode == mode  # PGM's 16 bits read back as Pillow's 32-bit integers
    np.testing.assert_array_equal(after[~hole], given[~hole])
    if mode in ("LA", "RGBA"):
        np.testing.assert_array_equal(after[..., -1], given[..., -1])
    colour = after[..., :-1] if mode in ("LA", "RGBA") else after
    assert not np.array_equal(colour[hole], (given[..., :-1] if mode in ("LA", "RGBA") else given)[hole])
    # the mean fill of a dark photo is as dark as the pixels it is the mean of
    assert abs(float(colour[hole].mean()) - float(colour[~hole].mean())) < 0.2 * float(colour.max())


@pytest.mark.parametrize("name, suffix, notes", [
    ("dark16.png", ".webp", ["16-bit written as 8-bit (WEBP as written holds 8 bits a channel); .png or .tif keep "
                             "16 bits", "grey written as RGB (WEBP as written has no grey mode)"]),
    ("rgba.png", ".bmp", ["alpha channel dropped (BMP as written has none); .png, .tif or .webp keep it"]),
    ("grey_alpha.png", ".webp", ["grey written as RGB (WEBP as written has no grey mode)"]),
])
def test_what_an_output_format_cannot_hold_is_a_note_per_conversion(tmp_path, capsys, name, suffix, notes):
    given = _write_photos(tmp_path)[name]
    out = tmp_path / f"out{suffix}"
    _, err = _filled(capsys, "--model", "mean_fill", "--image", str(tmp_path / name), "--box", ",".join(map(str, BOX)),
                     "--out", str(out))
    assert err.splitlines() == [f"inpaintbench: note: {out}: {note}" for note in notes]
    after = np.asarray(Image.open(out)).astype(np.float64)
    expected = given / 257.0 if given.dtype == np.uint16 else given
    expected = expected[..., :-1] if name == "rgba.png" else expected  # BMP: RGB
    hole = hole_of_box(BOX, given.shape)
    if "grey written as RGB" in notes[-1]:  # three equal channels, then alpha if any
        assert (after[..., 0] == after[..., 1]).all() and (after[..., 1] == after[..., 2]).all()
        after = after[..., 0] if after.shape[-1] == 3 else after[..., [0, 3]]
    assert np.abs(after[~hole] - expected[~hole]).max() <= 0.5


def test_a_16_bit_colour_png_is_read_at_8_bits_with_a_note(tmp_path, capsys):
    """Pillow reads 16-bit colour at 8 bits (the high byte): said in one line, not silently."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    deep = (np.asarray(Image.fromarray(data.astronaut()).resize((64, 48)), np.uint16) * 257).astype(">u2")
    rows = b"".join(b"\0" + row.tobytes() for row in deep)
    image = tmp_path / "deep.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 16, 2, 0, 0, 0))
                      + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    out = tmp_path / "out.png"
    _, err = _filled(capsys, "--model", "mean_fill", "--image", str(image), "--box", "10,10,8,8", "--out", str(out))
    assert err == (f"inpaintbench: note: {image}: 16 bits a channel read as 8 (Pillow keeps 16 bits of grey "
                   "without alpha only)\n")
    hole = hole_of_box((10, 10, 8, 8), deep.shape)
    np.testing.assert_array_equal(np.asarray(Image.open(out))[~hole], (deep // 257).astype(np.uint8)[~hole])


def test_a_32_bit_float_photo_is_read_as_16_bit_grey_with_a_note(tmp_path, capsys):
    """Float pixels are [0, 1] by convention: kept as 16-bit, and one line says what beyond it was clipped."""
    values = np.linspace(0.0, 2.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    image = tmp_path / "float.tif"
    Image.fromarray(values).save(image)
    out = tmp_path / "out.png"
    _, err = _filled(capsys, "--model", "mean_fill", "--image", str(image), "--box", "2,2,5,5", "--out", str(out))
    assert err == f"inpaintbench: note: {image}: 32-bit float pixels (0..2) read as 16-bit grey ([0, 1] kept)\n"
    hole = hole_of_box((2, 2, 5, 5), values.shape)
    written = Image.open(out)
    assert written.mode == "I;16"
    expected = np.round(np.clip(values, 0, 1) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(np.asarray(written)[~hole], expected[~hole])


@pytest.mark.parametrize("suffix, fmt", [(".jpg", "JPEG"), (".gif", "GIF")])
def test_a_lossy_output_format_is_written_with_a_warning_counting_the_pixels_it_changed(photo, tmp_path, capsys,
                                                                                        suffix, fmt):
    """The user named the format, so it is written, and one line says how many pixels outside the hole
    it changed (counted in the file written) and to write a PNG to keep them."""
    out = tmp_path / f"out{suffix}"
    image = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()[:303, :384]).save(image)
    _, err = _filled(capsys, "--model", "mean_fill", "--image", str(image), "--box", ",".join(map(str, BOX)),
                     "--out", str(out))
    given = data.astronaut()[:303, :384]
    hole = hole_of_box(BOX, given.shape)
    changed = int(((np.asarray(Image.open(out).convert("RGB")) != given).any(axis=-1) & ~hole).sum())
    assert changed > 10000
    assert err == (f"inpaintbench: warning: {out}: {fmt} changed {changed} pixels outside the hole on writing "
                   "(it is lossy); write a .png to keep every pixel outside the hole as it was\n")


def _mask_files(folder: Path) -> dict[str, int]:
    """Masks as users draw them, each meaning the 60 x 40 box at (100, 50) of a 384 x 303 photo."""
    box = np.zeros((303, 384), bool)
    box[50:90, 100:160] = True
    white_on_black = np.where(box, 255, 0).astype(np.uint8)
    Image.fromarray(white_on_black).save(folder / "jpeg_noise.jpg", quality=30)
    opaque = np.zeros((303, 384, 4), np.uint8)
    opaque[..., 3] = 255
    opaque[box, :3] = 255
    Image.fromarray(opaque, "RGBA").save(folder / "opaque_rgba.png")
    strokes = np.zeros((303, 384, 4), np.uint8)
    strokes[..., :3] = 255  # a transparent white background, as a drawing program leaves it
    strokes[box] = (0, 0, 0, 255)  # the hole painted opaque black
    Image.fromarray(strokes, "RGBA").save(folder / "drawn_on_transparent.png")
    deep = np.where(box, 65535, 30000).astype(np.uint16)  # the background under half of 16-bit white
    Image.fromarray(deep).save(folder / "mask16.png")
    return int(box.sum())


@pytest.mark.parametrize("mask", ["jpeg_noise.jpg", "opaque_rgba.png", "drawn_on_transparent.png", "mask16.png"])
def test_the_hole_is_where_the_mask_is_at_least_half_white_or_opaque_if_it_has_transparency(photo, tmp_path, capsys,
                                                                                           mask):
    """JPEG noise is no hole, a mask drawn on a transparent background is its opaque part, and 16-bit
    masks are halved at 32768; the command prints the hole's size."""
    area = _mask_files(tmp_path)
    out = tmp_path / "out.png"
    printed, _ = _filled(capsys, "--model", "black", "--image", str(photo), "--mask", str(tmp_path / mask),
                         "--out", str(out))
    assert printed == f"hole: {area} px, {area / (384 * 303):.2%} of the image\n{out}\n"
    after = np.asarray(Image.open(out))
    assert (after[50:90, 100:160] == 0).all()
    assert (after != np.asarray(Image.open(photo))).any(axis=-1).sum() == area


@pytest.mark.bad_input
def test_a_mask_of_the_photos_unrotated_size_says_the_exif_tag_turned_the_photo(photo, tmp_path, capsys):
    """A phone photo stored 384 x 303 with EXIF orientation 6 shows (and reads) as 303 x 384."""
    turned = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(photo).save(turned, exif=exif)
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((303, 384), 255, np.uint8)).save(mask)
    err = _error(capsys, "--model", "black", "--image", str(turned), "--mask", str(mask),
                 "--out", str(tmp_path / "o.png"))
    assert err == (f"inpaintbench: error: {mask}: mask is 384x303 px but the image is 303x384 px as displayed: "
                   "its EXIF orientation tag (6) has it rotated 90° clockwise; draw the mask on the photo as a "
                   "viewer shows it, or turn the mask the same way\n")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.bad_input
def test_an_output_format_the_command_does_not_write_is_refused(photo, tmp_path, capsys):
    err = _error(capsys, "--model", "black", "--image", str(photo), "--box", "1,1,5,5",
                 "--out", str(tmp_path / "o.pdf"))
    assert err == (f"inpaintbench: error: --out {tmp_path / 'o.pdf'}: the command writes BMP, GIF, JPEG, PNG, PPM, "
                   "TIFF, WEBP, not PDF\n")
    assert not (tmp_path / "o.pdf").exists()
