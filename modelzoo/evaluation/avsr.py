"""Rows of the speech recognisers: WER and CER per (model, condition), and how well their
reliability scores track the corruption.

Conditions follow AV-RelScore's test protocol (papers.md §4.5) with the corruption lab's own
operations (`modelzoo.corruption`), applied to the decoded clip in memory so that each frame's
corruption is known exactly: `clean`; `babble_<snr>db` for SNR -5, 0, 5, 10 and 15 dB over the
whole clip; `occlusion`, `video_noise` (Gaussian pixel noise) and `blur`, each on VIDEO_FRACTION
of the frames in 1-3 segments; `both`, occlusion and pixel noise on the video with babble at 0 dB;
`static_video` (the first frame held, as a still photo gives) and `silent_audio` withhold a stream.
Every draw comes from `numpy.random.default_rng([seed, clip index, condition index])`, so a run
is reproducible. A corrupted video is tracked again (the tracker sees what a user's file would
show); mouth crops, audio normalisation and greedy CTC decoding are the transcribe job's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modelzoo.avrelscore.inference import ClipInputs
from modelzoo.corruption import occlusion
from modelzoo.corruption.audio import add_noise
from modelzoo.corruption.params import AudioNoiseParams
from modelzoo.corruption.video import apply_segments, plan_segments
from modelzoo.evaluation.corpus import CorpusClip
from modelzoo.media.io import AUDIO_RATE
from modelzoo.media.mel import normalized_waveform
from modelzoo.metrics import lipreading, reliability, text
from modelzoo.metrics.clip import ClipMedia

SNRS_DB = (-5, 0, 5, 10, 15)
VIDEO_FRACTION = 0.3  # the corrupt job's default share of frames
BOTH_SNR_DB = 0
CONDITIONS = (
    "clean",
    *(f"babble_{snr}db" for snr in SNRS_DB),
    "occlusion",
    "video_noise",
    "blur",
    "both",
    "static_video",
    "silent_audio",
)
# Conditions that withhold a whole stream, as a visitor's still photo or muted clip does; they are
# not corruption, so their frames stay out of the reliability AUROC.
WITHHELD = ("static_video", "silent_audio")
TRACE_CLIPS = 3  # clips whose reliability over time goes into the report's plot
PROTOCOL = {
    "conditions": list(CONDITIONS),
    "noise": "babble (modelzoo.corruption.babble), whole clip, exact SNR",
    "video_fraction": VIDEO_FRACTION,
    "both": f"occlusion + gaussian pixel noise on video, babble {BOTH_SNR_DB} dB",
    "decoder": "greedy CTC",
    "normalisation": text.NORMALISATION_VERSION,
    "reliability": reliability.PROTOCOL,
}


@dataclass
class Corrupted:
    """A clip under one condition: media and which frames of each stream were corrupted."""

    frames: np.ndarray
    audio: np.ndarray
    video_mask: np.ndarray  # (T,) bool
    audio_mask: np.ndarray  # (T,) bool
    track: object = None  # the clean track when the video is unchanged


def _babble(audio: np.ndarray, snr: float, rng) -> np.ndarray:
    noisy, _ = add_noise(audio, AUDIO_RATE, AudioNoiseParams(noise="babble", snr_db=snr), rng)
    return noisy


def _occlude(frames: np.ndarray, landmarks: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    segments = occlusion.plan_occlusion(
        landmarks, VIDEO_FRACTION, rng, occlusion.default_occluders()
    )
    frames = occlusion.apply_occlusion(frames.copy(), 0, segments, landmarks)
    mask = np.zeros(len(frames), bool)
    for seg in segments:
        mask[seg.start : seg.stop] = True
    return frames, mask & ~np.isnan(landmarks[:, 0, 0])


def _degrade(frames: np.ndarray, kind: str, rng) -> tuple[np.ndarray, np.ndarray]:
    segments = plan_segments(len(frames), kind, VIDEO_FRACTION, rng)
    frames = apply_segments(frames.copy(), 0, segments, rng)
    mask = np.zeros(len(frames), bool)
    for seg in segments:
        mask[seg.start : seg.stop] = True
    return frames, mask


def corrupt(clip: ClipMedia, condition: str, rng: np.random.Generator) -> Corrupted:
    """The clip under `condition` (one of CONDITIONS)."""
    frames, audio, count = clip.frames, clip.audio, len(clip.frames)
    none, every = np.zeros(count, bool), np.ones(count, bool)
    landmarks = clip.track.landmarks if clip.track is not None else None
    if condition == "clean":
        return Corrupted(frames, audio, none, none, clip.track)
    if condition.startswith("babble_"):
        snr = float(condition.removeprefix("babble_").removesuffix("db"))
        return Corrupted(frames, _babble(audio, snr, rng), none, every, clip.track)
    if condition == "occlusion" and landmarks is not None:
        occluded, mask = _occlude(frames, landmarks, rng)
        return Corrupted(occluded, audio, mask, none)
    if condition in ("video_noise", "blur"):
        degraded, mask = _degrade(frames, "gaussian" if condition == "video_noise" else "blur", rng)
        return Corrupted(degraded, audio, mask, none)
    if condition == "both":
        mask = none
        if landmarks is not None:
            frames, mask = _occlude(frames, landmarks, rng)
        frames, noise_mask = _degrade(frames, "gaussian", rng)
        noisy = _babble(audio, BOTH_SNR_DB, rng)
        return Corrupted(frames, noisy, mask | noise_mask, every)
    if condition == "static_video":  # the first frame held, tracked again as a photo would be
        return Corrupted(np.repeat(frames[:1], count, axis=0), audio, none, none)
    if condition == "silent_audio":
        return Corrupted(frames, np.zeros_like(audio), none, none, clip.track)
    if condition == "occlusion":  # no face to anchor the objects on: nothing to occlude
        return Corrupted(frames, audio, none, none, clip.track)
    raise ValueError(f"unknown condition {condition!r}")


def model_inputs(model, corrupted: Corrupted) -> ClipInputs:
    """The model's inputs of a corrupted clip, as the transcribe job prepares them."""
    count = len(corrupted.frames)
    video = None
    if model.config.uses_video:
        track = corrupted.track
        if track is None:
            track = ClipMedia.from_arrays(corrupted.frames, None).track
        video, _ = lipreading.mouth_input(corrupted.frames, track)
    audio = None
    if model.config.uses_audio and corrupted.audio is not None:
        audio = normalized_waveform(corrupted.audio, count)
    return ClipInputs(video, audio, count)


@dataclass
class ModelTally:
    """Counts per condition, pooled reliability frames and a few traces for the plot."""

    words: dict[str, list[dict]] = field(default_factory=lambda: {c: [] for c in CONDITIONS})
    chars: dict[str, list[dict]] = field(default_factory=lambda: {c: [] for c in CONDITIONS})
    scores: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"audio": [], "video": []})
    clean: dict[str, list[np.ndarray]] = field(default_factory=lambda: {"audio": [], "video": []})
    traces: list[dict] = field(default_factory=list)
    # (speech engine, condition) -> word counts, to tell unseen engines' clips from the rest
    engine_words: dict[tuple[str, str], list[dict]] = field(default_factory=dict)

    def add_reliability(self, per_frame: dict, corrupted: Corrupted) -> None:
        masks = {"audio": corrupted.audio_mask, "video": corrupted.video_mask}
        for stream, values in per_frame.items():
            if values is not None:
                n = min(len(values), len(masks[stream]))
                self.scores[stream].append(np.asarray(values[:n]))
                self.clean[stream].append(~masks[stream][:n])

    def rows(self, model_id: str) -> list[dict]:
        out = []
        for condition in CONDITIONS:
            metrics = {
                "wer": text.error_rate(self.words[condition]),
                "cer": text.error_rate(self.chars[condition]),
                "clips": len(self.words[condition]),
            }
            out.append({"model": model_id, "condition": condition, "metrics": metrics})
        return out

    def by_engine(self) -> dict[str, dict[str, float]]:
        """WER per speech engine and condition, for corpora that say which engine voiced a clip."""
        out: dict[str, dict[str, float]] = {}
        for (engine, condition), counts in self.engine_words.items():
            out.setdefault(engine, {})[condition] = text.error_rate(counts)
        return out

    def reliability(self) -> dict:
        out = {}
        for stream in ("video", "audio"):
            if self.scores[stream]:
                scores = np.concatenate(self.scores[stream])
                clean = np.concatenate(self.clean[stream])
                out[f"{stream}_auroc"] = reliability.auroc(scores, clean)
                out[f"{stream}_frames"] = {
                    "clean": int(clean.sum()),
                    "corrupted": int((~clean).sum()),
                }
            else:
                out[f"{stream}_auroc"] = None
        return out


def evaluate_recognisers(
    models: dict[str, object], clips: list[CorpusClip], seed: int, progress
) -> dict[str, ModelTally]:
    """Transcribe every clip under every condition with every model."""
    tallies = {model_id: ModelTally() for model_id in models}
    for index, clip in enumerate(clips):
        progress(index, f"recognition clip {index + 1}/{len(clips)}: {clip.name}")
        real = ClipMedia.read(clip.video)
        if real.audio is None:
            real.audio = np.zeros(len(real.frames) * AUDIO_RATE // 25, np.float32)
        for number, condition in enumerate(CONDITIONS):
            corrupted = corrupt(real, condition, np.random.default_rng([seed, index, number]))
            for model_id, model in models.items():
                said, per_frame = lipreading.decode(model, model_inputs(model, corrupted))
                tally = tallies[model_id]
                tally.words[condition].append(text.word_counts(clip.text, said))
                if clip.engine:
                    tally.engine_words.setdefault((clip.engine, condition), []).append(
                        tally.words[condition][-1]
                    )
                tally.chars[condition].append(text.char_counts(clip.text, said))
                if condition not in WITHHELD:
                    tally.add_reliability(per_frame, corrupted)
                scored = any(values is not None for values in per_frame.values())
                if condition == "both" and index < TRACE_CLIPS and scored:
                    tally.traces.append(_trace(clip.name, per_frame, corrupted))
    return tallies


def _trace(name: str, per_frame: dict, corrupted: Corrupted) -> dict:
    def listed(values):
        return None if values is None else [round(float(v), 4) for v in values]

    return {
        "clip": name,
        "condition": "both",
        "video": listed(per_frame["video"]),
        "audio": listed(per_frame["audio"]),
        "video_corrupted": corrupted.video_mask.astype(int).tolist(),
        "audio_corrupted": corrupted.audio_mask.astype(int).tolist(),
    }
