"""Face tracking speed on CPU and which face it follows.

Speed: a generated 10 s 720p clip of a moving, zooming face. Prints frames per second for tracking
frames already in memory (detector every N frames, and every frame for comparison), for decode +
track of the encoded MP4, and for decode + track + mouth crops (one streamed pass), with the mean
landmark error against the clip's known geometry.

Selection: the tests' real-photo cases with distractors (`face_media.selection_cases`: the
astronaut photograph and clips of it with her mission patch, a second face, mirrored, 720p, and
no-face clips). Prints, per case, the frames whose mouth landmarks lie in her true mouth box (or,
for no-face clips, the frames where a face was claimed), with the plausibility check and without
it (the largest HOG detection, as before), and the time per frame.

    PYTHONPATH=. .venv/bin/python bench/faces.py [--seconds 10] [--width 1280] [--height 720]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from modelzoo.media import crops, faces
from modelzoo.media.io import VideoWriter
from tests.unit.modelzoo.media.face_media import mouth_hits, selection_cases


def make_clip(count: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames of the astronaut photograph panning and zooming, and each frame's (2, 3) map."""
    photo = data.astronaut()
    frames = np.empty((count, height, width, 3), dtype=np.uint8)
    maps = np.empty((count, 2, 3))
    base = height / 512 * 1.4  # face about a third of the frame height
    for t in range(count):
        scale = base * (1 + 0.15 * np.sin(t / 20))
        x = width / 2 - scale * 222 + 0.15 * width * np.sin(t / 31)
        y = height / 2 - scale * 125 + 0.05 * height * np.cos(t / 17)
        maps[t] = [[scale, 0, x], [0, scale, y]]
        frames[t] = cv2.warpAffine(photo, maps[t], (width, height), borderMode=cv2.BORDER_REFLECT)
    return frames, maps


def timed(label: str, count: int, run):
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {count / seconds:8.1f} fps  ({seconds:.2f} s for {count} frames)")
    return result


def landmark_error(track: faces.FaceTrack, reference: np.ndarray, maps: np.ndarray) -> float:
    truth = reference @ maps[:, :, :2].transpose(0, 2, 1) + maps[:, None, :, 2]
    return float(np.nanmean(np.linalg.norm(track.landmarks - truth, axis=2)))


def crop_in_memory(frames: np.ndarray) -> list:
    cropper = crops.MouthCropper()
    patches = [crop for frame in frames for crop in cropper.push(frame)]
    return patches + cropper.finish()[0]


def selection(folder: Path) -> None:
    """Per-case accuracy of the face choice, with and without the plausibility check."""
    rules = {
        "plausible faces": faces.TrackerConfig(),
        "largest detection": faces.TrackerConfig(max_shape_error=np.inf, min_frontal_score=-np.inf),
    }
    cases = selection_cases(folder)
    faces.detect_faces(cases[0].frames[0])  # loads dlib's 100 MB predictor outside the timing
    print(f"{'case':<28}" + "".join(f"{rule:>26}" for rule in rules))
    totals = {rule: [0, 0, 0, 0.0] for rule in rules}  # hits, face frames, false faces, seconds
    for case in cases:
        line = f"{case.name:<28}"
        for rule, config in rules.items():
            start = time.perf_counter()
            try:
                landmarks = faces.track_faces(case.frames, config).landmarks
            except faces.NoFaceError:
                landmarks = np.full((len(case.frames), faces.N_LANDMARKS, 2), np.nan)
            total = totals[rule]
            total[3] += time.perf_counter() - start
            if case.mouth_boxes is None:
                claimed = int((~np.isnan(landmarks[:, 0, 0])).sum())
                total[2] += claimed
                line += f"{f'{claimed}/{len(case.frames)} frames on no face':>26}"
            else:
                hits = int(mouth_hits(landmarks, case.mouth_boxes).sum())
                total[0], total[1] = total[0] + hits, total[1] + len(case.frames)
                line += f"{f'{hits}/{len(case.frames)} on her mouth':>26}"
        print(line)
    frames = sum(len(case.frames) for case in cases)
    for rule, (hits, count, false, seconds) in totals.items():
        share, per_frame = hits / count, 1000 * seconds / frames
        print(f"{rule}: mouth on her mouth in {hits}/{count} frames ({share:.1%}), "
              f"{false} frames on a non-face, {per_frame:.1f} ms per frame")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--skip-speed", action="store_true", help="the selection cases only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        selection(Path(tmp))
    if args.skip_speed:
        return
    count = int(args.seconds * 25)
    frames, maps = make_clip(count, args.width, args.height)
    reference = faces.detect_faces(data.astronaut())[0].landmarks
    print(f"clip: {count} frames of {args.width}x{args.height}, cv2 threads {cv2.getNumThreads()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        with VideoWriter(path, args.width, args.height) as writer:
            writer.write(frames)
        for every in (5, 1):
            config = faces.TrackerConfig(detect_every=every)
            track = timed(f"track in memory, detector every {every}", count,
                          lambda c=config, f=frames: faces.track_faces(f, c))  # fmt: skip
            print(f"{'':<44} landmark error {landmark_error(track, reference, maps):.2f} px")
        timed("track + mouth crops in memory (MouthCropper)", count,
              lambda f=frames: crop_in_memory(f))  # fmt: skip
        del frames  # the file passes below stream; keep the in-memory clip out of their way
        timed("decode + track (track_video)", count, lambda: faces.track_video(path))
        timed("decode + track + mouth crops (one pass)", count,
              lambda: crops.mouth_crops_video(path))  # fmt: skip


if __name__ == "__main__":
    main()
