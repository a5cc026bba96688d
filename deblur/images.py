"""Read and write image files: PNG, JPEG, TIFF and BMP, 8 or 16 bits, the pixels as they are.

Pillow reads all but 16-bit colour PNGs (it truncates them to 8 bits): those go through OpenCV (``pip install
deblur[images]``), imported only then. Every refusal is an :class:`ImageError` naming the file and the fix:
``image, alpha = images.read_image("photo.jpg")``, ``images.write_png("copy.png", image, alpha)``."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "ImageError", "find_images", "check_image", "read_image",
           "read_metadata", "png_metadata", "MAX_ICC_BYTES", "encode_png", "write_png", "centre_crop"]

#: The file suffixes read as images (lower case; matched case-insensitively).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: The largest image read, in pixels: 120 MP, above any camera photo; a guard against decompression bombs (a few kB
#: of PNG that decode to gigabytes), as Pillow's ``DecompressionBombError``.
MAX_PIXELS = 120_000_000

# Pillow modes read as they are: mode -> (mode to convert to, dtype); None: a palette, read as RGB(A).
_MODES = {"1": ("L", np.uint8), "L": ("L", np.uint8), "LA": ("LA", np.uint8), "RGB": ("RGB", np.uint8),
          "RGBA": ("RGBA", np.uint8), "I;16": ("I;16", np.uint16), "I;16L": ("I;16", np.uint16),
          "I;16B": ("I;16", np.uint16), "I": ("I", np.uint16), "P": (None, np.uint8), "PA": ("RGBA", np.uint8)}
_SUPPORTED = "grayscale, RGB or RGBA (8 or 16 bits), or a palette image"

_ORIENTATION_TAG = 0x0112

# EXIF orientation -> (quarter turns counter-clockwise, mirror left-right first), as PIL.ImageOps.exif_transpose.
_ORIENTATIONS = {2: (0, True), 3: (2, False), 4: (2, True), 5: (1, True), 6: (3, False), 7: (3, True), 8: (1, False)}


class ImageError(ValueError):
    """An image file that cannot be read or an array that cannot be written; the message names the fix."""


def find_images(paths):
    """The image files among ``paths`` (a list of ``pathlib.Path``): files as given, folders' images sorted by name.

    ``paths``: one path or an iterable of image files and folders; folders are not searched recursively, and their
    hidden files are skipped. Raises ``FileNotFoundError`` for a path that does not exist, and :class:`ImageError` for a
    file without an image suffix (:data:`IMAGE_SUFFIXES`) or a folder with no images."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # Hidden names are skipped: a killed command's temporary (.photo.x1y2.tmp.png) is no input.
            found = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith("."))
            if not found:
                raise ImageError(f"{path}: folder holds no PNG/JPEG/TIFF/BMP images; add some or give the "
                                 "image files themselves")
            files += found
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise ImageError(f"{path}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)}); "
                                 "convert it or rename it with its format's suffix")
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder; check the path")
    return files


#: The largest ICC profile written into a PNG, as Pillow reads back no more (``PngImagePlugin.MAX_TEXT_CHUNK``).
MAX_ICC_BYTES = 1 << 20


def _png_header(path):
    """A PNG's IHDR (bit depth, colour type), or None for another file."""
    with open(path, "rb") as f:
        head = f.read(26)
    return (head[24], head[25]) if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26 else None


def _sixteen_bit_colour(im, path):
    """Whether an RGB(A) file has 16 bits a channel (48/64-bit PNG or TIFF, 16-bit grey+alpha): Pillow truncates it."""
    if im.format == "TIFF":
        return set(np.ravel(im.tag_v2.get(258, (8,)))) == {16}  # BitsPerSample
    header = _png_header(path)
    return header is not None and header[0] == 16


def _open_image(path):
    """Open ``path`` with Pillow (header only) under the pixel limit; ImageError if unreadable or too large."""
    from PIL import Image, UnidentifiedImageError
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: image is larger than {MAX_PIXELS / 1e6:.0f} megapixels, the most deblur "
                         "reads; crop or downscale it first") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        if "Decompressed" in str(exc):  # Pillow's guard against a bomb in a PNG's iCCP, zTXt or iTXt chunk
            raise ImageError(f"{path}: an embedded chunk (a colour profile or text) decompresses to more than "
                             f"{MAX_ICC_BYTES >> 20} MiB, the most deblur reads; save the image without it (e.g. "
                             "without its colour profile) first") from None
        raise ImageError(f"{path}: cannot read image ({exc}); check that it is a whole PNG, JPEG, TIFF or "
                         "BMP file") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if im.mode not in _MODES:
        im.close()
        raise ImageError(f"{path}: {im.mode} images are not supported; deblur reads {_SUPPORTED} "
                         "(convert it to RGB first)")
    if getattr(im, "n_frames", 1) > 1:  # restoring the first frame alone would drop the others unsaid
        frames = im.n_frames
        im.close()
        raise ImageError(f"{path}: holds {frames} frames (an animated or multi-page image), and deblur restores one "
                         "image a file; save the frames as separate files first")
    return im


def read_metadata(path):
    """The colour metadata :func:`write_png` keeps: ``{"icc_profile": bytes, "gamma": float}``, each if present.

    Pillow reads embedded ICC profiles from PNG, JPEG and TIFF files and a PNG's gAMA chunk."""
    with _open_image(path) as im:
        return {key: im.info[key] for key in ("icc_profile", "gamma") if im.info.get(key)}


def check_image(path):
    """Check from its header alone that ``path`` is an image :func:`read_image` reads (else :class:`ImageError`)."""
    with _open_image(path):
        pass


def read_image(path):
    """Read an image file as it is stored: bit depth, channels and alpha kept, EXIF orientation applied.

    ``path``: a PNG, JPEG, TIFF or BMP file: grayscale, RGB or RGBA, 8 or 16 bits, or a palette image. Returns
    ``(image, alpha)``: ``image`` uint8, or uint16 for 16-bit files, (H, W) or (H, W, 3) (palette images are RGB);
    ``alpha`` (H, W) of the same dtype, or None when the file (or palette) has none. Raises :class:`ImageError` for a
    file that is unreadable, unsupported (CMYK, float, ...), or larger than :data:`MAX_PIXELS`."""
    from PIL import ImageOps
    try:
        with _open_image(path) as im:
            if im.mode in ("RGB", "RGBA") and _sixteen_bit_colour(im, path):
                image, alpha = _split_alpha(_read_png16_colour(path, alpha=im.mode == "RGBA",
                                                               exif=im.getexif() if im.mode == "RGBA" else None))
                gray_alpha = _png_header(path) == (16, 4)  # read as equal R, G and B: kept gray
                return (image[..., 0], alpha) if gray_alpha else (image, alpha)
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode in ("L", "RGB") and "transparency" in im.info:  # a PNG's tRNS chunk: a colour marked clear
                im = im.convert(im.mode[0] + "A" if im.mode == "L" else "RGBA")
            target, dtype = _MODES[im.mode]
            if target is None:  # palette
                target = "RGBA" if "transparency" in im.info else "RGB"
            a = np.asarray(im.convert(target) if target not in (im.mode, "I;16") else im)
    except ImageError:
        raise
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: cannot read image ({exc}); check that it is a whole, uncorrupted "
                         "file") from None
    if im.mode == "I":  # 32-bit integers: 16-bit data only
        if a.min() < 0 or a.max() > 65535:
            raise ImageError(f"{path}: 32-bit integer images are not supported; deblur reads {_SUPPORTED} "
                             "(convert it to 16 bits first)")
        a = a.astype(np.uint16)
    return _split_alpha(a.astype(dtype, copy=False))


def _import_cv2(path):
    try:
        import cv2
    except ImportError:
        raise ImageError(f"{path}: 16-bit colour images need OpenCV; install it with "
                         "pip install 'deblur[images]' (opencv-python-headless)") from None
    return cv2


def _read_png16_colour(path, *, alpha, exif=None):
    """A 16-bit RGB (H, W, 3) or RGBA (H, W, 4) PNG or TIFF through OpenCV, EXIF orientation applied."""
    cv2 = _import_cv2(path)
    # OpenCV applies a PNG's EXIF orientation itself; IMREAD_UNCHANGED keeps the alpha but not that: turned below.
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED if alpha else cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if a is None or a.dtype != np.uint16 or a.ndim != 3:
        raise ImageError(f"{path}: cannot read 16-bit colour image; check that it is a whole, uncorrupted file")
    a = a[..., [2, 1, 0, 3][: a.shape[-1]]]  # BGR(A) -> RGB(A)
    return _orient(a, exif.get(_ORIENTATION_TAG, 1)) if alpha and exif is not None else a


def _orient(a, orientation):
    """Apply an EXIF orientation (1-8) to an array, as PIL.ImageOps.exif_transpose does to an image."""
    turns, mirror = _ORIENTATIONS.get(orientation, (0, False))
    if mirror:
        a = np.fliplr(a)
    return np.ascontiguousarray(np.rot90(a, turns)) if turns or mirror else a


def _split_alpha(a):
    """(image, alpha): the last channel of an LA/RGBA array split off; alpha None otherwise."""
    if a.ndim == 3 and a.shape[-1] in (2, 4):
        return (a[..., 0] if a.shape[-1] == 2 else a[..., :3]), a[..., -1]
    return a, None


def centre_crop(image, size):
    """The central ``size`` x ``size`` pixels of an image (H, W, ...); a side shorter than ``size`` is kept whole."""
    top, left = max(0, (image.shape[0] - size) // 2), max(0, (image.shape[1] - size) // 2)
    return image[top:top + size, left:left + size]


def _check_array(image, alpha):
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be a numpy array; got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"image must be uint8 or uint16; got {image.dtype}. Convert float images in [0, 1] "
                         "with np.rint(x * 255).astype(np.uint8)")
    if not (image.ndim == 2 or image.ndim == 3 and image.shape[-1] == 3) or 0 in image.shape:
        raise ImageError(f"image must be (H, W) or (H, W, 3) and not empty; got shape {image.shape}")
    if alpha is None:
        return
    if not isinstance(alpha, np.ndarray) or alpha.shape != image.shape[:2] or alpha.dtype != image.dtype:
        raise ImageError(f"alpha must be an array of shape {image.shape[:2]} and dtype {image.dtype}, like the "
                         f"image; got {getattr(alpha, 'shape', type(alpha).__name__)} "
                         f"{getattr(alpha, 'dtype', '')}".rstrip())


def encode_png(image, alpha=None, metadata=None):
    """The PNG bytes of an image, bit depth and alpha kept.

    ``image``: uint8 or uint16, (H, W) or (H, W, 3); ``alpha``: (H, W), same dtype; ``metadata``:
    :func:`read_metadata`'s, written as iCCP and gAMA chunks. Raises :class:`ImageError` for anything else."""
    from PIL import Image
    _check_array(image, alpha)
    a = image if alpha is None else np.dstack([image, alpha])
    if a.dtype == np.uint16 and a.ndim == 3 and a.shape[-1] == 2:
        return _with_metadata(_encode_png16_gray_alpha(a), metadata or {})
    if a.dtype == np.uint16 and a.ndim == 3:  # Pillow writes no 16-bit colour PNG
        cv2 = _import_cv2("image")
        ok, data = cv2.imencode(".png", np.ascontiguousarray(a[..., [2, 1, 0, 3][: a.shape[-1]]]))
        if not ok:
            raise ImageError("cannot encode a 16-bit colour PNG with OpenCV; write it as 8 bits instead")
        return _with_metadata(data.tobytes(), metadata or {})
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buffer, format="PNG")
    return _with_metadata(buffer.getvalue(), metadata or {})


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _encode_png16_gray_alpha(a):
    """A 16-bit grey+alpha PNG of ``a`` (H, W, 2): neither Pillow nor OpenCV writes one (OpenCV would make it RGBA)."""
    h, w, _ = a.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), a.astype(">u2").reshape(h, -1).view(np.uint8)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _png_chunk(b"IEND", b""))


def png_metadata(metadata):
    """``(kept, dropped)``: the colour metadata a PNG can carry so that it reads back, and a note on what was dropped.

    An ICC profile over :data:`MAX_ICC_BYTES` is dropped; ``dropped`` is None when nothing was."""
    icc = (metadata or {}).get("icc_profile") or b""
    if len(icc) <= MAX_ICC_BYTES:
        return dict(metadata or {}), None
    kept = {k: v for k, v in metadata.items() if k != "icc_profile"}
    return kept, (f"its {len(icc):,}-byte colour profile was dropped (over the {MAX_ICC_BYTES >> 20} MiB a PNG "
                  "reader takes): colours are the profile-less rendering")


def _with_metadata(png, metadata):
    """``png`` with iCCP and gAMA chunks after its header (neither encoder writes them unasked)."""
    metadata, _ = png_metadata(metadata)  # an ICC profile no reader takes back is not written
    extra = b""
    if metadata.get("icc_profile"):
        extra += _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(metadata["icc_profile"]))
    if metadata.get("gamma"):
        extra += _png_chunk(b"gAMA", struct.pack(">I", round(metadata["gamma"] * 100_000)))
    return png[:33] + extra + png[33:]  # the signature (8 bytes) and IHDR (25) come first


def write_png(path, image, alpha=None, metadata=None):
    """Write an image as a new PNG file, atomically, never over an existing file; returns the ``pathlib.Path``.

    ``path``: a new ``.png`` file (its folder is created); ``image``, ``alpha``, ``metadata`` as in :func:`encode_png`.
    Raises ``FileExistsError`` if ``path`` exists or a racing writer published it first (nothing is overwritten),
    :class:`ImageError` as :func:`encode_png`, and ``ValueError`` or ``IsADirectoryError`` for a folder or a non-PNG."""
    from .files import atomic_write_bytes, check_file_target
    path = check_file_target(path, suffixes={".png"}, example="image.png")
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} already exists (images are never overwritten); remove it or choose "
                              "another path. Nothing was written.")
    return atomic_write_bytes(path, encode_png(image, alpha, metadata), exclusive=True)
