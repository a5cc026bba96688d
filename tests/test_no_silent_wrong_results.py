"""No command exits 0 with a wrong or lost result (the cases of issue 27, one test or more each).

| case | before | now |
|---|---|---|
| 1. two commands write one result | both exit 0, one result lost | the later one exits 2 (one line), the other's file kept |
| 2. restore with a model that does not fit | grey, cropped or black images, exit 0 | exit 2, one line, nothing written |
| 3. a resume that changes length or backend | continues as another run | refused, one line that says how to resume |
| 4. a batch meets an unreadable image | half written, then blocks itself | nothing written; ``--skip-bad`` restores the rest, exit 1 |
| 5. RGBA / 16-bit to corrupt; 48/64-bit TIFF; tRNS; ICC, gAMA | dropped; 8-bit; opaque; dropped | all kept |
| 6. a profile asks for more images than the data hold | banner of 200, trains on 18 | banner and warning say 20 |
| 7. out-of-range inputs | MSE 16,699; NaN/inf images | ValueError naming the parameter and the fix |
| 8. a small file declaring huge weights; millions of tar headers | GBs allocated; 35x the file, 100 s | refused first |
| 9. a killed call's temporary in a folder of inputs | restored as an input next time | skipped |
| 10. framework messages | "File not found", kB of internals | one short line with the cause and the fix |
"""

import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from deblur import cli, corruption, files, images, metrics, training
from deblur.recipe import Budget, Epochs, Recipe, Steps


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.strip()


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 256, (24, 28, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


# ------------------------------------------------------------------ 1. concurrent writers


def test_an_exclusive_save_never_replaces_a_file_another_writer_published(tmp_path):
    target = tmp_path / "result.json"

    def save(tmp):  # another command publishes the same result while this one is still writing
        target.write_text("the other command's result")
        tmp.write_text("ours")

    with pytest.raises(FileExistsError, match="another command"):
        files.atomic_save(target, save, exclusive=True)
    assert target.read_text() == "the other command's result"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary left
    files.atomic_save(tmp_path / "new.json", lambda tmp: tmp.write_text("x"), exclusive=True)
    assert (tmp_path / "new.json").read_text() == "x"


def test_a_restore_racing_another_into_one_folder_keeps_the_first_result(tmp_path, photos, capsys, monkeypatch):
    out = tmp_path / "out"
    encode = images.encode_png

    def racing_encode(*args):  # the other command finishes first, under the same name
        out.mkdir(exist_ok=True)
        (out / "a_restored.png").write_bytes(b"the other command's image")
        return encode(*args)

    monkeypatch.setattr(images, "encode_png", racing_encode)
    code, _, err = run(capsys, "restore", str(photos / "a.png"), "--model", "cae", "--quiet", "--out", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and "another command" in err, err
    assert (out / "a_restored.png").read_bytes() == b"the other command's image"
    assert sorted(p.name for p in out.iterdir()) == ["a_restored.png"]  # and no staging folder


def test_an_evaluate_racing_another_keeps_the_first_json(tmp_path, capsys, monkeypatch, stand_in_archive):
    target = tmp_path / "results.json"
    table = metrics.format_table

    def racing_table(*args, **kwargs):
        target.write_text('{"model": "the other one"}')
        return table(*args, **kwargs)

    monkeypatch.setattr(metrics, "format_table", racing_table)
    code, _, err = run(capsys, "evaluate", "--model", "cae", "--profile", "tiny", "--n-test", "4",
                       "--data", str(stand_in_archive), "--out", str(target))
    assert code == 2 and len(err.splitlines()) == 1 and "another command" in err, err
    assert json.loads(target.read_text()) == {"model": "the other one"}


# ------------------------------------------------------------------ 2. models that do not fit


def _saved_model(path, kind):
    inputs = keras.Input((None, None, 3))
    if kind == "one channel":
        outputs = keras.layers.Conv2D(1, 3, padding="same")(inputs)
    elif kind == "upsamples":
        outputs = keras.layers.UpSampling2D(2)(inputs)
    else:  # NaN weights, as a diverged run leaves them
        layer = keras.layers.Conv2D(3, 3, padding="same")
        outputs = layer(inputs)
    model = keras.Model(inputs, outputs)
    if kind == "nan weights":
        model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(path)
    return path


@pytest.mark.parametrize("kind, message", [("one channel", "returned shape (24, 28, 1)"),
                                           ("upsamples", "returned shape (48, 56, 3)"),
                                           ("nan weights", "NaN or infinite")])
def test_restore_refuses_a_model_whose_output_cannot_be_the_image(tmp_path, photos, capsys, kind, message):
    model = _saved_model(tmp_path / "m.keras", kind)
    out = tmp_path / "out"
    code, _, err = run(capsys, "restore", str(photos / "a.png"), "--model", str(model), "--quiet", "--out", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and message in err and len(err) < 400, err
    assert not out.exists()


# ------------------------------------------------------------------ 3. resumes that change the run


def _small():
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 3, padding="same")],
                            name="deblurnet")


class StopAfterStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


@pytest.mark.parametrize("changed, match", [({"length": Steps(9)}, "length.steps: saved 6 vs now 9"),
                                            ({"length": Budget(5.0)}, "budget_seconds")])
def test_a_resume_with_another_length_is_refused_and_says_how(tmp_path, changed, match):
    x = (np.random.default_rng(0).random((40, 8, 8, 3)) * 255).astype(np.uint8)
    recipe = dict(model="deblurnet", length=Steps(6), batch_size=8, lr_schedule="cosine", seed=0)
    with pytest.raises(KeyboardInterrupt):
        training.train(_small(), x, Recipe(**recipe), run_dir=tmp_path / "run", verbose=0,
                       callbacks=[StopAfterStep()])
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    with pytest.raises(training.RunMismatchError, match=match) as error:
        training.train(_small(), x, Recipe(**{**recipe, **changed}), run_dir=tmp_path / "run", verbose=0)
    assert "Use a new run_dir, or the same recipe" in str(error.value)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


def test_a_run_started_on_another_backend_is_not_resumed(tmp_path):
    x = (np.random.default_rng(0).random((16, 8, 8, 3)) * 255).astype(np.uint8)
    recipe = Recipe("deblurnet", length=Epochs(1), batch_size=8)
    training.train(_small(), x, recipe, run_dir=tmp_path / "run", verbose=0)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    (tmp_path / "run" / "history.json").write_text(json.dumps({**history, "backend": other}))
    with pytest.raises(training.RunMismatchError, match=f"started on {other}.*KERAS_BACKEND={other}"):
        training.train(_small(), x, recipe, run_dir=tmp_path / "run", verbose=0)
    # Issue 41, case 6: resumed with --processes (always JAX), KERAS_BACKEND is no advice: say how it started.
    from deblur.training.run_folder import check_resumable

    with pytest.raises(training.RunMismatchError, match=r"resume it with 1 process\(es\) as it started") as error:
        check_resumable(tmp_path / "run", recipe, history["data"], processes=2)
    assert "KERAS_BACKEND" not in str(error.value)


# ------------------------------------------------------------------ 4. a batch that meets a bad file, 9. temporaries


def test_a_batch_with_an_unreadable_image_writes_nothing_then_skips_it_on_request(tmp_path, photos, capsys):
    data = (photos / "b.png").read_bytes()
    (photos / "b.png").write_bytes(data[: len(data) // 2])  # header intact: only decoding finds it truncated
    (photos / ".a.x1y2.tmp.png").write_bytes(b"a killed call's temporary")  # hidden: never an input
    out = tmp_path / "out"
    (out / ".deblur-999999999-x1y2.tmp").mkdir(parents=True)  # a killed restore's staging folder (no such pid)
    os.utime(out / ".deblur-999999999-x1y2.tmp", (time.time() - 60,) * 2)  # a minute old: past its making
    code, _, err = run(capsys, "restore", str(photos), "--model", "cae", "--quiet", "--out", str(out))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "b.png" in err and "Nothing was written" in err and "--skip-bad" in err
    assert list(out.iterdir()) == []  # the stale staging folder is gone too: nothing piles up
    code, stdout, err = run(capsys, "restore", str(photos), "--model", "cae", "--quiet", "--skip-bad",
                            "--out", str(out))
    assert code == 1 and err.endswith("1 of 3 images could not be read and were skipped (exit status 1): b.png")
    assert sorted(p.name for p in out.iterdir()) == ["a_restored.png", "c_restored.png"]
    assert stdout.count("wrote") == 2


# ------------------------------------------------------------------ 5. corrupt keeps depth and alpha


def test_corrupt_keeps_alpha_and_16_bits(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (20, 20, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    deep = rng.integers(0, 65536, (20, 20), dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    code, _, err = run(capsys, "corrupt", str(tmp_path / "rgba.png"), str(tmp_path / "deep.png"),
                       "--out", str(tmp_path / "out"))
    assert code == 0, err
    image, alpha = images.read_image(tmp_path / "out" / "rgba_corrupted.png")
    np.testing.assert_array_equal(alpha, rgba[..., 3])
    assert image.shape == (20, 20, 3) and not np.array_equal(image, rgba[..., :3])
    image, alpha = images.read_image(tmp_path / "out" / "deep_corrupted.png")
    assert image.dtype == np.uint16 and alpha is None and len(np.unique(image)) > 256


# ------------------------------------------------------------------ 6. fewer images than the profile asks for


def test_training_on_fewer_images_than_the_profile_asks_for_says_so(tmp_path, capsys):
    tree = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("test", 1)):
        for cls in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"):
            (tree / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tree / split / cls / f"{i}.png")
    code, out, err = run(capsys, "train", "--model", "deblurnet", "--profile", "tiny", "--steps", "1",
                         "--data", str(tree), "--run-dir", str(tmp_path / "runs"))
    assert code == 0, err
    assert "20 training images" in out and "10 test images" in out and "200" not in out
    assert "asks for 200 train images; the data hold 20, so it used 20" in err
    history = json.loads((tmp_path / "runs" / "runs" / "deblurnet" / "history.json").read_text())
    assert history["data"]["n_train"] + history["data"]["n_val"] == 20


# ------------------------------------------------------------------ 7. ambiguous or out-of-range inputs


def test_out_of_range_inputs_are_refused_up_front_naming_the_fix():
    clean = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"corrupted holds values in \[.*divide 0..255 data by 255"):
        metrics.evaluate(None, clean.astype(np.float32), clean)  # float 0..255
    for noise in (1e39, float("nan"), 2.0, (0.0, 1e39)):
        with pytest.raises(ValueError, match=r"noise_std must be .*\[0, 1\]"):
            corruption.corrupt(clean, seed=0, noise_std=noise)
    same, _ = corruption.corrupt(clean, seed=0, sigma_range=(1e-300, 1e-300), noise_std=0.0)  # sigma ~0: no blur
    np.testing.assert_allclose(same, clean / 255.0, atol=1e-6)
    from deblur import inference

    with pytest.raises(ValueError, match=r"channels-first .*np.moveaxis"):
        inference.restore("cae", np.zeros((3, 20, 24), np.float32))
    with pytest.raises(ValueError, match="at least 2 test images"):
        metrics.evaluate(None, clean[:1] / 255.0, clean[:1], ci_seed=0)


# ------------------------------------------------------------------ 10. messages


def test_broken_model_files_get_one_short_line(tmp_path, photos, capsys):
    whole = _saved_model(tmp_path / "whole.keras", "nan weights").read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])

    @keras.saving.register_keras_serializable(package="issue27")
    class Custom(keras.layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, Custom()(inputs)).save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("issue27>Custom")  # as in a new process that does not import it
    for name, message in (("cut.keras", "not a whole .keras file"), ("custom.keras", "custom object")):
        code, _, err = run(capsys, "restore", str(photos / "a.png"), "--model", str(tmp_path / name), "--quiet",
                           "--out", str(tmp_path / "out"))
        assert code == 2 and len(err.splitlines()) == 1 and message in err and len(err) < 300, err
        assert "\x1b" not in err


def test_a_png_transparent_colour_is_read_as_alpha(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[:, :4] = (10, 20, 30)
    Image.fromarray(rgb).save(tmp_path / "trns.png", transparency=(10, 20, 30))  # a tRNS chunk, no alpha channel
    gray = np.full((6, 8), 200, np.uint8)
    gray[0] = 7
    Image.fromarray(gray).save(tmp_path / "trns_gray.png", transparency=7)
    image, alpha = images.read_image(tmp_path / "trns.png")
    np.testing.assert_array_equal(image, rgb)
    assert (alpha[:, :4] == 0).all() and (alpha[:, 4:] == 255).all()
    image, alpha = images.read_image(tmp_path / "trns_gray.png")
    np.testing.assert_array_equal(image, gray)
    assert (alpha[0] == 0).all() and (alpha[1:] == 255).all()


# ------------------------------------------------------------------ 8. memory bounded by the input


def test_a_model_file_declaring_gigabytes_is_refused_before_keras_builds_it(tmp_path, photos, capsys):
    import zipfile

    small = _saved_model(tmp_path / "small.keras", "nan weights")
    with zipfile.ZipFile(small) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    config = json.loads(parts["config.json"])
    conv = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D")
    conv["config"]["filters"] = 10_000_000  # 3x3x3 x 10 M: 1 GB of float32 weights, in a file of a few kB
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "absurd.keras", "w") as z:
        for name, blob in parts.items():
            z.writestr(name, blob)
    code, _, err = run(capsys, "restore", str(photos / "a.png"), "--model", str(tmp_path / "absurd.keras"),
                       "--quiet", "--out", str(tmp_path / "out"))
    assert code == 2 and "declare 1,080 MB of weights but the file stores" in err, err
    from deblur import models

    assert models.load_model_file(small).count_params() == 84  # a whole, honest file loads


def test_an_archive_of_endless_folder_headers_is_refused_after_a_bounded_count(tmp_path, monkeypatch):
    import io
    import tarfile

    from deblur import data

    # The real bound, 130,000 members, is over twice CIFAR-10's files: a smaller one keeps the test short.
    monkeypatch.setattr("deblur._archives._MAX_MEMBERS", 500)
    with tarfile.open(tmp_path / "dirs.tar.gz", "w:gz") as tar:
        for i in range(600):
            info = tarfile.TarInfo(f"d{i}/train/cat")
            info.type = tarfile.DIRTYPE
            tar.addfile(info, io.BytesIO())
    with pytest.raises(data.DataError, match="more than 500 members"):
        data.load_cifar10(tmp_path / "dirs.tar.gz", use_cache=False)


def test_a_zip_of_too_many_members_is_refused_before_its_directory_is_read(tmp_path, monkeypatch):
    # Issue 41, case 7: ZipFile read the whole central directory before the member cap (peak RSS 5.5x the archive).
    import zipfile

    from deblur import data

    monkeypatch.setattr("deblur._archives._MAX_MEMBERS", 500)
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as archive:
        for i in range(600):
            archive.writestr(f"d{i}/", b"")
    monkeypatch.setattr(zipfile, "ZipFile", None)  # opening the directory would fail: the count comes first
    with pytest.raises(data.DataError, match="more than 500 members"):
        data.load_cifar10(tmp_path / "many.zip", use_cache=False)


# ------------------------------------------------------------------ 5. image fidelity in restore and corrupt


def test_restore_and_corrupt_keep_16_bit_tiffs_icc_profiles_and_gamma(tmp_path, capsys):
    import struct

    import tifffile
    from PIL import ImageCms, PngImagePlugin

    rng = np.random.default_rng(2)
    deep = rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", deep)
    np.testing.assert_array_equal(images.read_image(tmp_path / "deep.tif")[0], deep)  # 48-bit: all 16 bits
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 45455))
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "tagged.png", pnginfo=info,
                                                                           icc_profile=icc)
    assert images.read_metadata(tmp_path / "tagged.png") == {"icc_profile": icc, "gamma": 0.45455}
    for command, suffix, extra in (("corrupt", "corrupted", []), ("restore", "restored", ["--model", "cae", "--quiet"])):
        out = tmp_path / command
        code, _, err = run(capsys, command, str(tmp_path / "deep.tif"), str(tmp_path / "tagged.png"), *extra,
                           "--out", str(out))
        assert code == 0, err
        image, _ = images.read_image(out / f"deep_{suffix}.png")
        assert image.dtype == np.uint16 and len(np.unique(image)) > 256
        assert images.read_metadata(out / f"tagged_{suffix}.png") == {"icc_profile": icc, "gamma": 0.45455}


def test_plot_and_export_never_replace_an_earlier_result(tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"by_sigma": {"cae": {"1-2": {"mse": 0.01, "n_images": 1}}}}))
    out = tmp_path / "figures"
    code, stdout, err = run(capsys, "plot", "--results", str(results), "--out", str(out))
    assert code == 0 and "wrote" in stdout, err
    figure = (out / "mse_by_sigma.png").read_bytes()
    code, _, err = run(capsys, "plot", "--results", str(results), "--out", str(out))
    assert code == 2 and len(err.splitlines()) == 1 and "already exists" in err, err
    assert (out / "mse_by_sigma.png").read_bytes() == figure and sorted(p.name for p in out.iterdir()) == [
        "mse_by_sigma.png"]
    (tmp_path / "m.onnx").write_bytes(b"an earlier export")
    code, _, err = run(capsys, "export", "--format", "onnx", "--out", str(tmp_path / "m.onnx"))
    assert code == 2 and (tmp_path / "m.onnx").read_bytes() == b"an earlier export"


# ------------------------------------------------- issue 41: racing calls and live staging folders


def test_crossed_racing_publishes_keep_one_calls_results(tmp_path, monkeypatch):
    # Issue 41, case 2: `restore x y` and `restore y x` into one --out each took its first name, then failed on the
    # other's: both rolled back and no result survived. Both now publish in one order, so one call keeps all of its.
    import threading

    out = tmp_path / "out"
    out.mkdir()
    real, turn = files.publish_new, threading.Barrier(2)

    def in_step(tmp, target):  # neither call goes on (to its next name, or to roll back) before the other tried one
        try:
            real(tmp, target)
        finally:
            try:
                turn.wait(timeout=2)
            except threading.BrokenBarrierError:  # the other call has ended
                pass

    monkeypatch.setattr(files, "publish_new", in_step)
    results = {}

    def call(name, order):
        staged = []
        for stem in order:
            path = tmp_path / f"{name}-{stem}.tmp"
            path.write_text(f"{name} {stem}")
            staged.append((path, out / f"{stem}_restored.png"))
        try:
            results[name] = files.publish_all(staged)
        except FileExistsError:
            results[name] = None

    threads = [threading.Thread(target=call, args=("A", "xy")), threading.Thread(target=call, args=("B", "yx"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    kept = [name for name, r in results.items() if r is not None]
    assert len(kept) == 1, results
    assert sorted(p.read_text() for p in out.iterdir()) == [f"{kept[0]} x", f"{kept[0]} y"]
    assert results[kept[0]] == [out / f"{stem}_restored.png" for stem in ("xy" if kept[0] == "A" else "yx")]


def test_a_live_staging_folder_is_kept_even_when_its_pid_is_not_visible(tmp_path):
    # Issue 41, case 3: a second restore deleted a live staging folder whose writer's pid it could not see (another
    # PID namespace). Staleness is now the writer's lock: a real second process holds a folder; a call that cannot
    # see that pid (another namespace: the folder's name says a pid that does not exist here) keeps it.
    import subprocess

    out = tmp_path / "out"
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from deblur import files\n"
         "with files.staging_folder(sys.argv[1]) as folder:\n"
         "    (folder / 'x_restored.png').write_bytes(b'staged')\n"
         "    print(folder, flush=True); time.sleep(60)", str(out)], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(writer.stdout.readline().strip())
        foreign = live.with_name(".deblur-999999999-" + live.name.split("-", 2)[2])
        live.rename(foreign)  # as a reader in another PID namespace sees it: a pid that is not alive here
        os.utime(foreign, (time.time() - 60,) * 2)
        with files.staging_folder(out):
            pass
        assert (foreign / "x_restored.png").read_bytes() == b"staged"  # kept: its writer holds the lock
    finally:
        writer.kill()
        writer.wait(timeout=30)
    with files.staging_folder(out):  # the writer is gone (its lock with it): its folder is removed
        pass
    assert not foreign.exists() and list(out.iterdir()) == []


# ------------------------------------------------- issue 41, cases 8 and 9: what restore writes reads back, in form


def _png16_gray_alpha(path, gray, alpha):
    import struct
    import zlib

    h, w = gray.shape
    rows = b"".join(b"\0" + np.dstack([gray, alpha])[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_a_16_bit_gray_alpha_png_comes_back_gray_and_alpha(tmp_path, capsys):
    # Issue 41, case 9: it came back as 16-bit RGBA with channels differing by up to 338/65535.
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 65536, (40, 48), dtype=np.uint16)
    alpha = rng.integers(0, 65536, (40, 48), dtype=np.uint16)
    _png16_gray_alpha(tmp_path / "ga.png", gray, alpha)
    image, read_alpha = images.read_image(tmp_path / "ga.png")
    np.testing.assert_array_equal(image, gray)
    np.testing.assert_array_equal(read_alpha, alpha)
    images.write_png(tmp_path / "copy.png", image, read_alpha)
    with Image.open(tmp_path / "copy.png") as im:  # a real 16-bit grey+alpha PNG, whatever reads it
        assert (tmp_path / "copy.png").read_bytes()[24:26] == bytes([16, 4]) and im.size == (48, 40)
    again, again_alpha = images.read_image(tmp_path / "copy.png")
    np.testing.assert_array_equal(again, gray)
    np.testing.assert_array_equal(again_alpha, alpha)
    code, _, err = run(capsys, "restore", str(tmp_path / "ga.png"), "--model", "cae", "--quiet", "--out",
                       str(tmp_path / "out"))
    assert code == 0, err
    restored, restored_alpha = images.read_image(tmp_path / "out" / "ga_restored.png")
    assert restored.shape == (40, 48) and restored.dtype == np.uint16
    np.testing.assert_array_equal(restored_alpha, alpha)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_an_animated_or_multi_page_image_is_refused_not_cut_to_its_first_frame(tmp_path, capsys, suffix):
    # Issue 41, case 9: an animated PNG or a multi-page TIFF restored only its first frame, unsaid.
    frames = [Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / f"frames{suffix}", save_all=True, append_images=frames[1:])
    code, _, err = run(capsys, "restore", str(tmp_path / f"frames{suffix}"), "--model", "cae", "--quiet", "--out",
                       str(tmp_path / "out"))
    assert code == 2 and len(err.splitlines()) == 1 and "holds 3 frames" in err, err
    assert not (tmp_path / "out").exists()


def test_a_huge_colour_profile_is_dropped_and_said_and_the_png_reads_back(tmp_path, capsys):
    # Issue 41, case 8: a JPEG with a 2 MB ICC profile gave a PNG that deblur could not read back.
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(tmp_path / "big.jpg", icc_profile=b"\1" * 2_000_000)
    code, out, err = run(capsys, "restore", str(tmp_path / "big.jpg"), "--model", "cae", "--quiet", "--out",
                         str(tmp_path / "out"))
    assert code == 0 and "2,000,000-byte colour profile was dropped" in out, (out, err)
    image, _ = images.read_image(tmp_path / "out" / "big_restored.png")
    assert image.shape == (24, 24, 3) and "icc_profile" not in images.read_metadata(tmp_path / "out" /
                                                                                   "big_restored.png")


def test_a_png_whose_colour_profile_is_too_large_is_refused_with_the_real_cause(tmp_path, capsys):
    # Issue 41, case 8: a valid PNG with a 20 MB iCCP was told it is "not a whole PNG".
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="PNG")
    png = buffer.getvalue()
    data = b"ICC profile\0\0" + zlib.compress(b"\0" * 20_000_000)
    iccp = struct.pack(">I", len(data)) + b"iCCP" + data + struct.pack(">I", zlib.crc32(b"iCCP" + data))
    (tmp_path / "icc.png").write_bytes(png[:33] + iccp + png[33:])
    code, _, err = run(capsys, "restore", str(tmp_path / "icc.png"), "--model", "cae", "--quiet", "--out",
                       str(tmp_path / "out"))
    assert code == 2 and len(err.splitlines()) == 1 and "decompresses to more than 1 MiB" in err, err
