"""Write a SynthGrid corpus: GRID sentences said by espeak-ng and flite voices, lip-synced faces.

Layout under OUT (clip names are `<speaker>/<GRID id>-<index>`, e.g. `s03/bbaf2n-0042`):

    corpus.json                 how it was made: seed, counts, seconds, splits, held-out voices and
                                faces, and a fingerprint of all that (written last)
    filelists/{train,val,test}.txt   clip names, one a line (Wav2Lip and LRS list style)
    s03/bbaf2n-0042.mp4         256x256 25 fps H.264 video with the 16 kHz speech as AAC
    s03/bbaf2n-0042.txt         LRS-style transcript: "Text:  BIN BLUE AT F TWO NOW"
    s03/bbaf2n-0042.json        phones (espeak-ng mnemonics, seconds in the clip), voice, channel,
                                face, articulation
    s03/bbaf2n-0042/            Wav2Lip-layout folder read by modelzoo.alm.data.folder_clips:
        0.jpg 1.jpg ...         128x128 RGB face crops (Wav2Lip boxes, modelzoo.media.crops)
        audio.wav               the speech, 16 kHz mono PCM
        mouth.npy               (T, 96, 96) uint8 grey AV-RelScore mouth ROIs

A speaker (the `s03` of a name) is a face with its articulation style; the voice (engine, voice,
speed, pitch) and the channel (room, band limit, colouring) are drawn for every clip. The test
split is said only by held-out voices (modelzoo.synthgrid.speech.HELD_OUT_*) on held-out faces
(`h01`...), people whom no training or validation clip shows or lets be heard; validation clips
come from the training voices and faces. Crops are cut from the rendered frames with the landmarks
the renderer carries along (no tracking). Everything is drawn from the seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
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
from modelzoo.synthgrid import grammar, render, speech
from modelzoo.synthgrid.render import (
    FRAME_SIZE,
    Articulation,
    FaceRig,
    FaceVariant,
    draw_face,
    render_clip,
    viseme_track,
)
from modelzoo.synthgrid.speech import Channel, Voice, synthesize

VERSION = "synthgrid-v2"  # bump when the recipe changes: cached corpora are rebuilt
HELD_OUT_FACES = 4
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
    face: FaceVariant
    articulation: Articulation
    held_out: bool = False


@dataclass(frozen=True)
class ClipPlan:
    index: int
    name: str
    speaker: Speaker
    voice: Voice
    channel: Channel
    words: tuple[str, ...]
    split: str


def split_of(index: int) -> str:
    return {1: "test", 2: "val"}.get(index % HELD_OUT_EVERY, "train")


def speakers(seed: int, count: int, held_out: bool = False) -> list[Speaker]:
    """`count` people, each a face dlib finds and an articulation style; the held-out ones
    (`h01`...) come from their own random stream."""
    rng = np.random.default_rng((seed, 4 if held_out else 1))
    prefix = "h" if held_out else "s"
    return [
        Speaker(
            f"{prefix}{k + 1:02d}", draw_face(rng, held_out), Articulation.random(rng), held_out
        )
        for k in range(count)
    ]


def plan(seed: int, utterances: int, faces: int = 24) -> list[ClipPlan]:
    """Every clip's speaker, voice, channel, sentence and split; a speaker never says a sentence
    twice. Test clips have held-out faces and voices, the others `faces` training faces."""
    rng = np.random.default_rng((seed, 2))
    cast = {False: speakers(seed, faces), True: speakers(seed, HELD_OUT_FACES, held_out=True)}
    said: set[tuple] = set()
    plans = []
    for index in range(utterances):
        split = split_of(index)
        held_out = split == "test"
        speaker = cast[held_out][int(rng.integers(len(cast[held_out])))]
        voice = Voice.random(rng, held_out)
        channel = Channel.random(rng)
        words = grammar.random_sentence(rng)
        while (speaker.name, words) in said:
            words = grammar.random_sentence(rng)
        said.add((speaker.name, words))
        name = f"{speaker.name}/{grammar.utterance_id(words)}-{index:04d}"
        plans.append(ClipPlan(index, name, speaker, voice, channel, words, split))
    return plans


@lru_cache(maxsize=64)
def _rig(face: FaceVariant) -> FaceRig:
    return FaceRig(face)


def make_clip(out: Path, seed: int, clip: ClipPlan) -> float:
    """Write one clip's files; its duration in seconds."""
    rng = np.random.default_rng((seed, 3, clip.index))
    speech = synthesize(grammar.spoken_text(clip.words), clip.voice)
    lead, tail = (int(rng.uniform(0.15, 0.5) * SAMPLE_RATE) for _ in range(2))
    n_frames = math.ceil((lead + len(speech.audio) + tail) / SAMPLES_PER_FRAME)
    audio = np.zeros(n_frames * SAMPLES_PER_FRAME, np.float32)
    audio[lead : lead + len(speech.audio)] = speech.audio
    audio = clip.channel.apply(audio)  # the room's tail rings on into the trailing silence
    audio *= rng.uniform(0.35, 0.9) / max(float(np.abs(audio).max()), 1e-6)
    audio += rng.normal(0.0, 1e-3, len(audio)).astype(np.float32)  # a recording's noise floor
    visemes = viseme_track(
        speech.phones, n_frames, lead / SAMPLE_RATE, clip.speaker.articulation, rng
    )
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
        "speaker": clip.speaker.name,
        "held_out": clip.speaker.held_out,
        "voice": asdict(clip.voice),
        "channel": asdict(clip.channel),
        "face": asdict(clip.speaker.face),
        "articulation": asdict(clip.speaker.articulation),
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
    faces: int = 24,
    workers: int = 1,
) -> Corpus:
    """Write a corpus of `utterances` clips into `out_dir` (new or empty): `faces` training faces
    and HELD_OUT_FACES test faces."""
    out = Path(out_dir)
    if utterances < 1:
        raise UserError(f"--utterances: {utterances} must be 1 or more")
    if faces < 1:
        raise UserError(f"faces: {faces} must be 1 or more")
    if workers < 1:
        raise UserError(f"--workers: {workers} must be 1 or more")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    plans = plan(seed, utterances, faces)
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
    summary = recipe(seed, utterances, faces)
    summary["fingerprint"] = fingerprint(summary)
    summary.update(clips=corpus.clips, seconds=corpus.seconds, splits=splits)
    (out / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    return corpus


def engine_versions() -> dict[str, str]:
    """The speech engines' own version lines: their voices are part of the recipe."""
    return {
        engine: subprocess.run([engine, "--version"], capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[0]
        for engine in speech.ENGINES
    }


def recipe(seed: int, utterances: int, faces: int) -> dict:
    """What decides a corpus's contents: version, seed, counts, voices (held out or not), faces,
    engine versions and a hash of the code that draws and renders."""
    sources = hashlib.sha256()
    for path in (__file__, render.__file__, speech.__file__, grammar.__file__):
        sources.update(Path(path).read_bytes())
    return {
        "version": VERSION,
        "seed": seed,
        "utterances": utterances,
        "faces": faces,
        "held_out": {
            "faces": [f"h{k + 1:02d}" for k in range(HELD_OUT_FACES)],
            "espeak_voices": list(speech.HELD_OUT_ESPEAK_VOICES),
            "espeak_variants": list(speech.HELD_OUT_ESPEAK_VARIANTS),
            "flite_voices": list(speech.HELD_OUT_FLITE_VOICES),
        },
        "voices": {
            "espeak_voices": list(speech.ESPEAK_VOICES),
            "espeak_variants": list(speech.ESPEAK_VARIANTS),
            "flite_voices": list(speech.FLITE_VOICES),
        },
        "engines": engine_versions(),
        "code_sha256": sources.hexdigest(),
    }


def fingerprint(summary: dict) -> str:
    """sha256 of the recipe, as evaluation reports name the corpus they ran on."""
    return hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
