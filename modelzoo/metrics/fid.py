"""Fréchet Inception Distance between real and generated face crops, through torch-fidelity.

Protocol: torch-fidelity's `calculate_metrics(fid=True)` (the TF-Inception-v3 port that matches
the original TTUR FID figures) over two folders of PNG face crops (the Wav2Lip face boxes of the
real clips' tracks, 128x128, every frame). Nothing is fetched from the network: FID runs only
when torch-fidelity is importable and its Inception weights file is already in torch's hub cache
(`$TORCH_HOME/hub/checkpoints/`); otherwise `FIDUnavailable` says which of the two is missing.
FID over a few hundred frames is biased upwards; compare figures over the same number of frames.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
PROTOCOL = {
    "library": "torch-fidelity",
    "features": "Inception-v3 pool3 (2048), " + INCEPTION_WEIGHTS,
    "images": "128x128 face crops, every frame",
}


class FIDUnavailable(RuntimeError):
    """FID cannot run here; the message names what to install or which file to provide."""


def inception_weights_path() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS


def check_available() -> Path:
    """The Inception weights file, or FIDUnavailable naming what is missing."""
    weights = inception_weights_path()
    if importlib.util.find_spec("torch_fidelity") is None:
        raise FIDUnavailable(
            "FID needs the torch-fidelity package (pip install torch-fidelity) and its Inception "
            f"weights at {weights}"
        )
    if not weights.is_file():
        raise FIDUnavailable(
            f"FID needs torch-fidelity's Inception weights at {weights}; copy "
            f"{INCEPTION_WEIGHTS} there (nothing is downloaded)"
        )
    return weights


def fid(real_dir: Path, generated_dir: Path) -> float:
    """FID between the PNG images of two folders; FIDUnavailable when it cannot run here."""
    weights = check_available()
    import torch_fidelity

    metrics = torch_fidelity.calculate_metrics(
        input1=str(generated_dir),
        input2=str(real_dir),
        fid=True,
        feature_extractor_weights_path=str(weights),
        cuda=False,
        verbose=False,
    )
    return float(metrics["frechet_inception_distance"])
