"""The shipped models: their weights files and model cards, without Keras.

Each shipped model has ``deblur/weights/<name>.weights.h5`` and a model card ``<name>.json`` (how it was trained, on
what and which machine, what it scores). :func:`deblur.models.load_pretrained` loads them; this module finds them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["PRETRAINED_DIR", "MODEL_NAMES", "DEFAULT_MODEL", "PURPOSES", "PretrainedWeightsError",
           "pretrained_names", "model_card", "weights_file"]

#: Folder of the shipped weights and model cards, inside the installed package.
PRETRAINED_DIR = Path(__file__).resolve().parent / "weights"

#: The models of the study and ours, in the order tables list them (a test checks it equals ``models.MODELS``).
MODEL_NAMES = ("cae", "win5rb", "deblurnet")

#: The shipped model ``deblur restore`` (and the library, where a model is not named) uses.
DEFAULT_MODEL = "deblurnet_photo"

#: What each shipped model is for, in a line (``deblur restore --list-models``).
PURPOSES = {
    "deblurnet_photo": "photos as people have them: sharp, soft or blurred (sigma 0.3-6), noise 0-0.05; leaves a "
                       "sharp photo alone (docs/research.md, do no harm)",
    "deblurnet": "ours, for the study's corruption (blur sigma 1-4, noise 0.02): best there; over-sharpens sharp "
                 "photos",
    "win5rb": "the study's Win5-RB (Liu et al. 2017), the study's corruption only; slow on large images",
    "cae": "the study's convolutional autoencoder, the study's corruption only",
    "deblurnet_realistic": "DeblurNet trained 30 min on the realistic CIFAR family (camera shake, motion, defocus, "
                           "Gaussians up to 13x13, noise, JPEG): the real-blur study; 32x32-scale blur only",
    "win5rb_realistic": "Win5-RB trained 30 min on the realistic CIFAR family: the real-blur study",
    "cae_realistic": "the CAE trained 30 min on the realistic CIFAR family: the real-blur study",
}


class PretrainedWeightsError(RuntimeError):
    """Shipped weights are missing, unknown or do not match their model card."""


def pretrained_names(degradation=None):
    """Names (a sorted list of str) of the models that ship with trained weights and a card.

    ``degradation``: only those trained on this kind (``"study"``: the study's Gaussian and its wider ranges;
    ``"realistic"``: camera shake, defocus, Gaussians, noise and JPEG), as their cards' recipes say."""
    names = sorted(p.name[: -len(".json")] for p in PRETRAINED_DIR.glob("*.json"))
    if degradation is None:
        return names
    return [n for n in names if model_card(n)["recipe"]["degradation"].get("kind", "study") == degradation]


def model_card(name):
    """A shipped model's card, a dict (:func:`pretrained_names`): recipe, protocol, data, hardware, metrics."""
    path = PRETRAINED_DIR / f"{name}.json"
    if not path.is_file():
        raise PretrainedWeightsError(f"No shipped model {name!r}; available: {pretrained_names()}.")
    return json.loads(path.read_text(encoding="utf-8"))


def weights_file(name, *, verify=True):
    """The path of a shipped model's weights, checked (``verify``) against its card's sha256.

    Raises :class:`PretrainedWeightsError` for an unknown name, a missing file, or a checksum that does not match."""
    card = model_card(name)
    weights = PRETRAINED_DIR / card["weights_file"]
    if not weights.is_file():
        raise PretrainedWeightsError(f"Weights file {weights} is missing; reinstall the package (pip install -e .).")
    if verify:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != card["weights_sha256"]:
            raise PretrainedWeightsError(f"{weights} has sha256 {digest}, but its model card says "
                                         f"{card['weights_sha256']}: the file is corrupt or was replaced. Reinstall "
                                         "the package or restore the file from git.")
    return weights
