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

Detectors: the same cases searched frame by frame, the face box from dlib's HOG detector or from
MediaPipe's BlazeFace (short- and full-range models) and the project's 68-point fit inside it, with
and without the plausibility check; and each detector's speed on 720p frames (wall-clock fps, and
CPU time per frame, which a busy machine changes less). MediaPipe is not a project dependency: the
comparison is skipped unless it can be imported. Only its wheels up to 0.10.21 carry BlazeFace's
.tflite (later ones need a downloaded .task file), and 0.10.14 is the last of those that does not
require numpy < 2, so install it apart from the project's environment:

    pip install --target /tmp/mp --no-deps mediapipe==0.10.14 "protobuf<5" absl-py attrs flatbuffers

    PYTHONPATH=. .venv/bin/python bench/faces.py [--seconds 10] [--width 1280] [--height 720]
                                                 [--skip-speed] [--skip-detectors]
    PYTHONPATH=.:/tmp/mp .venv/bin/python bench/faces.py --skip-speed  # with the MediaPipe figures
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
from tests.unit.modelzoo.media.face_media import SelectionCase, mouth_hits, selection_cases


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


def selection(cases: list[SelectionCase]) -> None:
    """Per-case accuracy of the face choice, with and without the plausibility check."""
    rules = {
        "plausible faces": faces.TrackerConfig(),
        "largest detection": faces.TrackerConfig(max_shape_error=np.inf, min_frontal_score=-np.inf),
    }
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


def hog_boxes(frame: np.ndarray) -> np.ndarray:
    """(N, 4) HOG boxes as the tracker looks for a face: on the frame scaled to 640 px (so its
    speed on 720p is that of 640x360), at dlib's default threshold."""
    config = faces.TrackerConfig()
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, config.detect_size / max(gray.shape))
    return faces._detect(gray, scale, config.upsample, config.min_score)[0]


# BlazeFace's keypoints (eye centres from the viewer's left, nose tip, mouth centre) on the
# canonical face, where dlib's detector would put its box: BlazeFace boxes a face differently
# (higher, wider), and the 68-point trees start from the box they were trained with.
BLAZEFACE_POINTS = np.stack(
    [faces.CANONICAL_FACE[36:42].mean(axis=0), faces.CANONICAL_FACE[42:48].mean(axis=0),
     faces.CANONICAL_FACE[30], faces.CANONICAL_FACE[48:68].mean(axis=0)]
)  # fmt: skip


def blazeface_detector(model: int):
    """A function giving (N, 4) dlib-style boxes from MediaPipe's BlazeFace (0: short range,
    1: full range), or None when mediapipe cannot be imported."""
    try:
        from mediapipe.python.solutions import face_detection
    except ImportError:
        return None
    detector = face_detection.FaceDetection(model_selection=model, min_detection_confidence=0.5)
    corners = faces.CANONICAL_BOX[[0, 1, 2, 1, 0, 3, 2, 3]].reshape(4, 2)

    def boxes(frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        found = []
        for detection in detector.process(frame).detections or []:
            keypoints = detection.location_data.relative_keypoints[:4]
            points = np.array([[p.x * width, p.y * height] for p in keypoints], np.float32)
            to_canonical, _ = cv2.estimateAffinePartial2D(points, BLAZEFACE_POINTS)
            if to_canonical is not None:
                from_canonical = cv2.invertAffineTransform(to_canonical)
                mapped = corners @ from_canonical[:, :2].T + from_canonical[:, 2]
                found.append([*mapped.min(axis=0), *mapped.max(axis=0)])
        return np.array(found, np.float32).reshape(-1, 4)

    return boxes


def frame_by_frame(frames: np.ndarray, boxes_of, checked: bool) -> np.ndarray:
    """(T, 68, 2) fits in the largest box of each frame (of the plausible ones when `checked`)."""
    config = faces.TrackerConfig()
    landmarks = np.full((len(frames), faces.N_LANDMARKS, 2), np.nan, np.float32)
    for t, frame in enumerate(frames):
        boxes = boxes_of(frame)
        for index in np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])):
            fit = faces._fit(frame, boxes[index])
            if fit is not None and (not checked or faces.is_plausible(frame, fit, config)):
                landmarks[t] = fit
                break
    return landmarks


def detector_comparison(cases: list[SelectionCase], width: int, height: int) -> None:
    """Per-case hits with the face box from each detector, and each detector's speed."""
    detectors = {"HOG": hog_boxes}
    for model, name in [(0, "BlazeFace-short"), (1, "BlazeFace-full")]:
        detector = blazeface_detector(model)
        if detector is None:
            print("MediaPipe comparison skipped: mediapipe cannot be imported (see this file's "
                  "docstring for a wheel that carries BlazeFace's model)")  # fmt: skip
            break
        detectors[name] = detector
    columns = [(name, checked) for name in detectors for checked in (False, True)]
    print(f"\nper frame, box from: {'':<10}" + "".join(f"{n:>16}" for n, _ in columns))
    print(f"{'case':<32}" + "".join(f"{'+ check' if c else 'largest':>16}" for _, c in columns))
    totals = {column: [0, 0, 0] for column in columns}  # hits, face frames, frames on a non-face
    for case in cases:
        line = f"{case.name:<32}"
        for column in columns:
            landmarks = frame_by_frame(case.frames, detectors[column[0]], column[1])
            total = totals[column]
            if case.mouth_boxes is None:
                claimed = int((~np.isnan(landmarks[:, 0, 0])).sum())
                total[2] += claimed
                line += f"{f'{claimed} false':>16}"
            else:
                hits = int(mouth_hits(landmarks, case.mouth_boxes).sum())
                total[0], total[1] = total[0] + hits, total[1] + len(case.frames)
                line += f"{f'{hits}/{len(case.frames)}':>16}"
        print(line)
    print(f"{'on her mouth':<32}" + "".join(f"{f'{h / n:.1%}':>16}" for h, n, _ in totals.values()))
    print(f"{'frames on a non-face':<32}" + "".join(f"{f:>16}" for _, _, f in totals.values()))
    frames, _ = make_clip(50, width, height)
    for name, boxes_of in detectors.items():
        start, cpu = time.perf_counter(), time.process_time()
        for frame in frames:
            boxes_of(frame)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"{name} detector on {width}x{height}: {len(frames) / seconds:.1f} fps, "
              f"{1000 * cpu / len(frames):.1f} CPU ms per frame")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--skip-speed", action="store_true", help="no tracking speed figures")
    parser.add_argument("--skip-detectors", action="store_true", help="no detector comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = selection_cases(Path(tmp))
    selection(cases)
    if not args.skip_detectors:
        detector_comparison(cases, args.width, args.height)
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
