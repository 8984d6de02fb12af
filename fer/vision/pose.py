"""Head pose from a detector's five landmarks, and whether the face is turned to the screen.

A teacher asks "how many are with me", and a face seen from the side or from above is the
visible part of that; so each face with landmarks gets its head's yaw, pitch and roll,
found by fitting a generic 3D face (:data:`FACE_MODEL`) to the five points with
``cv2.solvePnP``. The camera is unknown, so its intrinsics are guessed from the frame size:
focal length = frame width (a field of view of about 53 degrees, a typical webcam), the
principal point in the middle, no lens distortion.

Conventions (degrees, 0 = looking straight into the camera):

- yaw: turning the head about the vertical axis; positive when the face turns towards the
  image's right side;
- pitch: nodding; positive when the face tilts down (chin towards the chest);
- roll: tilting the head towards a shoulder; positive when the eye line runs down towards
  the image's right.

Limits, which the dashboard repeats: the model is one average face, five points cannot
see the eyes' direction, and landmarks of faces under about 60 pixels are coarse; so the
angles are good to several degrees on clear faces and rough on small ones. Facing the
camera is not paying attention: a student can face the screen and think of something else,
or look down at a notebook and follow closely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: A generic face's five points (millimetres; x to the image's right, y down, z away from the
#: camera, nose tip at the origin), in the detectors' order: image-left eye, image-right eye,
#: nose tip, image-left and image-right mouth corner. Average adult proportions: 64 mm between
#: the eye centres, eyes 35 mm above and 30 mm behind the nose tip, mouth corners 50 mm apart,
#: 30 mm below and 22 mm behind it.
FACE_MODEL = np.array(
    [
        [-32.0, -35.0, 30.0],
        [32.0, -35.0, 30.0],
        [0.0, 0.0, 0.0],
        [-25.0, 30.0, 22.0],
        [25.0, 30.0, 22.0],
    ],
    np.float64,
)

#: A face counts as facing the screen when its yaw is at most this many degrees either way:
#: beyond about 30 degrees the far eye is hidden and the gaze has left a laptop's screen.
FACING_MAX_YAW = 30.0
#: ... and its pitch at most this many: a webcam sits above the screen, so looking at the
#: screen is a slight downward pitch (10-15 degrees), and writing or a phone is far more.
FACING_MAX_PITCH = 25.0


@dataclass(frozen=True)
class HeadPose:
    """A head's yaw, pitch and roll in degrees (see the module's conventions)."""

    yaw: float
    pitch: float
    roll: float

    @property
    def facing(self) -> bool:
        """Turned towards the screen: within :data:`FACING_MAX_YAW` and :data:`FACING_MAX_PITCH`."""
        return abs(self.yaw) <= FACING_MAX_YAW and abs(self.pitch) <= FACING_MAX_PITCH


def camera_matrix(frame_size: tuple[int, int]) -> np.ndarray:
    """The guessed intrinsics of a ``(width, height)`` frame: focal length = width, centred."""
    width, height = frame_size
    focal = float(width)
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], np.float64)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The rotation (model to camera) of a head at these angles: roll after yaw after pitch."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    # Yaw turns the face (which looks along -z) towards +x; pitch turns it towards +y (down).
    ry = np.array([[math.cos(y), 0.0, -math.sin(y)], [0.0, 1.0, 0.0], [math.sin(y), 0.0, math.cos(y)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), -math.sin(p)], [0.0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry @ rx


def angles(matrix: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees of a rotation made by :func:`rotation`."""
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, matrix[2, 0]))))
    pitch = math.degrees(math.atan2(matrix[2, 1], matrix[2, 2]))
    roll = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    return yaw, pitch, roll


def head_pose(landmarks: np.ndarray | None, frame_size: tuple[int, int]) -> HeadPose | None:
    """The head pose of a face from its ``(5, 2)`` landmarks in pixels of a ``(width, height)``
    frame; ``None`` without landmarks or where the fit fails."""
    if landmarks is None:
        return None
    points = np.asarray(landmarks, np.float64).reshape(-1, 2)
    if points.shape != (5, 2) or not np.isfinite(points).all() or points[1, 0] - points[0, 0] <= 0:
        return None  # no landmarks, or eyes swapped: a glitch, not a pose
    try:
        ok, rvec, _ = cv2.solvePnP(FACE_MODEL, points, camera_matrix(frame_size), None, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        return None
    if not ok:
        return None
    matrix, _ = cv2.Rodrigues(rvec)
    yaw, pitch, roll = angles(matrix)
    return HeadPose(yaw=round(yaw, 1), pitch=round(pitch, 1), roll=round(roll, 1))
