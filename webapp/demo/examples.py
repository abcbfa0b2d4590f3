"""Example inputs for the demo pages, made on first use from files that packages bundle."""

import os
import tempfile
from functools import cache
from pathlib import Path


@cache
def example_photo() -> Path:
    """scikit-image's astronaut photograph (Eileen Collins, NASA, public domain) as a PNG."""
    from PIL import Image
    from skimage import data

    folder = Path(tempfile.gettempdir()) / "synclab-examples"
    folder.mkdir(exist_ok=True)
    path = folder / "astronaut.png"
    if not path.is_file():
        partial = folder / f"astronaut.{os.getpid()}.tmp.png"  # concurrent first uses
        Image.fromarray(data.astronaut()).save(partial)
        partial.replace(path)
    return path
