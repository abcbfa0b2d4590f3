"""Write a SynthGrid corpus: GRID sentences said by espeak-ng voices, lip-synced astronaut faces.

Layout under OUT (clip names are `<speaker>/<GRID id>-<index>`, e.g. `s03/bbaf2n-0042`):

    corpus.json                 how it was made: seed, counts, seconds, splits (written last)
    filelists/{train,val,test}.txt   clip names, one a line (Wav2Lip and LRS list style)
    s03/bbaf2n-0042.mp4         256x256 25 fps H.264 video with the 16 kHz speech as AAC
    s03/bbaf2n-0042.txt         LRS-style transcript: "Text:  BIN BLUE AT F TWO NOW"
    s03/bbaf2n-0042.json        phones (espeak-ng mnemonics, seconds in the clip), voice, face
    s03/bbaf2n-0042/            Wav2Lip-layout folder read by modelzoo.alm.data.folder_clips:
        0.jpg 1.jpg ...         128x128 RGB face crops (Wav2Lip boxes, modelzoo.media.crops)
        audio.wav               the speech, 16 kHz mono PCM
        mouth.npy               (T, 96, 96) uint8 grey AV-RelScore mouth ROIs

A speaker is one face variant with one voice; each take jitters the voice's rate and pitch. Crops
are cut from the rendered frames with the landmarks the renderer carries along (no tracking).
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from modelzoo.errors import UserError
from modelzoo.media.crops import face_boxes, face_crop, mouth_crops
from modelzoo.media.io import VideoWriter, write_wav
from modelzoo.media.mel import SAMPLE_RATE, SAMPLES_PER_FRAME
from modelzoo.synthgrid import grammar
from modelzoo.synthgrid.render import FRAME_SIZE, FaceRig, FaceVariant, render_clip, viseme_track
from modelzoo.synthgrid.speech import Voice, synthesize

VERSION = "synthgrid-v1"  # bump when the recipe changes: cached corpora are rebuilt
FACE_CROP_SIZE = 128
SPLITS = ("train", "val", "test")
HELD_OUT_EVERY = 20  # clip i goes to test when i % 20 == 1, to val when i % 20 == 2


@dataclass(frozen=True)
class Corpus:
    out: Path
    clips: int
    seconds: float
    splits: dict[str, int]


@dataclass(frozen=True)
class Speaker:
    name: str
    voice: Voice
    face: FaceVariant


@dataclass(frozen=True)
class ClipPlan:
    index: int
    name: str
    speaker: Speaker
    words: tuple[str, ...]
    split: str


def split_of(index: int) -> str:
    return {1: "test", 2: "val"}.get(index % HELD_OUT_EVERY, "train")


def speakers(seed: int, count: int) -> list[Speaker]:
    rng = np.random.default_rng((seed, 1))
    return [
        Speaker(f"s{k + 1:02d}", Voice.random(rng), FaceVariant.random(rng) if k else FaceVariant())
        for k in range(count)
    ]


def plan(seed: int, utterances: int, faces: int) -> list[ClipPlan]:
    """Every clip's speaker, sentence and split; a speaker never says a sentence twice."""
    rng = np.random.default_rng((seed, 2))
    cast = speakers(seed, faces)
    said: set[tuple] = set()
    plans = []
    for index in range(utterances):
        speaker = cast[index % faces]
        words = grammar.random_sentence(rng)
        while (speaker.name, words) in said:
            words = grammar.random_sentence(rng)
        said.add((speaker.name, words))
        name = f"{speaker.name}/{grammar.utterance_id(words)}-{index:04d}"
        plans.append(ClipPlan(index, name, speaker, words, split_of(index)))
    return plans


@lru_cache(maxsize=64)
def _rig(face: FaceVariant) -> FaceRig:
    return FaceRig(face)


def make_clip(out: Path, seed: int, clip: ClipPlan) -> float:
    """Write one clip's files; its duration in seconds."""
    rng = np.random.default_rng((seed, 3, clip.index))
    voice = clip.speaker.voice.jittered(rng)
    speech = synthesize(grammar.spoken_text(clip.words), voice)
    lead, tail = (int(rng.uniform(0.15, 0.5) * SAMPLE_RATE) for _ in range(2))
    n_frames = math.ceil((lead + len(speech.audio) + tail) / SAMPLES_PER_FRAME)
    audio = np.zeros(n_frames * SAMPLES_PER_FRAME, np.float32)
    audio[lead : lead + len(speech.audio)] = speech.audio
    audio *= rng.uniform(0.35, 0.9) / max(float(np.abs(audio).max()), 1e-6)
    audio += rng.normal(0.0, 1e-3, len(audio)).astype(np.float32)  # a recording's noise floor
    visemes = viseme_track(speech.phones, n_frames, offset=lead / SAMPLE_RATE)
    frames, landmarks = render_clip(_rig(clip.speaker.face), visemes, rng)

    folder = out / clip.name
    folder.mkdir(parents=True, exist_ok=True)
    write_wav(folder / "audio.wav", audio, SAMPLE_RATE)
    boxes = face_boxes(landmarks, (FRAME_SIZE, FRAME_SIZE))
    for i, (frame, box) in enumerate(zip(frames, boxes, strict=True)):
        crop = face_crop(frame, box, FACE_CROP_SIZE)
        cv2.imwrite(str(folder / f"{i}.jpg"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])  # fmt: skip
    mouths = np.stack([crop.image for crop in mouth_crops(frames, landmarks)])
    np.save(folder / "mouth.npy", mouths)
    with VideoWriter(out / f"{clip.name}.mp4", FRAME_SIZE, FRAME_SIZE,
                     audio=folder / "audio.wav") as writer:  # fmt: skip
        writer.write(frames)
    (out / f"{clip.name}.txt").write_text(f"Text:  {grammar.transcript(clip.words)}\n")
    lead_s = lead / SAMPLE_RATE
    meta = {
        "words": list(clip.words),
        "transcript": grammar.transcript(clip.words),
        "split": clip.split,
        "frames": n_frames,
        "voice": asdict(voice),
        "face": asdict(clip.speaker.face),
        "phones": [
            [p.symbol, round(p.start + lead_s, 4), round(p.end + lead_s, 4)] for p in speech.phones
        ],  # fmt: skip
        "visemes": np.round(visemes, 3).tolist(),  # per frame: jaw opening, lip rounding
    }
    (out / f"{clip.name}.json").write_text(json.dumps(meta))
    return len(audio) / SAMPLE_RATE


def build(
    out_dir: str | Path,
    *,
    utterances: int = 1000,
    seed: int = 0,
    faces: int = 12,
    workers: int = 1,
) -> Corpus:
    """Write a corpus of `utterances` clips by `faces` speakers into `out_dir` (new or empty)."""
    out = Path(out_dir)
    if utterances < 1:
        raise UserError(f"--utterances: {utterances} must be 1 or more")
    if faces < 1:
        raise UserError(f"faces: {faces} must be 1 or more")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    plans = plan(seed, utterances, min(faces, utterances))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            seconds = list(pool.map(make_clip, [out] * len(plans), [seed] * len(plans), plans))
    else:
        seconds = [make_clip(out, seed, clip) for clip in plans]
    (out / "filelists").mkdir()
    splits = {}
    for split in SPLITS:
        names = [clip.name for clip in plans if clip.split == split]
        (out / "filelists" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
        splits[split] = len(names)
    corpus = Corpus(out, len(plans), round(float(sum(seconds)), 2), splits)
    summary = {"version": VERSION, "seed": seed, "utterances": utterances, "faces": faces}
    summary.update(clips=corpus.clips, seconds=corpus.seconds, splits=splits)
    (out / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    return corpus
