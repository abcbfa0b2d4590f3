"""Transcription with AV-RelScore: a media file in; text, per-frame reliability, timings out.

The inputs are prepared as ms-dot-k/AVSR@2a287f5 `test.py` reads its test sets: 25 fps video,
88x88 grey mouth crops (the centre of the 96x96 ROI, see `modelzoo.media.crops`) normalised with
(0.421, 0.165), and the 16 kHz mono waveform cut to 640 samples per video frame and
z-normalised per utterance (`modelzoo.media.mel.normalized_waveform`).

A video without any face is transcribed from its audio, one without audio from the lips, and an
audio file from the audio; `Transcription.notice` says so. The audio-visual models keep their
input layout in that case and get zeros for the missing stream: see `blank_stream`.

`optimize_for_inference(model)` is the form that jobs serve (`zoo.loading.load_for_inference`):
its dense layers run through `modelzoo.cpu_linear`, the matrix library fastest on this processor.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from modelzoo import cpu_linear
from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.data import model_video
from modelzoo.avrelscore.decoding import beam_search, greedy_ctc
from modelzoo.avrelscore.model import SAMPLES_PER_FRAME, AVRelScore, Encoded, FeedForward
from modelzoo.errors import InvalidMediaError, InvalidParamsError, UserError
from modelzoo.media import io as media_io
from modelzoo.media.crops import MouthCropper
from modelzoo.media.mel import normalized_waveform
from modelzoo.media.probe import MediaInfo, probe
from modelzoo.pipelines.limits import BEAM_SIZES, CTC_WEIGHTS, DECODERS

Progress = Callable[[float, str], None]
FPS = media_io.FPS  # one encoder step per video frame
AUDIO_VISUAL, AUDIO_ONLY, VIDEO_ONLY = "audio-visual", "audio-only", "video-only"
DECIMALS = 4  # of the reliability scores in the JSON: far finer than a plot can show
WINDOW_FRAMES = 600  # frames per encoder pass (24 s): the reference's longest training clips


def _no_progress(frac: float, msg: str) -> None:
    """The default progress callback: report nothing."""


def optimize_for_inference(model: AVRelScore, *, inplace: bool = False) -> AVRelScore:
    """A copy of `model` (or `model` itself with `inplace=True`) in eval mode, without gradients,
    whose dense layers are `cpu_linear.Linear` (the same parameters, so the same state dict) with
    each feed-forward block's ReLU fused into its first layer. The beam search then also packs
    the decoder's weights for its row count where the backend packs (`decoding.Dense`). It
    gives the plain model's outputs to float rounding. Call it after moving the model."""
    if not isinstance(model, AVRelScore):
        raise TypeError(f"expected an AV-RelScore model, not {type(model).__name__}")
    fast = model if inplace else copy.deepcopy(model)
    fast.eval().requires_grad_(False)
    for block in fast.modules():
        if isinstance(block, FeedForward):
            block.w_1 = cpu_linear.Linear.sharing(block.w_1, activation="relu")
            block.activation = nn.Identity()
    linears = [
        (parent, name, child)
        for parent in fast.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear
    ]
    for parent, name, child in linears:
        setattr(parent, name, cpu_linear.Linear.sharing(child))
    return fast


@dataclass
class Transcription:
    """What `transcribe` found; `as_json()` is what the CLI prints and the jobs store."""

    text: str
    mode: str  # "audio-visual" | "audio-only" | "video-only": the streams the text came from
    notice: str  # why a stream was left out, "" when every stream the model reads was used
    fps: int
    frames: int
    duration_s: float
    # per-frame mean over channels of each stream's sigmoid reliability scores; None for a
    # stream that was not used, or when the model has no reliability scorer (the baselines)
    reliability: dict[str, list[float] | None]
    # per frame, how far each stream's 128 channel scores are from their usual values in the clip
    # (RMS over channels of the distance to the per-channel median over the clip's frames): the
    # mean above hardly moves, while this rises where a stretch is scored unlike the rest
    reliability_change: dict[str, list[float] | None]
    decoder: dict  # the settings used: name, and beam_size / ctc_weight for beam search
    timings: dict[str, float]  # seconds: read_media, mouth_crops, encoder, decoding, total

    def as_json(self) -> dict:
        return asdict(self)


@dataclass
class ClipInputs:
    """Model inputs of one clip or window; a stream is None when the clip cannot supply it."""

    video: torch.Tensor | None  # (T, 1, 88, 88) normalised crops
    audio: np.ndarray | None  # (T * 640,) float32 normalised waveform
    frames: int


def transcribe(
    model: AVRelScore,
    media: Path,
    *,
    decoder: str = "greedy",
    beam_size: int = 10,
    ctc_weight: float = 0.1,
    info: MediaInfo | None = None,
    progress: Progress = _no_progress,
) -> Transcription:
    """Transcribe a video (with or without audio) or an audio file with an AV-RelScore model.

    `decoder` "greedy" takes the best CTC path (fast); "beam" runs the joint CTC/attention beam
    search with `beam_size` hypotheses and CTC weight `ctc_weight` (the paper: 40 and 0.1).
    Clips longer than WINDOW_FRAMES are transcribed window by window (see `_cut`), each as soon
    as its frames are read (see `ClipReader`), so memory does not grow with the clip's length.
    `info` is the file's probe when the caller has one already (a job's, taken at upload).
    Raises UserError (InvalidMediaError, NoFaceError) when the file offers nothing to read.
    """
    check_decoding(decoder, beam_size, ctc_weight)
    media = Path(media)
    started = time.perf_counter()
    timings = dict.fromkeys(("read_media", "mouth_crops", "encoder", "decoding"), 0.0)
    reader = ClipReader(model, media, timings, progress, info=info)
    settings = {"name": "greedy"}
    if decoder == "beam":
        settings = {"name": "beam", "beam_size": beam_size, "ctc_weight": ctc_weight}
    pieces, reliability, change = [], {"audio": [], "video": []}, {"audio": [], "video": []}
    for start, stop, part in reader.windows():
        progress(reader.fraction, f"encoding and decoding frames {start}-{stop - 1}")
        tick = time.perf_counter()
        with torch.inference_mode():
            encoded = encode_clip(model, part)
            timings["encoder"] += time.perf_counter() - tick
            tick = time.perf_counter()
            if decoder == "beam":
                hyp = beam_search(model, encoded, beam=beam_size, ctc_weight=ctc_weight)[0]
                tokens = hyp.tokens
            else:
                tokens = greedy_ctc(model.ctc_log_probs(encoded), encoded.mask.sum(1))[0]
            timings["decoding"] += time.perf_counter() - tick
        pieces.append(vocab.decode(tokens).strip())
        for stream, (scores, moved) in _reliability(part, encoded).items():
            reliability[stream] = None if scores is None else reliability[stream] + scores
            change[stream] = None if moved is None else change[stream] + moved
    clip = reader.finish()
    if not clip.video_used:  # no face anywhere: the zeros the encoder saw were a blank stream
        reliability["video"] = change["video"] = None
    timings["total"] = time.perf_counter() - started
    progress(1.0, "done")
    return Transcription(
        text=" ".join(p for p in pieces if p),
        mode=clip.mode,
        notice=clip.notice,
        fps=FPS,
        frames=clip.frames,
        duration_s=clip.frames / FPS,
        reliability=reliability,
        reliability_change=change,
        decoder=settings,
        timings={k: round(v, 4) for k, v in timings.items()},
    )


def check_decoding(decoder: str, beam_size: int, ctc_weight: float) -> None:
    """InvalidParamsError naming the first decoding setting that `transcribe` cannot use."""
    if decoder not in DECODERS:
        raise InvalidParamsError(f"'decoder' must be one of {', '.join(DECODERS)}, not {decoder!r}")
    low, high = BEAM_SIZES
    integer = isinstance(beam_size, int) and not isinstance(beam_size, bool)
    if not integer or not low <= beam_size <= high:
        raise InvalidParamsError(f"'beam_size' must be an integer from {low} to {high}")
    low, high = CTC_WEIGHTS
    number = isinstance(ctc_weight, int | float) and not isinstance(ctc_weight, bool)
    if not number or not low <= ctc_weight <= high:
        raise InvalidParamsError(f"'ctc_weight' must be a number from {low} to {high}")


def _cut(start: int, size: int, energy: Callable[[int, int], np.ndarray] | None) -> int:
    """End of the window from `start` when more than `size` frames remain: the quietest frame of
    its last quarter by `energy(lo, hi)` (per-frame energies), or `start + size` without audio,
    so that a cut rarely splits a word.

    Windows (WINDOW_FRAMES) because the encoder attends over all 2T tokens at once, so its memory
    grows with T squared (a 10-minute clip would need tens of GB), and the reference trains on
    clips of at most 600 frames, so longer inputs are outside what it learned anyway.
    """
    if energy is None:
        return start + size
    low = start + size * 3 // 4
    return low + int(np.argmin(energy(low, start + size)))


@dataclass
class ClipSummary:
    """What a clip turned out to be once read: its length, the streams used and why not."""

    frames: int
    mode: str  # AUDIO_VISUAL, AUDIO_ONLY or VIDEO_ONLY
    notice: str
    video_used: bool


class ClipReader:
    """The streams of a media file that a model reads, handed out window by window.

    The audio is read whole (16 kHz mono float32: 64 kB a second); the video is decoded, tracked
    and cut into mouth crops as `windows()` is iterated, and a window's crops are dropped once it
    has been handed out, so only about one window of crops (600 frames, 4.6 MB) is held however
    long the video. `finish()` then says what the clip was. `timings` gets "read_media" (probing
    and audio decoding) and "mouth_crops" (video decoding, face tracking and cropping) in seconds.
    """

    def __init__(
        self,
        model: AVRelScore,
        media: Path,
        timings: dict[str, float],
        progress: Progress,
        *,
        info: MediaInfo | None = None,
    ):
        cfg = model.config
        tick = time.perf_counter()
        progress(0.0, "reading the media")
        info = info or probe(media)
        if info.is_image:
            raise InvalidMediaError(
                f"{media.name}: is a still image; transcription needs a video or an audio file"
            )
        self.media, self.info, self.timings, self.progress = media, info, timings, progress
        self.variant = cfg.variant
        self.wav = _read_audio(media, info) if cfg.uses_audio else None
        timings["read_media"] = time.perf_counter() - tick
        self.reads_video = cfg.uses_video and info.has_video
        # why a stream that the model reads is missing
        self.no_video = f"there is no video in {media.name}" if cfg.uses_video else ""
        self.no_video = "" if info.has_video else self.no_video
        self.no_audio = f"there is no audio in {media.name}" if cfg.uses_audio else ""
        self.no_audio = "" if self.wav is not None else self.no_audio
        if not self.reads_video and self.wav is None:
            self._nothing_to_transcribe()
        # Energies for the window cuts are taken around the whole clip's mean, as the normalised
        # clip would give them, without making a normalised copy of an hour of audio.
        self._mean = float(self.wav.mean(dtype=np.float64)) if self.wav is not None else 0.0
        self.frames = self.faces = 0
        self.fraction = 0.05  # of the work done, for progress messages

    def windows(self, size: int | None = None) -> Iterator[tuple[int, int, ClipInputs]]:
        """(start, stop, inputs) of each window in order, cut as `windows` cuts a whole clip."""
        size = size or WINDOW_FRAMES
        if not self.reads_video:
            yield from self._audio_windows(size)
            return
        energy = self._energy if self.wav is not None else None
        patches: list[np.ndarray] = []
        has_face: list[bool] = []
        start = 0
        for crops in self._mouth_crops():
            patches += [crop.image for crop in crops]
            has_face += [not np.isnan(crop.landmarks[0, 0]) for crop in crops]
            while len(patches) > size:  # the video sets the length, as the reference's does
                stop = _cut(start, size, energy)
                count = stop - start
                yield start, stop, self._inputs(start, stop, patches[:count], has_face[:count])
                del patches[:count], has_face[:count]
                start = stop
        self.frames = start + len(patches)
        if patches:
            yield start, self.frames, self._inputs(start, self.frames, patches, has_face)
        elif self.frames == 0 and self.wav is not None:
            self.reads_video = False
            self.no_video = f"no frame could be decoded from the video of {self.media.name}"
            yield from self._audio_windows(size)

    def _audio_windows(self, size: int) -> Iterator[tuple[int, int, ClipInputs]]:
        """Windows of an audio-only read, where the audio sets the length."""
        self.frames = len(self.wav) // SAMPLES_PER_FRAME
        if self.frames == 0:
            raise InvalidMediaError(
                f"{self.media.name}: the audio is shorter than one frame (40 ms)"
            )
        start = 0
        while self.frames - start > size:
            stop = _cut(start, size, self._energy)
            yield start, stop, self._inputs(start, stop, None, None)
            start = stop
        self.fraction = 0.95
        yield start, self.frames, self._inputs(start, self.frames, None, None)

    def _mouth_crops(self) -> Iterator[list]:
        """Lists of mouth crops in frame order as the tracker settles them (`MouthCropper`)."""
        total = max(media_io.frame_count(self.info), 1)
        cropper = MouthCropper(name=self.media.name)
        tick = time.perf_counter()
        for chunk in media_io.iter_frames(self.media, info=self.info):
            crops = [crop for frame in chunk for crop in cropper.push(frame)]
            done = len(cropper.tracker)
            self.fraction = 0.05 + 0.9 * min(done / total, 1.0)
            self.progress(self.fraction, f"mouth crops: frame {done} of {total}")
            self.timings["mouth_crops"] += time.perf_counter() - tick
            yield crops
            tick = time.perf_counter()
        crops = cropper.flush()
        self.timings["mouth_crops"] += time.perf_counter() - tick
        yield crops

    def _energy(self, low: int, high: int) -> np.ndarray:
        """Mean squared deviation from the clip's mean of frames [low, high) (zeros past the end
        of the audio, as the padded waveform has)."""
        samples = self.wav[low * SAMPLES_PER_FRAME : high * SAMPLES_PER_FRAME]
        samples = np.pad(samples, (0, (high - low) * SAMPLES_PER_FRAME - len(samples)))
        return ((samples.astype(np.float64) - self._mean) ** 2).reshape(high - low, -1).mean(1)

    def _inputs(self, start, stop, patches, has_face) -> ClipInputs:
        """One window's model inputs; the audio is z-normalised over the window alone, as the
        reference normalises each utterance."""
        video = None
        if patches is not None:
            faces = np.array(has_face)
            self.faces += int(faces.sum())
            video = model_video(np.stack(patches), None, faces)
        audio = None
        if self.wav is not None:
            samples = self.wav[start * SAMPLES_PER_FRAME : stop * SAMPLES_PER_FRAME]
            audio = normalized_waveform(samples, stop - start, FPS)
        return ClipInputs(video, audio, stop - start)

    def finish(self) -> ClipSummary:
        """What the whole clip was, once `windows()` is exhausted; UserError when it turns out
        to offer nothing to read (no face in any frame, and no audio)."""
        no_video = self.no_video
        if self.reads_video and self.faces == 0:
            no_video = f"no face was found in frames 0-{self.frames - 1} of {self.media.name}"
        if no_video and self.wav is None:
            self.no_video = no_video
            self._nothing_to_transcribe()
        notice = ""
        if no_video:
            notice = f"{_capitalised(no_video)}, so it was transcribed from the audio alone."
        elif self.no_audio:
            notice = f"{_capitalised(self.no_audio)}, so it was transcribed from the lips alone."
        video_used = self.reads_video and not no_video
        mode = (
            AUDIO_ONLY if not video_used else AUDIO_VISUAL if self.wav is not None else VIDEO_ONLY
        )
        return ClipSummary(self.frames, mode, notice, video_used)

    def _nothing_to_transcribe(self):
        reason = _capitalised(" and ".join(r for r in (self.no_video, self.no_audio) if r))
        if self.variant in ("audio_only", "video_only"):
            reason += f", and this {self.variant.replace('_', '-')} model reads nothing else"
        raise UserError(f"{reason}: there is nothing to transcribe")


def _read_audio(media: Path, info: MediaInfo) -> np.ndarray | None:
    """16 kHz mono samples, or None when there is no audio stream or it holds no samples."""
    if not info.has_audio:
        return None
    wav = media_io.read_audio(media)
    return wav if len(wav) else None


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def blank_stream(frames: int, video: bool) -> torch.Tensor:
    """Zeros standing in for a stream the clip lacks, shaped as that stream's model input.

    Zeros rather than dropping the stream: the encoder was trained on the 2T-token concatenation
    with the read-out at the video positions, so removing half the tokens would shift every
    relative position and (for missing video) remove the read-out itself. And zeros in the
    normalised input are what training showed it for a blank stream: the reference's TimeMask
    zeroes normalised frames, and its audio augmentation zeroes stretches of the waveform, so
    the reliability scorer has learned to weigh such stretches down.
    """
    if video:
        return torch.zeros(1, frames, 1, 88, 88)
    return torch.zeros(1, frames * SAMPLES_PER_FRAME)


def encode_clip(model: AVRelScore, clip: ClipInputs) -> Encoded:
    """Encoder output of one clip, missing streams blanked for the models that read both."""
    cfg = model.config
    device = next(model.parameters()).device
    video = audio = None
    if cfg.uses_video:
        video = (
            clip.video[None] if clip.video is not None else blank_stream(clip.frames, video=True)
        )
    if cfg.uses_audio:
        audio = (
            torch.from_numpy(clip.audio)[None]
            if clip.audio is not None
            else blank_stream(clip.frames, video=False)
        )
    lengths = torch.tensor([clip.frames], device=device)
    return model.encode(
        video.to(device) if video is not None else None,
        audio.to(device) if audio is not None else None,
        lengths,
    )


def _reliability(clip: ClipInputs, encoded: Encoded) -> dict[str, tuple[list | None, list | None]]:
    """Per stream: (per-frame mean of the channel scores, per-frame change from the clip's usual
    channel scores); (None, None) for a stream not used or not scored."""

    def per_frame(scores: torch.Tensor | None, used: bool) -> tuple[list | None, list | None]:
        if scores is None or not used:
            return None, None
        scores = scores[0].float().cpu()  # (T, C)
        usual = scores.quantile(0.5, dim=0)  # (C,) the median, halfway between two middle ones
        moved = (scores - usual).pow(2).mean(-1).sqrt()  # (T,)
        return [round(float(s), DECIMALS) for s in scores.mean(-1)], [
            round(float(m), DECIMALS) for m in moved
        ]

    return {
        "audio": per_frame(encoded.audio_scores, clip.audio is not None),
        "video": per_frame(encoded.video_scores, clip.video is not None),
    }
