"""Degradations: how clean images become a model's inputs, each called as ``degradation(images, seed)``.

:class:`Study` is the study's 5x5 Gaussian (exactly :func:`deblur.corruption.corrupt`); :class:`Realistic` draws per
image a blur family, Poisson-Gaussian noise and JPEG. Kernels are float64, non-negative, sum to 1; :func:`convolve`
uses reflect-101 borders. No Keras import. Sources (docs/research.md, "Real blur"): Boracchi and Foi's (2012) camera
shake as DeblurGAN ports it, Real-ESRGAN's Gaussians (untruncated) and JPEG 30-95, ImageNet-C's shot noise (milder)."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field

import numpy as np

from . import corruption
from ._validation import as_float_images, check_int, check_seed

__all__ = ["FAMILIES", "family_kernel", "gaussian_kernel", "defocus_kernel", "line_kernel", "shake_kernels", "convolve",
           "jpeg", "add_noise", "Draws", "Study", "Realistic", "REALISTIC_CIFAR", "REALISTIC_PHOTO",
           "degradation_from_dict"]

#: The blur families of :class:`Realistic`, in the order their codes (``Draws.family``) number them.
FAMILIES = ("shake", "motion", "defocus", "gaussian", "none")

#: Samples along a camera-shake or motion path: steps of at most 0.15 pixel at the largest kernels here.
_PATH_STEPS = 256


def _check_positive(value, name, *, zero=True):
    if isinstance(value, (str, bytes, bool)) or not np.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be a finite number {'>= 0' if zero else '> 0'}; got {value!r}.")
    return float(value)


def _size(size, radius):
    """An odd kernel size: ``size`` checked, or the smallest that holds ``radius`` pixels each side."""
    return 2 * int(np.ceil(radius - 1e-9)) + 1 if size is None else check_int(size, "size", odd=True)


def _offsets(size):
    half = (size - 1) / 2
    return np.mgrid[:size, :size].astype(np.float64) - half  # rows (y), columns (x)


def _normalise(kernel):
    return kernel / kernel.sum(axis=(-2, -1), keepdims=True)


def gaussian_kernel(sigma, sigma_y=None, angle=0.0, *, size=None):
    """A 2-D Gaussian kernel (float64, sums to 1), not truncated: isotropic, or anisotropic and rotated (Real-ESRGAN's).

    ``sigma`` and ``sigma_y`` (default ``sigma``): standard deviations in pixels (> 0) along the first and second axes;
    ``angle``: the first axis's rotation from the x axis, degrees counter-clockwise (rows pointing down); ``size``: odd,
    default ``2 * ceil(3 * max(sigma, sigma_y)) + 1`` (3 sigma each side).

    Examples
    --------
    >>> gaussian_kernel(2.0).shape
    (13, 13)"""
    sx = _check_positive(sigma, "sigma", zero=False)
    sy = sx if sigma_y is None else _check_positive(sigma_y, "sigma_y", zero=False)
    angle = float(angle)
    if not np.isfinite(angle):
        raise ValueError(f"angle must be finite (degrees); got {angle!r}.")
    return _gaussians(np.array([sx]), np.array([sy]), np.array([angle]), _size(size, 3 * max(sx, sy)))[0]


def _gaussians(sx, sy, angles, size):
    """Kernels (n, size, size) of Gaussians with axes ``sx``, ``sy`` (n,) rotated by ``angles`` degrees (n,)."""
    rows, cols = _offsets(size)
    theta = np.deg2rad(angles)[:, None, None]
    u = cols * np.cos(theta) - rows * np.sin(theta)  # along the first axis (rows point down: -sin)
    v = cols * np.sin(theta) + rows * np.cos(theta)
    return _normalise(np.exp(-0.5 * ((u / sx[:, None, None]) ** 2 + (v / sy[:, None, None]) ** 2)))


def defocus_kernel(radius, *, size=None):
    """An out-of-focus blur (float64, sums to 1): a uniform disk of ``radius`` pixels (>= 0), its edge anti-aliased.

    A pixel's weight is its share of the disk, ``clip(radius + 0.5 - d, 0, 1)`` for ``d`` its distance to the centre;
    below radius 0.5 no blur. ``size``: odd, default the smallest that holds the disk, ``2 * ceil(radius + 0.5) + 1``.

    Examples
    --------
    >>> defocus_kernel(0.0).tolist()
    [[1.0]]"""
    r = _check_positive(radius, "radius")
    return _disks(np.array([r]), _size(size, r + 0.5 if r >= 0.5 else 0))[0]


def _disks(radii, size):
    """Kernels (n, size, size) of anti-aliased disks of ``radii`` (n,)."""
    rows, cols = _offsets(size)
    return _normalise(np.clip(radii[:, None, None] + 0.5 - np.hypot(rows, cols), 0.0, 1.0))


def _splat(paths, size):
    """Kernels (n, size, size) from complex paths (n, S) (x + iy from the centre), each sample spread bilinearly."""
    n, steps = paths.shape
    centre = (size - 1) / 2
    x, y = paths.real + centre, paths.imag + centre
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    kernels = np.zeros((n, size * size))
    image = np.repeat(np.arange(n), steps).reshape(n, steps)
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        row, col = y0 + dy, x0 + dx
        inside = (row >= 0) & (row < size) & (col >= 0) & (col < size)
        np.add.at(kernels, (image[inside], (row * size + col)[inside]), weight[inside])
    return _normalise(kernels.reshape(n, size, size))


def _fit(paths, extents, size):
    """Paths centred and scaled to bounding boxes of ``extents`` (n,), capped one pixel inside the kernel."""
    paths = paths - paths.mean(axis=1, keepdims=True)
    box = np.maximum(np.ptp(paths.real, axis=1), np.ptp(paths.imag, axis=1))
    reach = np.maximum(np.abs(paths.real).max(axis=1), np.abs(paths.imag).max(axis=1))
    scale = np.minimum(extents / np.maximum(box, 1e-12), ((size - 1) / 2 - 1) / np.maximum(reach, 1e-12))
    return paths * scale[:, None]


def line_kernel(length, angle=0.0, *, size=None):
    """Straight motion blur (float64, sums to 1): an anti-aliased segment of ``length`` pixels (>= 0), centred.

    ``angle``: counter-clockwise degrees from x (rows point down); ``size``: odd, default ``2 * ceil(length / 2) + 3``.

    Examples
    --------
    >>> line_kernel(5.0).shape
    (9, 9)"""
    length = _check_positive(length, "length")
    return _lines(np.array([length]), np.array([float(angle)]), _size(size, length / 2 + 1))[0]


def _lines(lengths, angles, size):
    """Kernels (n, size, size) of segments of ``lengths`` (n,) at ``angles`` degrees (n,)."""
    theta = np.deg2rad(angles)[:, None]
    t = np.linspace(-0.5, 0.5, _PATH_STEPS)[None] * lengths[:, None]
    paths = t * np.cos(theta) - 1j * t * np.sin(theta)  # rows point down: y = -t sin
    return _splat(_fit(paths, lengths, size), size)


def shake_kernels(extents, size, seed=None, *, anxiety=(0.001, 0.01), exposure=(0.25, 1.0)):
    """Camera-shake kernels (float64, (n, size, size), ``size`` odd): Boracchi and Foi's (2012) random walks, sub-pixel.

    ``extents`` (n,): each path's bounding box's longer side in pixels (>= 0, capped by ``size``). ``anxiety``: the
    uniform range of each path's erraticness, DeblurGAN's (Boracchi and Foi's 0.1 U makes loops few real kernels show);
    ``exposure``: of the share of the path the shutter is open for (Boracchi and Foi: 1/100 to 1).

    Examples
    --------
    >>> shake_kernels([9.0, 15.0], 17, seed=0).shape
    (2, 17, 17)"""
    extents = np.asarray(extents, np.float64).reshape(-1)
    if not np.all(np.isfinite(extents) & (extents >= 0)):
        raise ValueError(f"extents must be finite and >= 0; got {extents}.")
    size = check_int(size, "size", odd=True)
    rng = np.random.default_rng(check_seed(seed))
    paths = _random_walks(rng, len(extents), anxiety)
    return _splat(_fit(_exposed(paths, rng.uniform(*exposure, size=len(extents))), extents, size), size)


def _exposed(paths, shares):
    """The first ``shares`` (n,) of each path (n, S), resampled linearly to S positions: the shutter's open time."""
    t = np.linspace(0, 1, paths.shape[1])[None] * shares[:, None] * (paths.shape[1] - 1)
    first = np.minimum(np.floor(t).astype(np.int64), paths.shape[1] - 2)
    frac = t - first
    rows = np.arange(len(paths))[:, None]
    return paths[rows, first] * (1 - frac) + paths[rows, first + 1] * frac


def _random_walks(rng, n, anxiety, steps=2000, keep=_PATH_STEPS):
    """``n`` Boracchi-Foi trajectories as published (length 60, ``steps`` of constant speed), ``keep`` samples each."""
    expl = rng.uniform(*anxiety, size=n)
    centripetal, big, jitter = 0.7 * rng.random(n), 0.2 * rng.random(n), 10 * rng.random(n)
    step = 60 / (steps - 1)
    v = np.exp(2j * np.pi * rng.random(n)) * step
    u = rng.random((steps, 2, n))
    # A big shake's turn (2 v e^{i(pi + U - 0.5)}, as a factor of v) where it happens; then the Gaussian jitter.
    turn = np.where(u[:, 0] < big * expl, 2 * np.exp(1j * (np.pi + u[:, 1] - 0.5)), 0)
    kick = expl * jitter * step * (rng.standard_normal((steps, n)) + 1j * rng.standard_normal((steps, n)))
    pull = expl * centripetal * step
    x = np.zeros(n, np.complex128)
    path = np.empty((keep, n), np.complex128)
    every = steps // keep
    for t in range(steps):  # sequential in t, vectorised over the trajectories
        v = v * (1 + turn[t]) + kick[t] - pull * x
        v *= step / np.maximum(np.abs(v), 1e-12)
        x = x + v
        if t % every == 0 and t // every < keep:
            path[t // every] = x
    return path.T


def family_kernel(family, strength, *, angle=0.0, seed=0, size=None):
    """One kernel of a family of :data:`FAMILIES` at one strength: the sweep's and the explorer's blur.

    ``strength`` (pixels): shake extent, motion length, defocus radius or Gaussian sigma; ``angle`` in degrees, for
    motion (and a Gaussian's first axis); ``seed``: the shake path's; ``size``: odd (default: the smallest that fits).

    Examples
    --------
    >>> family_kernel("defocus", 2.0).shape
    (7, 7)"""
    strength = _check_positive(strength, "strength")
    if family == "shake":
        size = size or _size(None, strength + 1)
        return shake_kernels([strength], size, seed)[0]
    if family == "motion":
        return line_kernel(strength, angle, size=size)
    if family == "defocus":
        return defocus_kernel(strength, size=size)
    if family == "gaussian":
        return gaussian_kernel(strength, angle=angle, size=size) if strength > 0 else np.ones((1, 1))
    if family == "none":
        return np.ones((1, 1))
    raise ValueError(f"Unknown blur family {family!r}; choose one of {list(FAMILIES)}.")


def convolve(images, kernels):
    """Convolve each image with its kernel, reflect-101 borders (OpenCV's default): float32, shape as ``images``.

    True convolution (the kernel flipped), as ``scipy.ndimage.convolve(..., mode="mirror")``, by FFT in float64.
    ``images``: (N, H, W, C), uint8 or float; ``kernels``: (K, K) or (N, K, K), K odd, ``K // 2 < min(H, W)``.

    Examples
    --------
    >>> convolve(np.ones((2, 8, 8, 1)), np.ones((1, 1))).tolist() == np.ones((2, 8, 8, 1)).tolist()
    True"""
    from scipy.signal import fftconvolve  # scipy loads with the first convolution, not with the package
    x = as_float_images(images, name="images", check_range=False)
    k = np.asarray(kernels, np.float64)
    k = np.broadcast_to(k, (len(x), *k.shape)) if k.ndim == 2 else k
    if k.ndim != 3 or len(k) != len(x) or k.shape[1] != k.shape[2] or not k.shape[1] % 2:
        raise ValueError(f"kernels must be (K, K) or (N, K, K) with K odd and N = {len(x)}; got {np.shape(kernels)}.")
    half = k.shape[1] // 2
    if half and min(x.shape[1:3]) <= half:
        raise ValueError(f"Images of {x.shape[1]}x{x.shape[2]} are too small for a {k.shape[1]}x{k.shape[1]} kernel "
                         "with reflect-101 borders: use smaller kernels or larger images.")
    if not half:
        return (x * k[:, 0, 0, None, None, None]).astype(np.float32)
    padded = np.pad(x.astype(np.float64), ((0, 0), (half, half), (half, half), (0, 0)), mode="reflect")
    return fftconvolve(padded, k[..., None], mode="valid", axes=(1, 2)).astype(np.float32)


def jpeg(images, qualities):
    """JPEG-compress each image at its quality (Pillow, 4:2:0 chroma): float32 in [0, 1], as ``images`` (N, H, W, 1|3).

    CPU-only (``keras.ops`` has no JPEG codec, so training with JPEG corrupts batches on the CPU, ``"fresh"``). Images
    are clipped and rounded to 8 bits first, as a saved photo is. ``qualities`` (N,): 1-95, or 0 for no compression."""
    from PIL import Image  # Pillow loads with the first JPEG, not with the package
    x = as_float_images(images, name="images", check_range=False)
    qualities = np.asarray(qualities).reshape(-1)
    if len(qualities) != len(x) or np.any((qualities < 0) | (qualities > 95)):
        raise ValueError(f"Need one JPEG quality in 1-95 (0: none) per image; got {qualities} for {len(x)} images.")
    out = x.copy()
    for i in np.flatnonzero(qualities):
        pixels = np.rint(np.clip(x[i], 0, 1) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, "JPEG",
                                                                                 quality=int(qualities[i]))
        decoded = np.asarray(Image.open(buffer), np.float32) / 255
        out[i] = decoded.reshape(x.shape[1:])
    return out


def add_noise(images, noise_std, photons, seeds):
    """Poisson (shot) noise, then Gaussian noise, per image from ``default_rng(seeds[i])``: float32, not clipped.

    Image ``i`` becomes ``poisson(clip(x, 0, 1) * photons[i]) / photons[i] + noise_std[i] * N(0, 1)``; ``photons[i]``
    0 means no shot noise (more photons: less noise). ``images``: float32 (N, H, W, C); the other arguments (N,)."""
    out = np.array(images, np.float32)
    for i, (std, peak, seed) in enumerate(zip(noise_std, photons, seeds)):
        rng = np.random.default_rng(int(seed))
        if peak > 0:
            out[i] = rng.poisson(np.clip(out[i], 0, 1) * peak) / peak
        if std > 0:
            out[i] += np.float32(std) * rng.standard_normal(out[i].shape, dtype=np.float32)
    return out


@dataclass(frozen=True)
class Draws:
    """What a :class:`Realistic` degradation drew for each of its images (index or slice it like an array).

    ``family`` (N,): indices into :data:`FAMILIES`; ``params`` (N, 3), in pixels and degrees: shake (extent, 0, 0),
    motion (length, angle, 0), defocus (radius, 0, 0), gaussian (sigma, sigma_y, angle), none (0, 0, 0); ``kernels``
    float64 (N, K, K); ``noise_std``, ``photons`` (shot noise), ``jpeg_quality`` (0: none), ``seeds`` (noise) (N,)."""

    family: np.ndarray
    params: np.ndarray
    kernels: np.ndarray
    noise_std: np.ndarray
    photons: np.ndarray
    jpeg_quality: np.ndarray
    seeds: np.ndarray

    def __len__(self):
        return len(self.family)

    def __getitem__(self, index):
        return Draws(**{name: value[index] for name, value in vars(self).items()})

    @property
    def names(self):
        """Each image's family by name (ndarray of str)."""
        return np.asarray(FAMILIES)[self.family]


def _check_range(value, name, *, low=0.0, high=np.inf, integer=False):
    pair = tuple(float(v) for v in np.ravel(value))
    if len(pair) != 2 or not low <= pair[0] <= pair[1] <= high:
        raise ValueError(f"{name} must be a range (low, high) with {low:g} <= low <= high <= {high:g}; got {value!r}.")
    return tuple(int(v) for v in pair) if integer else pair


@dataclass(frozen=True)
class Study:
    """The study's degradation: a ``kernel_size`` Gaussian, sigma uniform in ``sigma_range``, then noise.

    Calling it is :func:`deblur.corruption.corrupt` (bit-identical): ``(corrupted, sigmas)``; the defaults are the
    study's. The other fields widen it, as for the wide-range and do-no-harm models: ``noise_std`` may be a range drawn
    per image (not on the device), ``sharp_fraction`` of images are left unblurred (sigma 0), and ``zoom_fraction`` of
    clean images are first magnified by a factor in ``zoom_range`` (:func:`deblur.corruption.magnify`; "fresh" only).

    Examples
    --------
    >>> Study()(np.zeros((2, 8, 8, 3), np.uint8), seed=0)[0].shape
    (2, 8, 8, 3)"""

    kernel_size: int = 5
    sigma_range: tuple = (1.0, 4.0)
    noise_std: float | tuple = 0.02
    sharp_fraction: float = 0.0
    zoom_fraction: float = 0.0
    zoom_range: tuple = (1.0, 2.0)

    def __post_init__(self):
        settings = corruption.check_settings(**self._fields())
        for name, value in settings.items():
            object.__setattr__(self, name, value)

    def __call__(self, images, seed=None):
        if self.zoom_fraction > 0:
            raise ValueError("A Study with zoom_fraction > 0 changes the targets too: it applies to training batches "
                             "(corruption='fresh'), not to a fixed set of images.")
        return corruption.corrupt(images, seed, kernel_size=self.kernel_size, sigma_range=self.sigma_range,
                                  noise_std=self.noise_std, sharp_fraction=self.sharp_fraction)

    def _fields(self):
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def as_dict(self):
        """JSON-ready, with ``"kind": "study"`` (:func:`degradation_from_dict` reads it back)."""
        return {"kind": "study", **{k: list(v) if isinstance(v, tuple) else v for k, v in self._fields().items()}}


@dataclass(frozen=True)
class Realistic:
    """Real photos' blur: per image one family of :data:`FAMILIES`, then shot and read noise, then JPEG.

    Per image, in this order from one generator (so a seed gives the same bits): the family (``families``:
    probabilities summing to 1), its parameters (uniform in the ranges, in pixels; angles too), the shake paths, the
    Gaussian (read) noise level (``noise_std``), shot noise (a ``poisson`` share; ``photons`` at full scale,
    log-uniform), JPEG (a ``jpeg`` share; ``jpeg_quality``, inclusive) and a noise seed. All kernels share one odd
    ``kernel_size`` canvas (images must exceed half of it; a Gaussian must fit at 3 sigma); ``anisotropic``: the share
    of Gaussians with their own second sigma and a rotation (Real-ESRGAN's ``aniso``). The defaults suit CIFAR's 32x32
    (:data:`REALISTIC_CIFAR`): shake and motion up to 10 pixels, a third of the image, as a tenth (Levin's 27 of 255)
    would be 3 pixels, hardly a blur; :data:`REALISTIC_PHOTO` scales them up.

    Examples
    --------
    >>> REALISTIC_CIFAR(np.full((4, 32, 32, 3), 0.5, np.float32), seed=0)[1].kernels.shape
    (4, 13, 13)"""

    kernel_size: int = 13
    families: dict = field(default_factory=lambda: {"shake": 0.3, "motion": 0.15, "defocus": 0.2, "gaussian": 0.25,
                                                    "none": 0.1})
    shake_extent: tuple = (2.0, 10.0)
    motion_length: tuple = (2.0, 10.0)
    defocus_radius: tuple = (0.75, 3.0)
    gaussian_sigma: tuple = (0.4, 2.0)
    anisotropic: float = 0.5
    noise_std: tuple = (0.0, 0.03)
    poisson: float = 0.5
    photons: tuple = (200.0, 2000.0)
    jpeg: float = 0.3
    jpeg_quality: tuple = (30, 95)

    def __post_init__(self):
        check_int(self.kernel_size, "kernel_size", odd=True)
        half = self.kernel_size // 2
        families = {str(k): float(v) for k, v in dict(self.families).items()}
        if set(families) - set(FAMILIES) or any(v < 0 for v in families.values()) or \
                not np.isclose(sum(families.values()), 1.0):
            raise ValueError(f"families must map names of {list(FAMILIES)} to probabilities summing to 1; "
                             f"got {self.families!r}.")
        object.__setattr__(self, "families", {name: families.get(name, 0.0) for name in FAMILIES})
        fit = half - 1  # a path's bilinear spread needs a pixel of margin
        for name, high in (("shake_extent", 2 * fit), ("motion_length", 2 * fit), ("defocus_radius", half - 0.5),
                           ("gaussian_sigma", half / 3), ("noise_std", 1.0), ("photons", np.inf)):
            object.__setattr__(self, name, _check_range(getattr(self, name), f"{name} (on a {self.kernel_size}x"
                                                        f"{self.kernel_size} canvas)", high=high))
        object.__setattr__(self, "jpeg_quality", _check_range(self.jpeg_quality, "jpeg_quality", low=1, high=95,
                                                              integer=True))
        if self.photons[0] <= 0:
            raise ValueError(f"photons must be > 0; got {self.photons!r}.")
        for name in ("anisotropic", "poisson", "jpeg"):
            object.__setattr__(self, name, corruption.check_fraction(getattr(self, name), name=name))

    def draw(self, rng, n):
        """:class:`Draws` for ``n`` images from ``rng`` (a ``numpy.random.Generator``), in the documented order."""
        family = rng.choice(len(FAMILIES), size=n, p=list(self.families.values()))
        u = rng.random((n, 4))
        params = np.zeros((n, 3))
        kernels = np.zeros((n, self.kernel_size, self.kernel_size))
        size = self.kernel_size
        for code, name in enumerate(FAMILIES):
            rows = np.flatnonzero(family == code)
            if not len(rows):
                continue
            a, b, c, d = u[rows].T
            if name == "shake":
                params[rows, 0] = _lerp(self.shake_extent, a)
                kernels[rows] = shake_kernels(params[rows, 0], size, rng)
            elif name == "motion":
                params[rows, :2] = np.stack([_lerp(self.motion_length, a), 180 * b], 1)
                kernels[rows] = _lines(params[rows, 0], params[rows, 1], size)
            elif name == "defocus":
                params[rows, 0] = _lerp(self.defocus_radius, a)
                kernels[rows] = _disks(params[rows, 0], size)
            elif name == "gaussian":
                sx = _lerp(self.gaussian_sigma, a)
                sy = np.where(d < self.anisotropic, _lerp(self.gaussian_sigma, b), sx)
                params[rows] = np.stack([sx, sy, np.where(d < self.anisotropic, 180 * c, 0.0)], 1)
                kernels[rows] = _gaussians(*params[rows].T, size)
            else:
                kernels[rows, size // 2, size // 2] = 1.0
        noise_std = rng.uniform(*self.noise_std, size=n)
        photons = np.where(rng.random(n) < self.poisson,
                           np.exp(rng.uniform(*np.log(self.photons), size=n)), 0.0)
        quality = np.where(rng.random(n) < self.jpeg,
                           rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1, size=n), 0)
        return Draws(family=family, params=params, kernels=kernels, noise_std=noise_std, photons=photons,
                     jpeg_quality=quality, seeds=rng.integers(0, 2**63, size=n))

    def apply(self, images, draws):
        """``images`` (N, H, W, C) degraded as ``draws`` say: blur, noise, JPEG; float32, not clipped but by JPEG."""
        if len(draws) != len(images):
            raise ValueError(f"Need one draw per image: {len(draws)} draws for {len(images)} images.")
        out = add_noise(convolve(images, draws.kernels), draws.noise_std, draws.photons, draws.seeds)
        return jpeg(out, draws.jpeg_quality) if np.any(draws.jpeg_quality) else out

    def __call__(self, images, seed=None):
        """Degrade ``images`` ((N, H, W, C) or (H, W, C), uint8 or float in [0, 1]): ``(corrupted, draws)``."""
        single = np.ndim(images) == 3
        x = as_float_images(images[None] if single else images, name="images")
        draws = self.draw(np.random.default_rng(check_seed(seed)), len(x))
        out = self.apply(x, draws)
        return (out[0], draws) if single else (out, draws)

    def as_dict(self):
        """JSON-ready, with ``"kind": "realistic"`` (:func:`degradation_from_dict` reads it back)."""
        return {"kind": "realistic", **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}


def _lerp(bounds, u):
    return bounds[0] + (bounds[1] - bounds[0]) * u


def degradation_from_dict(d):
    """The :class:`Study` or :class:`Realistic` that ``as_dict`` wrote; an unknown kind or field names itself."""
    d = dict(d)
    kinds = {"study": Study, "realistic": Realistic}
    kind = d.pop("kind", None)
    if kind not in kinds:
        raise ValueError(f"Unknown degradation kind {kind!r}; choose one of {sorted(kinds)}.")
    valid = set(kinds[kind].__dataclass_fields__)
    if set(d) - valid:
        raise ValueError(f"Unknown {kind} degradation field(s) {sorted(set(d) - valid)}; valid: {sorted(valid)}.")
    return kinds[kind](**d)


#: :class:`Realistic` for CIFAR-10's 32x32 images (its defaults).
REALISTIC_CIFAR = Realistic()
#: :class:`Realistic` for photographs (crops of 96 pixels and more): Levin's kernels are 13-27 pixels on 255x255.
REALISTIC_PHOTO = Realistic(kernel_size=33, shake_extent=(5.0, 29.0), motion_length=(5.0, 25.0),
                            defocus_radius=(1.0, 6.0), gaussian_sigma=(0.5, 4.0))
