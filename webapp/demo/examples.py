"""Example inputs for the demo pages, made on first use from files that packages bundle."""

import os
import shutil
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


@cache
def example_speech_clip() -> tuple[Path, str]:
    """A held-out clip of the demo models' SynthGrid corpus (its first test clip: a GRID sentence
    said by espeak-ng, a rendered face) and the sentence, made with the corpus recipe."""
    from modelzoo.synthgrid import grammar
    from modelzoo.synthgrid.build import VERSION, make_clip, plan

    clip = plan(seed=0, utterances=2)[1]  # the same clip as in the 1000-clip corpus
    folder = Path(tempfile.gettempdir()) / "synclab-examples" / VERSION
    path = folder / f"{clip.name}.mp4"
    if not path.is_file():
        partial = folder / f"partial-{os.getpid()}"  # concurrent first uses
        make_clip(partial, 0, clip)
        (folder / clip.name).parent.mkdir(parents=True, exist_ok=True)
        (partial / f"{clip.name}.mp4").replace(path)
        shutil.rmtree(partial)
    return path, grammar.transcript(clip.words)
