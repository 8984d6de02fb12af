"""Fixtures of the app tests: the recording camera stand-in lives with the other AppTest helpers."""

from apptest import fake_camera  # noqa: F401 (a fixture, found by name)
