"""The vision stages, one module each: frames, detect, crop, classify, track; pipeline chains them.

No module here knows of rooms, students or storage (:mod:`fer.classroom`), nor of training.
"""
