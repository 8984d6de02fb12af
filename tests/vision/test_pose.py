import itertools

import cv2
import numpy as np
import pytest

from fer.vision.pose import FACE_MODEL, FACING_MAX_PITCH, FACING_MAX_YAW, HeadPose, camera_matrix, head_pose, rotation

ANGLES = list(itertools.product((-40, -20, 0, 20, 40), (-20, 0, 20), (-15, 0, 15)))  # 45 poses


def project(yaw, pitch, roll, size=(640, 480), offset=(40.0, -30.0), distance=600.0, noise=0.0, seed=0):
    """The generic face's five points as a camera of ``size`` sees a head at these angles."""
    rvec, _ = cv2.Rodrigues(rotation(yaw, pitch, roll))
    tvec = np.array([offset[0], offset[1], distance])
    points, _ = cv2.projectPoints(FACE_MODEL, rvec, tvec, camera_matrix(size), None)
    points = points.reshape(5, 2)
    return points + np.random.default_rng(seed).normal(0.0, noise, points.shape)


@pytest.mark.parametrize("yaw, pitch, roll", ANGLES)
def test_a_projected_face_model_gives_back_its_angles_within_5_degrees(yaw, pitch, roll):
    # Half a pixel of landmark noise on a face about 90 pixels wide, as a detector gives.
    pose = head_pose(project(yaw, pitch, roll, noise=0.5, seed=ANGLES.index((yaw, pitch, roll))), (640, 480))
    assert abs(pose.yaw - yaw) <= 5 and abs(pose.pitch - pitch) <= 5 and abs(pose.roll - roll) <= 5, pose


def test_facing_follows_the_documented_thresholds():
    assert HeadPose(yaw=FACING_MAX_YAW, pitch=-FACING_MAX_PITCH, roll=40).facing
    assert not HeadPose(yaw=FACING_MAX_YAW + 1, pitch=0, roll=0).facing
    assert not HeadPose(yaw=0, pitch=FACING_MAX_PITCH + 1, roll=0).facing
    assert head_pose(project(45, 0, 0), (640, 480)).facing is False
    assert head_pose(project(5, 10, 0), (640, 480)).facing is True


def test_missing_or_glitched_landmarks_give_no_pose():
    good = project(0, 0, 0)
    assert head_pose(None, (640, 480)) is None
    assert head_pose(good[[1, 0, 2, 3, 4]], (640, 480)) is None  # eyes swapped
    assert head_pose(np.full((5, 2), np.nan), (640, 480)) is None
    assert head_pose(good[:4], (640, 480)) is None


def test_a_real_face_looking_at_the_camera_faces_it_and_its_mirror_image_turns_the_other_way(astronaut):
    from fer.vision.detect import YuNetDetector

    frame, _ = astronaut
    size = (frame.shape[1], frame.shape[0])
    face = YuNetDetector().detect(frame)[0]
    mirror = YuNetDetector().detect(np.ascontiguousarray(frame[:, ::-1]))[0]
    pose, mirrored = head_pose(face.landmarks, size), head_pose(mirror.landmarks, size)
    assert pose.facing and mirrored.facing
    # Mirroring flips the signs of yaw and roll and keeps pitch, within the landmarks' noise:
    # YuNet's points are whole pixels of its 320-pixel search, 1.6 pixels of this photo.
    assert abs(pose.yaw + mirrored.yaw) < 6 and abs(pose.roll + mirrored.roll) < 6
    assert abs(pose.pitch - mirrored.pitch) < 10
