"""deblur.images: every format read as stored (bit depth, channels, alpha, EXIF orientation), and written back."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from deblur import images
from deblur.images import ImageError

RNG = np.random.default_rng(7)


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _with_exif_chunk(png, orientation):
    """``png`` (bytes) with an eXIf chunk (EXIF orientation) after its header: how cameras and editors tag PNGs."""
    tiff = _exif(orientation).tobytes().removeprefix(b"Exif\x00\x00")
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    return png[:33] + chunk + png[33:]  # 8 bytes of signature, 25 of IHDR


def _png_header(width, height):
    """A PNG of a ``width`` x ``height`` image that holds no pixels: enough for Pillow's size check."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def _one_line(exc_info):
    return len(str(exc_info.value).splitlines()) == 1


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 3, 4])
def test_png_round_trip_is_exact(tmp_path, dtype, channels):
    shape = (13, 17) if channels is None else (13, 17, channels)
    a = RNG.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    image, alpha = (a[..., :3], a[..., 3]) if channels == 4 else (a, None)
    path = images.write_png(tmp_path / "x.png", image, alpha)
    got, got_alpha = images.read_image(path)
    assert got.dtype == dtype and np.array_equal(got, image)
    assert (got_alpha is None) == (alpha is None)
    if alpha is not None:
        assert got_alpha.dtype == dtype and np.array_equal(got_alpha, alpha)
    assert images.encode_png(image, alpha) == path.read_bytes()


def test_16_bit_values_are_kept_not_scaled_from_8_bits(tmp_path):
    gray = RNG.integers(0, 65536, (10, 14), dtype=np.uint16)
    rgb = RNG.integers(0, 65536, (10, 14, 3), dtype=np.uint16)
    for name, a in (("gray", gray), ("rgb", rgb)):
        got, _ = images.read_image(images.write_png(tmp_path / f"{name}.png", a))
        assert got.dtype == np.uint16 and np.array_equal(got, a) and np.any(got % 257)


def test_grayscale_with_alpha_and_1_bit_images(tmp_path):
    la = RNG.integers(0, 256, (9, 11, 2), dtype=np.uint8)
    Image.fromarray(la).save(tmp_path / "la.png")
    image, alpha = images.read_image(tmp_path / "la.png")
    assert np.array_equal(image, la[..., 0]) and np.array_equal(alpha, la[..., 1])
    Image.fromarray(RNG.integers(0, 2, (8, 8)).astype(bool)).save(tmp_path / "bw.png")
    image, alpha = images.read_image(tmp_path / "bw.png")
    assert image.shape == (8, 8) and image.dtype == np.uint8 and set(np.unique(image)) <= {0, 255}
    assert alpha is None


# ----------------------------------------------------------------- formats


def test_palette_with_transparency_reads_as_rgba(tmp_path):
    index = RNG.integers(0, 3, (6, 9), dtype=np.uint8)
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255]], np.uint8)
    im = Image.frombytes("P", (9, 6), index.tobytes())
    im.putpalette(colours.ravel().tolist())
    im.save(tmp_path / "p.png", transparency=0)
    image, alpha = images.read_image(tmp_path / "p.png")
    assert image.shape == (6, 9, 3) and np.array_equal(image, colours[index])
    assert np.array_equal(alpha, np.where(index == 0, 0, 255))
    im.save(tmp_path / "opaque.png")
    image, alpha = images.read_image(tmp_path / "opaque.png")
    assert alpha is None and np.array_equal(image, colours[index])


def test_tiff_8_and_16_bits(tmp_path):
    rgb = RNG.integers(0, 256, (7, 12, 3), dtype=np.uint8)
    gray16 = RNG.integers(0, 65536, (7, 12), dtype=np.uint16)
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    Image.fromarray(gray16).save(tmp_path / "gray16.tiff")
    for name, a in (("rgb.tif", rgb), ("gray16.tiff", gray16)):
        image, alpha = images.read_image(tmp_path / name)
        assert image.dtype == a.dtype and np.array_equal(image, a) and alpha is None


def test_bmp(tmp_path):
    rgb = RNG.integers(0, 256, (5, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.bmp")
    image, alpha = images.read_image(tmp_path / "x.bmp")
    assert image.dtype == np.uint8 and np.array_equal(image, rgb) and alpha is None


def test_jpeg_reads_as_rgb_or_gray(tmp_path):
    Image.fromarray(RNG.integers(0, 256, (16, 24, 3), dtype=np.uint8)).save(tmp_path / "c.jpg", quality=90)
    Image.fromarray(RNG.integers(0, 256, (16, 24), dtype=np.uint8)).save(tmp_path / "g.jpeg")
    assert images.read_image(tmp_path / "c.jpg")[0].shape == (16, 24, 3)
    assert images.read_image(tmp_path / "g.jpeg")[0].shape == (16, 24)


# ----------------------------------------------------------------- EXIF orientation


def test_exif_orientation_6_of_8_bit_jpeg_and_png(tmp_path):
    stored = RNG.integers(0, 256, (8, 20, 3), dtype=np.uint8)  # stored 20 wide; EXIF 6: shown 8 wide
    Image.fromarray(stored).save(tmp_path / "r.png", exif=_exif(6))
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=_exif(6), quality=95)
    image, _ = images.read_image(tmp_path / "r.png")
    assert np.array_equal(image, np.rot90(stored, -1))  # turned a quarter clockwise
    with Image.open(tmp_path / "r.jpg") as im:
        decoded = np.asarray(im.convert("RGB"))  # the pixels as stored, not turned
    image, _ = images.read_image(tmp_path / "r.jpg")
    assert image.shape == (20, 8, 3) and np.array_equal(image, np.rot90(decoded, -1))


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_16_bit_png_matches_the_8_bit_one(tmp_path, orientation, channels):
    stored = RNG.integers(0, 65536, (6, 10, channels), dtype=np.uint16)
    image, alpha = (stored[..., :3], stored[..., 3]) if channels == 4 else (stored, None)
    (tmp_path / "16.png").write_bytes(_with_exif_chunk(images.encode_png(image, alpha), orientation))
    eight = (stored >> 8).astype(np.uint8)
    Image.fromarray(eight).save(tmp_path / "8.png", exif=_exif(orientation))
    got16, alpha16 = images.read_image(tmp_path / "16.png")
    got8, alpha8 = images.read_image(tmp_path / "8.png")
    assert got16.dtype == np.uint16 and got16.shape == got8.shape
    assert np.array_equal((got16 >> 8).astype(np.uint8), got8)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "8.png")))  # Pillow's own turn
    assert np.array_equal(got8, expected[..., :3])
    if channels == 4:
        assert np.array_equal((alpha16 >> 8).astype(np.uint8), alpha8)


def test_exif_orientation_of_16_bit_grayscale_png(tmp_path):
    stored = RNG.integers(0, 65536, (6, 10), dtype=np.uint16)
    Image.fromarray(stored).save(tmp_path / "g16.png", exif=_exif(6))
    image, _ = images.read_image(tmp_path / "g16.png")
    assert image.dtype == np.uint16 and np.array_equal(image, np.rot90(stored, -1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_of_arrays_matches_pillow(orientation):
    a = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    image = Image.fromarray(a)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(images._orient(a, orientation), expected)


# ----------------------------------------------------------------- refusals


def test_too_large_an_image_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(20000, 20000))  # 400 MP in 70 bytes
    for read in (images.check_image, images.read_image):
        with pytest.raises(ImageError, match="larger than 120 megapixels") as exc:
            read(path)
        assert _one_line(exc) and str(path) in str(exc.value) and "crop or downscale" in str(exc.value)
    path.write_bytes(_png_header(10000, 10000))  # 100 MP: under the limit, and not refused for it
    with pytest.raises(ImageError, match="cannot read image"):
        images.read_image(path)


@pytest.mark.parametrize("mode, suffix", [("CMYK", "jpg"), ("F", "tif"), ("LAB", "tif")])
def test_unsupported_modes_are_refused_with_the_fix(tmp_path, mode, suffix):
    path = tmp_path / f"x.{suffix}"
    Image.new(mode, (8, 8)).save(path)
    with pytest.raises(ImageError, match=f"{mode} images are not supported") as exc:
        images.check_image(path)
    assert _one_line(exc) and "convert it to RGB" in str(exc.value)


def test_a_file_that_is_no_image_is_one_line(tmp_path):
    for data in (b"not a png", b"\x89PNG\r\n\x1a\n truncated"):
        path = tmp_path / "bad.png"
        path.write_bytes(data)
        with pytest.raises(ImageError, match="cannot read image") as exc:
            images.read_image(path)
        assert _one_line(exc) and str(path) in str(exc.value)
    good = tmp_path / "good.png"
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageError, match="cannot read image") as exc:
        images.read_image(tmp_path / "cut.png")
    assert _one_line(exc)


def test_image_error_is_a_value_error():
    assert issubclass(ImageError, ValueError)


# ----------------------------------------------------------------- finding


def test_find_images_lists_files_and_folders(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.PNG", "a.jpg", "c.tiff", "d.bmp"):
        (folder / name).write_bytes(b"x")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub.png").mkdir()  # a folder, whatever its name
    single = tmp_path / "z.jpeg"
    single.write_bytes(b"x")
    assert images.find_images([folder, str(single)]) == [folder / n for n in ("a.jpg", "b.PNG", "c.tiff",
                                                                              "d.bmp")] + [single]
    assert images.find_images(single) == [single]
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        images.find_images([tmp_path / "missing.png"])
    with pytest.raises(ImageError, match="not an image file"):
        images.find_images([folder / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="holds no PNG/JPEG"):
        images.find_images([tmp_path / "empty"])


# ----------------------------------------------------------------- writing


def test_write_png_never_overwrites_and_checks_its_arrays(tmp_path):
    target = tmp_path / "out" / "x.png"
    a = RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    assert images.write_png(target, a) == target  # the folder is created
    before = target.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        images.write_png(target, a[::-1])
    assert target.read_bytes() == before
    with pytest.raises(ValueError, match="suffix"):
        images.write_png(tmp_path / "x.jpg", a)
    assert not (tmp_path / "x.jpg").exists()
    for bad, message in ((a.astype(np.float32) / 255, "uint8 or uint16"), (a[..., :2], r"\(H, W\) or \(H, W, 3\)"),
                         (a[:0], "not empty"), ([[1, 2]], "numpy array")):
        with pytest.raises(ImageError, match=message):
            images.encode_png(bad)
    with pytest.raises(ImageError, match="alpha must be"):
        images.encode_png(a, np.zeros((5, 6), np.uint16))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "x.png"]  # no temporary file left


def test_images_module_imports_no_keras():
    code = "import sys, deblur.images; assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------- deblur.restore on a path


def test_restore_takes_a_path(tmp_path):
    import deblur
    from deblur import models

    model = models.deblurnet(seed=0, width=8, blocks=1, head=8)
    rgba = RNG.integers(0, 256, (12, 18, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    gray16 = RNG.integers(0, 65536, (10, 14), dtype=np.uint16)
    images.write_png(tmp_path / "gray16.png", gray16)
    for path in (tmp_path / "rgba.png", str(tmp_path / "rgba.png")):
        out = deblur.restore(model, path, progress=False)
        assert out.shape == (12, 18, 3) and out.dtype == np.uint8  # alpha is not restored nor returned
        assert np.array_equal(out, deblur.restore(model, rgba[..., :3], progress=False))
    out = deblur.restore(model, tmp_path / "gray16.png", progress=False)
    assert out.dtype == np.uint16 and np.array_equal(out, deblur.restore(model, gray16, progress=False))
    with pytest.raises(ImageError, match="cannot read image"):
        (tmp_path / "bad.png").write_bytes(b"nope")
        deblur.restore(model, tmp_path / "bad.png")
