"""Head pose on real faces: angles and the facing flag on FER-2013 photos, and a picture.

    python -m fer bench-pose [--faces 600] [--picture docs/pose.jpg]

Each FER-2013 PrivateTest face (a real photo, 48x48) is enlarged to 192 px on a mid-gray
frame, found by YuNet and given its head pose (:mod:`fer.vision.pose`); the same face
mirrored must give the opposite yaw and roll, which checks the angles without labels (the
data set has none for pose). Prints the share of faces found, the spread of the angles, the
share facing the screen, and the mirror agreement. ``--picture`` draws the pose of the
astronaut photo (scikit-image) and of mirrored and tilted views of it, for the README.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from fer.bench.scenes import fer_faces, photo
from fer.vision.detect import YuNetDetector
from fer.vision.pose import head_pose, rotation

SIDE, PAD = 192, 64


def _framed(face: np.ndarray) -> np.ndarray:
    big = cv2.resize(face, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
    frame = np.full((SIDE + 2 * PAD, SIDE + 2 * PAD), 128, np.uint8)
    frame[PAD:PAD + SIDE, PAD:PAD + SIDE] = big
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def _pose(detector, frame):
    faces = detector.detect(frame)
    if not faces:
        return None
    best = max(faces, key=lambda f: f.score)
    return head_pose(best.landmarks, (frame.shape[1], frame.shape[0])), best


def draw_pose(frame: np.ndarray, face) -> np.ndarray:
    """The face's box, its head's axes from the nose (x red, y green, facing direction blue)
    and ``yaw / pitch / roll`` with the facing flag."""
    out = frame.copy()
    pose = head_pose(face.landmarks, (frame.shape[1], frame.shape[0]))
    x1, y1, x2, y2 = face.box
    colour = (60, 180, 60) if pose and pose.facing else (40, 120, 240)
    cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
    if pose is None:
        return out
    nose = face.landmarks[2]
    length = 0.6 * (x2 - x1)
    axes = rotation(pose.yaw, pose.pitch, pose.roll) @ np.diag([1.0, 1.0, -1.0])
    for column, axis_colour in zip(axes.T, ((40, 40, 230), (40, 200, 40), (230, 80, 40))):
        tip = (int(nose[0] + length * column[0]), int(nose[1] + length * column[1]))
        cv2.arrowedLine(out, (int(nose[0]), int(nose[1])), tip, axis_colour, 2, tipLength=0.15)
    text = f"yaw {pose.yaw:+.0f} pitch {pose.pitch:+.0f} roll {pose.roll:+.0f}"
    cv2.putText(out, text, (x1, max(14, y1 - 22)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    cv2.putText(out, "facing" if pose.facing else "turned away", (x1, max(28, y1 - 6)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def picture(path: str) -> None:
    """The astronaut photo, its mirror image and two tilted views, with their poses."""
    frame, _ = photo("astronaut")
    views = [frame, np.ascontiguousarray(frame[:, ::-1])]
    for angle in (-20, 20):
        matrix = cv2.getRotationMatrix2D((frame.shape[1] / 2, frame.shape[0] / 2), angle, 1.0)
        views.append(cv2.warpAffine(frame, matrix, frame.shape[1::-1], borderMode=cv2.BORDER_REFLECT))
    detector = YuNetDetector()
    tiles = []
    for view in views:
        found = _pose(detector, view)
        tiles.append(draw_pose(view, found[1]) if found else view)
    grid = np.hstack([t[10:330, 70:430] for t in tiles])
    cv2.imwrite(path, grid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=600, help="PrivateTest faces to use (default 600)")
    parser.add_argument("--picture", default=None, help="also draw the astronaut's poses into this image file")
    args = parser.parse_args(argv)
    data = fer_faces()
    if data is None:
        sys.exit("FER-2013 not found: set FER2013_PATH or put fer2013.zip in ../shared/datasets")
    detector = YuNetDetector()
    poses, mirror_gaps, found = [], [], 0
    for face in data.images[: args.faces]:
        frame = _framed(face)
        plain, mirrored = _pose(detector, frame), _pose(detector, np.ascontiguousarray(frame[:, ::-1]))
        if plain is None or plain[0] is None:
            continue
        found += 1
        poses.append(plain[0])
        if mirrored is not None and mirrored[0] is not None:
            m = mirrored[0]
            mirror_gaps.append((abs(plain[0].yaw + m.yaw), abs(plain[0].pitch - m.pitch), abs(plain[0].roll + m.roll)))
    yaw, pitch, roll = (np.array([getattr(p, k) for p in poses]) for k in ("yaw", "pitch", "roll"))
    gaps = np.array(mirror_gaps)
    print(f"{args.faces} FER-2013 PrivateTest faces (192 px), found with a pose: {found} ({found / args.faces:.0%})\n")
    print("| | yaw | pitch | roll |")
    print("|---|---:|---:|---:|")
    for name, q in (("median", 50), ("10th percentile", 10), ("90th percentile", 90)):
        print(f"| {name} | {np.percentile(yaw, q):+.1f} | {np.percentile(pitch, q):+.1f} | {np.percentile(roll, q):+.1f} |")
    print(f"| mirror disagreement, median (degrees) | {np.median(gaps[:, 0]):.1f} | {np.median(gaps[:, 1]):.1f} "
          f"| {np.median(gaps[:, 2]):.1f} |")
    print(f"\nfacing the screen: {np.mean([p.facing for p in poses]):.0%} of the faces found")
    if args.picture:
        picture(args.picture)
        print(f"picture: {args.picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
