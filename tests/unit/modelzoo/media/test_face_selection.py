"""Which face the tracker follows: the one a person means, in photos and videos alike.

The cases (see `face_media.selection_cases`) are the astronaut photograph and H.264 clips of it
with distractors: her round mission patch, which dlib's HOG detector takes for a face larger than
hers once the video is compressed; a second, smaller face; mirroring; clips with no face at all.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from modelzoo.media import faces
from tests.unit.modelzoo.media.face_media import (
    MOUTH_BOX,
    SMALL_FACE,
    astronaut,
    mapped_box,
    mouth_hits,
    selection_cases,
)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return {case.name: case for case in selection_cases(tmp_path_factory.mktemp("faces"))}


def _track_landmarks(frames: np.ndarray, config: faces.TrackerConfig | None = None):
    try:
        return faces.track_faces(frames, config or faces.TrackerConfig()).landmarks
    except faces.NoFaceError:
        return np.full((len(frames), faces.N_LANDMARKS, 2), np.nan, np.float32)


def test_mouth_landmarks_lie_on_her_mouth_in_99_percent_of_frames(cases):
    hits = {
        name: mouth_hits(_track_landmarks(case.frames), case.mouth_boxes)
        for name, case in cases.items()
        if case.mouth_boxes is not None
    }
    assert len(hits) >= 8
    every = np.concatenate(list(hits.values()))
    assert every.mean() >= 0.99, {name: f"{hit.sum()}/{len(hit)}" for name, hit in hits.items()}
    # Each case on its own too: a whole case lost could hide under the others' frames.
    assert all(hit.mean() >= 0.9 for hit in hits.values())


def test_clips_without_a_face_give_no_face_in_any_frame(cases):
    empty = [case for case in cases.values() if case.mouth_boxes is None]
    assert len(empty) >= 3
    for case in empty:
        with pytest.raises(faces.NoFaceError):
            faces.track_faces(case.frames, name=case.name)


def test_the_detector_fires_on_the_mission_patch_and_the_fit_there_is_rejected(cases):
    frame = cases["still-video"].frames[0]
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    boxes, _ = faces._detect(gray, 1.0, 0, 0.0)
    patch = [box for box in boxes if box[1] > 300]  # the patch sits on her suit, below her chin
    assert patch, "the HOG detector no longer fires on the patch: this test checks nothing"
    config = faces.TrackerConfig()
    fit = faces._fit(frame, patch[0])
    assert not faces.is_plausible(frame, fit, config)
    assert faces.shape_error(fit) > config.max_shape_error or (
        faces.frontal_score(frame, fit) < config.min_frontal_score
    )


def test_a_photo_and_a_video_of_it_choose_the_same_face(cases):
    photo = faces.detect_faces(astronaut())
    video = _track_landmarks(cases["still-video"].frames)
    assert len(photo) == 1
    assert np.abs(video - photo[0].landmarks).max() < 4.0


def test_faces_are_listed_largest_first_and_non_faces_left_out(cases):
    frame = cases["second-face-mirrored-x1.4"].frames[0]
    found = faces.detect_faces(frame)
    widths = [face.box[2] - face.box[0] for face in found]
    assert len(found) == 2 and widths[0] > widths[1]
    for face in found:
        assert faces.shape_error(face.landmarks) <= 0.15


def test_a_chosen_smaller_face_is_followed_without_jumping_to_the_larger(cases):
    case = cases["second-face-mirrored-x1.4"]
    small = np.stack([mapped_box(mapped_box(MOUTH_BOX, SMALL_FACE), m) for m in case.maps])
    centre = (small[0, :2] + small[0, 2:]) / 2
    config = faces.TrackerConfig(select=(float(centre[0]), float(centre[1])))
    assert mouth_hits(_track_landmarks(case.frames, config), small).all()
    assert mouth_hits(_track_landmarks(case.frames), case.mouth_boxes).all()
