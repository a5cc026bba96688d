"""Every CLI subcommand on small fixtures, including its errors (one line, exit status 2)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deblur import cli, machine, models, pretrained, training

ROOT = Path(__file__).resolve().parents[1]


def _load_reproduce():
    """tools/reproduce.py as a module (repository maintenance: not part of the package)."""
    spec = importlib.util.spec_from_file_location("tools_reproduce", ROOT / "tools" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def image_dir(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (21, 34, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (40, 24, 3), dtype=np.uint8)).save(folder / "c.jpg", quality=90)
    return folder


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_of_every_subcommand():
    for sub in ("", "corrupt", "train", "evaluate", "plot", "restore", "export"):
        result = subprocess.run([sys.executable, "-m", "deblur", *([sub] if sub else []), "--help"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "usage: deblur" in result.stdout
    result = subprocess.run([sys.executable, "-m", "deblur", "reproduce", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2  # repository maintenance left the package for tools/reproduce.py
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "reproduce.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: tools/reproduce.py" in result.stdout and "--export" in result.stdout


def test_corrupt_writes_seeded_pngs(tmp_path, image_dir, capsys):
    code, out, _ = run(capsys, "corrupt", str(image_dir), "--out", str(tmp_path / "c1"), "--seed", "3")
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "c1").iterdir())
    assert names == ["a_corrupted.png", "c_corrupted.png", "gray_corrupted.png"]
    run(capsys, "corrupt", str(image_dir), "--out", str(tmp_path / "c2"), "--seed", "3")
    for name in names:
        a = np.asarray(Image.open(tmp_path / "c1" / name))
        assert np.array_equal(a, np.asarray(Image.open(tmp_path / "c2" / name)))
    gray = np.asarray(Image.open(tmp_path / "c1" / "gray_corrupted.png"))
    assert gray.shape == (16, 16)


def test_restore_shipped_model_keeps_sizes_and_never_overwrites(tmp_path, image_dir, capsys):
    code, out, _ = run(capsys, "restore", str(image_dir / "a.png"), str(image_dir / "gray.png"),
                       "--model", "cae", "--out", str(tmp_path / "r"))
    assert code == 0
    assert np.asarray(Image.open(tmp_path / "r" / "a_restored.png")).shape == (21, 34, 3)
    assert np.asarray(Image.open(tmp_path / "r" / "gray_restored.png")).shape == (16, 16)
    assert "dB PSNR" in out and "output vs input" in out  # what the restoration did, per image
    code, _, _ = run(capsys, "restore", str(image_dir / "a.png"), "--model", "cae", "--ensemble",
                     "--out", str(tmp_path / "e"))
    ensembled = np.asarray(Image.open(tmp_path / "e" / "a_restored.png"))
    assert code == 0 and ensembled.shape == (21, 34, 3)
    assert not np.array_equal(ensembled, np.asarray(Image.open(tmp_path / "r" / "a_restored.png")))
    # An output name that equals an input is refused before anything is written.
    clash = tmp_path / "clash"
    clash.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(clash / "x.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(clash / "x_restored.png")
    before = (clash / "x_restored.png").read_bytes()
    code, _, err = run(capsys, "restore", str(clash), "--model", "win5rb", "--out", str(clash))
    assert code == 2 and ("is the input" in err or "inside the input" in err) and len(err.strip().splitlines()) == 1
    assert (clash / "x_restored.png").read_bytes() == before


def test_restore_sets_the_precision_once_for_all_images(tmp_path, image_dir, capsys, monkeypatch):
    changes, set_precision = [], models.set_precision

    def counting(model, precision="auto"):
        before = set_precision(model, precision)
        changes.extend([(before, precision)] if before != machine.resolve_precision(precision) else [])
        return before

    monkeypatch.setattr(models, "set_precision", counting)
    code, _, _ = run(capsys, "restore", str(image_dir / "a.png"), str(image_dir / "c.jpg"), "--model", "deblurnet",
                     "--precision", "bfloat16", "--out", str(tmp_path / "r"))
    # Each change of precision makes Keras retrace the model (~0.15 s a photo): one change, not two per image.
    assert code == 0 and changes == [("float32", "bfloat16")]


def test_restore_lists_the_shipped_models_with_what_each_is_for(capsys):
    from deblur import pretrained

    code, out, _ = run(capsys, "restore", "--list-models")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == len(pretrained.pretrained_names())
    assert any(line.startswith(f"{pretrained.DEFAULT_MODEL} (the default): ") for line in lines)
    assert cli.describe_change(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)) == "output identical to the input"
    assert "40.0 dB" in cli.describe_change(np.zeros((1, 100), np.uint16), np.full((1, 100), 655, np.uint16))
    code, _, err = run(capsys, "restore", "--out", "x")
    assert code == 2 and "no images given" in err


def _png_header(width, height):
    """A PNG of a ``width`` x ``height`` image that holds no pixels: enough for Pillow's size check."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def test_restore_keeps_bit_depth_channels_alpha_and_orientation(tmp_path, capsys):
    import cv2

    rng = np.random.default_rng(1)
    src = tmp_path / "in"
    src.mkdir()
    rgb16 = rng.integers(0, 65536, (12, 18, 3), dtype=np.uint16)
    cv2.imwrite(str(src / "rgb16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    gray16 = rng.integers(0, 65536, (10, 14), dtype=np.uint16)
    Image.fromarray(gray16).save(src / "gray16.png")
    rgba = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(src / "rgba.png")
    rotated = rng.integers(0, 256, (8, 20, 3), dtype=np.uint8)  # stored 20 wide; EXIF 6: shown 8 wide
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rotated).save(src / "rotated.png", exif=exif)
    code, out, err = run(capsys, "restore", str(src), "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0 and err == ""
    model = pretrained.DEFAULT_MODEL  # by name: restore applies its card's guard, as the command line does
    got = cv2.imread(str(tmp_path / "r" / "rgb16_restored.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert got.dtype == np.uint16 and got.shape == rgb16.shape
    assert np.array_equal(got, deblur_restore(model, rgb16))
    assert np.any(got % 257)  # really 16-bit, not 8-bit values scaled up
    with Image.open(tmp_path / "r" / "gray16_restored.png") as im:
        assert im.mode == "I;16" and np.array_equal(np.asarray(im), deblur_restore(model, gray16))
    with Image.open(tmp_path / "r" / "rgba_restored.png") as im:
        assert im.mode == "RGBA"
        got = np.asarray(im)
    assert np.array_equal(got[..., 3], rgba[..., 3])
    assert np.array_equal(got[..., :3], deblur_restore(model, rgba[..., :3]))
    got = np.asarray(Image.open(tmp_path / "r" / "rotated_restored.png"))
    assert got.shape == (20, 8, 3)
    assert np.array_equal(got, deblur_restore(model, np.rot90(rotated, -1).copy()))
    assert sorted(p.name for p in src.iterdir()) == ["gray16.png", "rgb16.png", "rgba.png", "rotated.png"]


def deblur_restore(model, image):
    from deblur import inference

    return inference.restore(model, image, progress=False)


def test_restore_refuses_colliding_existing_and_unsupported(tmp_path, image_dir, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.png").write_bytes((image_dir / "a.png").read_bytes())
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image_dir / "a.jpg")
    for inputs in ([image_dir / "a.png", other / "a.png"], [image_dir / "a.png", image_dir / "a.jpg"]):
        code, _, err = run(capsys, "restore", *map(str, inputs), "--out", str(tmp_path / "dup"))
        assert code == 2 and "would both be written to" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "dup").exists()
    out = tmp_path / "r"
    out.mkdir()
    (out / "a_restored.png").write_bytes(b"an earlier result")
    code, _, err = run(capsys, "restore", str(image_dir / "a.png"), "--out", str(out))
    assert code == 2 and "already exists" in err
    assert (out / "a_restored.png").read_bytes() == b"an earlier result"
    Image.new("CMYK", (8, 8)).save(tmp_path / "cmyk.jpg")
    Image.new("F", (8, 8)).save(tmp_path / "float.tif")
    (tmp_path / "huge.png").write_bytes(_png_header(20000, 20000))
    for name, message in (("cmyk.jpg", "CMYK images are not supported"), ("float.tif", "F images are not supported"),
                          ("huge.png", "larger than 120 megapixels")):
        code, _, err = run(capsys, "restore", str(tmp_path / name), "--out", str(tmp_path / "o"))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["restore", "MISSING.png", "--model", "cae", "--out", "o"], "no such file"),
        (["restore", "{images}", "--model", "unet", "--out", "o"], "unknown model"),
        (["restore", "{bad}", "--model", "cae", "--out", "o"], "cannot read image"),
        (["corrupt", "{empty}", "--out", "o"], "no PNG/JPEG"),
        (["plot", "--run", "cae", "--out", "o"], "NAME=RUN_DIR"),
        (["plot", "--out", "o"], "nothing to plot"),
        (["plot", "--results", "{bad}", "--out", "o"], "cannot read results JSON"),
        (["plot", "--run", "cae={images}", "--out", "o"], "not a training run folder"),
        (["evaluate", "--model", "{bad}", "--out", "o.json"], "unknown model"),
        (["evaluate", "--model", "cae", "--data", "MISSING.tar.gz", "--out", "o.json"], "does not exist"),
        (["train", "--model", "cae", "--epochs", "2", "--steps", "3"], "give one of"),
        (["train", "--model", "cae", "--hold-steps", "3"], "--hold-steps replays"),
        (["reproduce", "--profile", "quick", "--export"], "--export ships weights"),
        (["reproduce", "--profile", "full", "--n-test", "10", "--export"], "reduced"),
    ],
)
def test_errors_are_one_line_and_status_2(tmp_path, image_dir, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    argv = [a.format(images=image_dir, bad=bad, empty=tmp_path / "empty") for a in argv]
    if argv[0] == "reproduce":  # tools/reproduce.py, which refuses the command line's way
        code, err = _load_reproduce().main(argv[1:]), capsys.readouterr().err
    else:
        code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.json").exists()


@pytest.mark.slow
def test_train_evaluate_plot_on_the_stand_in(tmp_path, capsys, monkeypatch, stand_in_archive):
    from dataclasses import replace

    from deblur import study

    monkeypatch.chdir(tmp_path)
    # The tiny profile on 40 training images (36 after validation: 2 batches of 32, the second
    # partial): the same commands and run folders as its 200, at a third of the training steps.
    monkeypatch.setitem(study.PROFILES, "tiny", replace(study.PROFILES["tiny"], n_train=40))
    code, out, _ = run(capsys, "train", "--model", "cae", "--profile", "tiny", "--data", str(stand_in_archive))
    assert code == 0
    run_dir = tmp_path / "runs" / "tiny" / "runs" / "cae"  # in the one scratch folder
    assert len(training.load_history(run_dir)["loss"]) == 1
    # A step count replays a run of any length; the run says so.
    code, out, _ = run(capsys, "train", "--model", "deblurnet", "--profile", "tiny", "--steps", "3",
                       "--data", str(stand_in_archive), "--run-dir", "steps")
    assert code == 0 and training.load_run(tmp_path / "steps" / "runs" / "deblurnet").steps == 3
    assert "3 steps" in out
    code, out, _ = run(capsys, "evaluate", "--model", str(run_dir), "--profile", "tiny", "--n-test", "32",
                       "--data", str(stand_in_archive), "--out", "eval.json")
    assert code == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["model_metrics"]["n_images"] == 32 and result["identity"]["mse"] > 0
    code, out, _ = run(capsys, "evaluate", "--model", "win5rb", "--n-test", "32", "--data",
                       str(stand_in_archive), "--out", "shipped.json")
    shipped = json.loads((tmp_path / "shipped.json").read_text())
    assert shipped["model_metrics"]["mse"] < shipped["identity"]["mse"]
    code, out, _ = run(capsys, "plot", "--run", f"cae={run_dir}", "--n-test", "16", "--data",
                       str(stand_in_archive), "--out", "figs")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["comparison.png", "loss_curves.png"]
    assert models.load_pretrained("cae").count_params() == 779_395


def test_an_os_error_is_one_line_too(tmp_path, capsys, stand_in_archive):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    code, _, err = run(capsys, "train", "--model", "cae", "--profile", "tiny", "--data", str(stand_in_archive),
                       "--run-dir", str(a_file))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "a_file" in err
    assert a_file.read_text() == "not a folder"


def test_cli_model_names_match_the_model_table():
    assert list(cli.MODEL_NAMES) == list(models.MODELS)


def test_model_cards_name_commands_that_exist():
    import shlex

    from deblur.recipe import Recipe

    parser = _load_reproduce().build_parser()
    for name in models.pretrained_names():
        card = models.model_card(name)
        command = card["training"]["command"]
        if name == "deblurnet_photo":  # experiments/do_no_harm.py trains it: the variant's recipe is the card's
            spec = importlib.util.spec_from_file_location("do_no_harm", ROOT / "experiments" / "do_no_harm.py")
            do_no_harm = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(do_no_harm)
            words = shlex.split(command)
            assert words[:3] == ["python", "experiments/do_no_harm.py", "train"], command
            variant = words[words.index("--variant") + 1]
            assert do_no_harm.photo_recipe(variant) == Recipe.from_dict(card["recipe"])
            continue
        if name.endswith("_realistic"):  # experiments/real_blur.py trains them: the command's recipe is the card's
            spec = importlib.util.spec_from_file_location("real_blur", ROOT / "experiments" / "real_blur.py")
            real_blur = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(real_blur)
            words = shlex.split(command)
            assert words[:3] == ["python", "experiments/real_blur.py", "train"], command
            parsed = real_blur.build_parser().parse_args(words[2:])
            assert parsed.models == [card["architecture"]]
            assert real_blur.real_recipe(card["architecture"], parsed.minutes) == Recipe.from_dict(card["recipe"])
            continue
        assert command.startswith("python tools/reproduce.py "), command
        parsed = parser.parse_args(shlex.split(command)[2:])  # parses: the options exist
        assert name in parsed.models and parsed.export


def test_plot_redraws_per_sigma_figure_from_saved_results(tmp_path, capsys):
    table = {"[1.00, 1.50)": {"mse": 0.004, "n_images": 2}, "[1.50, 2.00)": {"mse": 0.005, "n_images": 1}}
    (tmp_path / "results.json").write_text(json.dumps({"by_sigma": {"identity": table, "cae": table}}))
    code, out, _ = run(capsys, "plot", "--results", str(tmp_path / "results.json"), "--out", str(tmp_path / "f"))
    assert code == 0 and (tmp_path / "f" / "mse_by_sigma.png").stat().st_size > 1000
    (tmp_path / "other.json").write_text("{}")
    code, _, err = run(capsys, "plot", "--results", str(tmp_path / "other.json"), "--out", str(tmp_path / "g"))
    assert code == 2 and "no per-sigma" in err


def test_restore_shows_a_progress_bar_unless_quiet(tmp_path, image_dir, capsys):
    code, _, err = run(capsys, "restore", str(image_dir), "--model", "cae", "--out", str(tmp_path / "loud"))
    assert code == 0 and "images:" in err and "3/3" in err
    code, _, err = run(capsys, "restore", str(image_dir), "--model", "cae", "--out", str(tmp_path / "quiet"),
                       "--quiet")
    assert code == 0 and err == ""


def test_a_real_restore_process_writes_nothing_on_stderr_but_its_own(tmp_path, image_dir):
    # TensorFlow's C++ start-up lines are held back: a quiet restore leaves stderr empty.
    proc = subprocess.run([sys.executable, "-m", "deblur", "restore", str(image_dir / "a.png"), "--quiet",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert (tmp_path / "r" / "a_restored.png").is_file()


def _photo_folder(folder, sizes):
    from skimage import data as photos

    folder.mkdir()
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(photos.astronaut()[i * 40:i * 40 + h, :w]).save(folder / f"p{i}.jpg")
    return folder


def test_fine_tuning_on_a_folder_of_photos_then_restoring_with_the_run(tmp_path, capsys):
    # Issue 40, part 5: deblur train --init MODEL --data FOLDER (photos of any size, no class folders).
    folder = _photo_folder(tmp_path / "photos", [(100, 120), (90, 150), (80, 80)])
    run_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--init", "deblurnet_photo", "--data", str(folder), "--steps", "4",
                         "--crop", "64", "--run-dir", str(run_dir))
    assert code == 0, err
    assert "on 48 crops of 64x64" in out and f"--model {run_dir}" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "deblurnet" and config["degradation"]["kind"] == "realistic"
    assert config["length"] == {"steps": 4, "hold_steps": 0} and config["validation_split"] == 0.1
    history = json.loads((run_dir / "history.json").read_text())
    assert history["data"]["n_train"] + history["data"]["n_val"] == 48 and history["epochs"][-1]["step"] == 4
    source = json.loads((run_dir / "finetune.json").read_text())  # the run records what it started from
    assert source == {"init": "deblurnet_photo", "init_kind": "shipped", "data": str(folder), "crop": 64, "crops": 48}
    code, _, err = run(capsys, "train", "--init", "deblurnet", "--data", str(folder), "--steps", "4", "--crop", "64",
                       "--run-dir", str(run_dir))
    assert code == 2 and "was fine-tuned from 'deblurnet_photo'; resume it with --init deblurnet_photo" in err, err
    code, out, err = run(capsys, "restore", str(folder / "p0.jpg"), "--model", str(run_dir), "--quiet", "--out",
                         str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "p0_restored.png").exists(), err


@pytest.mark.parametrize("case, expected", [("empty", "holds no PNG/JPEG/TIFF/BMP images"),
                                            ("small", "all 2 image(s) are smaller than the 128x128 crop"),
                                            ("unreadable", "broken.png: cannot read image")])
def test_fine_tuning_refuses_a_bad_photo_folder_in_one_line(tmp_path, capsys, case, expected):
    folder = tmp_path / case
    if case == "empty":
        folder.mkdir()
    else:
        _photo_folder(folder, [(60, 60), (100, 90)] if case == "small" else [(140, 140)])
    if case == "unreadable":
        (folder / "broken.png").write_bytes(b"not an image")
    code, _, err = run(capsys, "train", "--init", "deblurnet_photo", "--data", str(folder), "--steps", "2",
                       "--run-dir", str(tmp_path / "run"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "run").exists()
