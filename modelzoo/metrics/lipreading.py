"""Machine lip-readability of a face video: the WER of a lip reader on it against the spoken text
(KeySync's "LipScore"; SyncLab sets it beside human lip-reading).

Protocol: the lip reader is `avsr-video-demo` (a video-only AV-RelScore) when its weights are
here, else `avrelscore-demo` with its audio input replaced by zeros, the blank stream it saw in
training (`modelzoo.avrelscore.inference.blank_stream`). Mouth crops are AV-RelScore's 88x88 grey
ROIs from the project's tracker (`modelzoo.media.crops`); decoding is greedy CTC, and the WER is
`modelzoo.metrics.text`'s under its one normalisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from modelzoo.avrelscore import vocab
from modelzoo.avrelscore.data import model_video
from modelzoo.avrelscore.decoding import greedy_ctc
from modelzoo.avrelscore.inference import ClipInputs, encode_clip
from modelzoo.avrelscore.model import AVRelScore
from modelzoo.media.crops import mouth_crops
from modelzoo.media.faces import FaceTrack, NoFaceError, track_faces
from modelzoo.metrics.text import NORMALISATION_VERSION

PREFERRED_READERS = ("avsr-video-demo", "avrelscore-demo")


def lip_reader_id() -> str | None:
    """The first preferred lip reader whose weights are here, None when there is none."""
    from modelzoo.zoo.loading import weights_available
    from modelzoo.zoo.registry import REGISTRY

    for model_id in PREFERRED_READERS:
        if model_id in REGISTRY and weights_available(REGISTRY[model_id]):
            return model_id
    return None


def protocol(reader_id: str, revision: str) -> dict:
    return {
        "reader": reader_id,
        "reader_revision": revision,
        "audio": "zeros (masked)",
        "decoder": "greedy CTC",
        "normalisation": NORMALISATION_VERSION,
    }


def mouth_input(
    frames: np.ndarray, track: FaceTrack | None
) -> tuple[torch.Tensor | None, np.ndarray | None]:
    """AV-RelScore's (T, 1, 88, 88) video input of (T, H, W, 3) RGB frames along their face track
    and the frames that show a face; (None, None) without a face. The crops are those of
    `MouthCropper`, which tracks as it goes; here the track is reused."""
    if track is None:
        return None, None
    patches = np.stack([crop.image for crop in mouth_crops(frames, track.landmarks)])
    return model_video(patches, None, track.has_face), track.has_face


@torch.inference_mode()
def decode(model: AVRelScore, clip: ClipInputs) -> tuple[str, dict[str, np.ndarray | None]]:
    """Greedy transcript of a clip and each stream's per-frame reliability (None without one)."""
    model.eval()
    encoded = encode_clip(model, clip)
    tokens = greedy_ctc(model.ctc_log_probs(encoded), encoded.mask.sum(1))[0]

    def per_frame(scores):
        return None if scores is None else scores[0].float().mean(-1).cpu().numpy()

    reliability = {
        "audio": per_frame(encoded.audio_scores) if clip.audio is not None else None,
        "video": per_frame(encoded.video_scores) if clip.video is not None else None,
    }
    return vocab.decode(tokens).strip(), reliability


def read_lips_file(model: AVRelScore, video: Path) -> str:
    """What the lip reader reads from a video file's frames (its audio, if any, is not heard)."""
    from modelzoo.media import io as media_io

    return read_lips(model, np.concatenate(list(media_io.iter_frames(Path(video)))))


def read_lips(model: AVRelScore, frames: np.ndarray) -> str:
    """What the lip reader reads from (T, H, W, 3) frames with no audio; "" without a face."""
    try:
        track = track_faces(frames)
    except NoFaceError:
        return ""
    video, _ = mouth_input(frames, track)
    if video is None:
        return ""
    text, _ = decode(model, ClipInputs(video, None, len(video)))
    return text
