"""The contract of ClassMood's one shared state: rooms, students, samples and marked moments.

Student video threads write here, the teacher's dashboard reads here, and nothing else is
shared between them, which is why several app processes can serve one room and why a
teacher who reloads the page loses nothing. :class:`Store` is the contract;
:mod:`fer.classroom.store.sqlite` keeps it in one file for a single host,
:mod:`fer.classroom.store.redis` keeps it for several hosts and passes the same tests, and
:mod:`fer.classroom.store.factory` picks one from the settings. This module imports none
of them, so the backends can import it without a circle.

Only numbers and names are stored: emotion probabilities, times, the lecture and display
names. Never frames, face crops or embeddings, and never a teacher key, only its hash.
"""


from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable

from fer.classroom.rooms import (
    Room,
    Student,
    TeacherKeyError,
)
from fer.classroom.samples import Moment, StudentSample
from fer.errors import FerError

MAX_MOMENT_LABEL = 80
#: How long a room's data is kept when the store is not told otherwise (30 days, the
#: default of ``CLASSMOOD_RETENTION_DAYS``).
DEFAULT_RETENTION_S = 30 * 86400.0


class StoreError(FerError):
    """The store cannot do what was asked for a reason outside the request itself."""


class StorageUnavailableError(StoreError):
    """The data directory or database cannot be opened or written (missing permission,
    disk full, file locked too long, Redis unreachable or stalled). The write that failed
    was rolled back as a whole; everything stored before it is intact."""


class Store(ABC):
    """Rooms, their students, the students' samples and marked moments.

    Every query is scoped by a room code, so one room's data never appears in another's.
    Room codes are accepted as people type them (``"abcd efgh"``). Methods raise the
    :mod:`fer.classroom.rooms` errors for refusals a person should see (unknown room, closed room,
    wrong key) and :class:`StorageUnavailableError` when the storage itself fails.
    Teacher-only actions (closing a room, marking moments, reading samples) do not take the
    key; pages call :meth:`authenticate_teacher` once before offering them.
    """

    # ---- rooms

    @abstractmethod
    def create_room(self, lecture: str) -> tuple[str, str]:
        """A new open room: ``(room code, teacher key)``. The key is returned only here."""

    @abstractmethod
    def get_room(self, code: str) -> Room:
        """The room, open or closed; :class:`UnknownRoomError` when there is none."""

    @abstractmethod
    def verify_teacher(self, code: str, key: str) -> bool:
        """Whether ``key`` is the teacher key of room ``code`` (False for unknown rooms)."""

    def authenticate_teacher(self, code: str, key: str) -> Room:
        """The room when ``key`` opens it, else :class:`UnknownRoomError` or :class:`TeacherKeyError`."""
        room = self.get_room(code)
        if not self.verify_teacher(room.code, key):
            raise TeacherKeyError(f"this teacher key does not open room {room.code}")
        return room

    @abstractmethod
    def close_room(self, code: str) -> Room:
        """End the lecture: students still in the room leave, nobody can join any more."""

    @abstractmethod
    def delete_room(self, code: str) -> None:
        """Erase the room and everything recorded in it (names, samples, moments), for
        when a teacher or a student asks for the data to be gone."""

    @abstractmethod
    def rotate_teacher_key(self, code: str) -> str:
        """A new teacher key for the room (returned only here); the old key stops working
        and every teacher session of the room ends."""

    @abstractmethod
    def set_locked(self, code: str, locked: bool) -> Room:
        """Lock (nobody new may join) or unlock an open room."""

    # ---- teacher sessions: the key is checked once, then a random token stands for it

    @abstractmethod
    def open_teacher_session(self, code: str, ttl_s: float) -> str:
        """A new session token for the room's teacher, valid ``ttl_s`` seconds; only its
        hash is stored. Call it only after :meth:`authenticate_teacher` succeeded."""

    @abstractmethod
    def teacher_session(self, token: str) -> Room | None:
        """The room a live session token opens, ``None`` when it is unknown, expired or ended."""

    @abstractmethod
    def end_teacher_session(self, token: str) -> None:
        """Sign out: the token stops working at once; ending an unknown token is harmless."""

    # ---- students

    @abstractmethod
    def join(self, code: str, display_name: str, consent_version: str | None = None) -> Student:
        """A new student in an open, unlocked room (:class:`RoomClosedError`,
        :class:`RoomLockedError` otherwise), recording which consent text they agreed to and
        when; :class:`NameTakenError` when a student present in the room has the name."""

    @abstractmethod
    def issue_resume_token(self, student_id: str) -> str:
        """A secret token that resumes this student in a reloaded page (a cookie of their
        browser); a new token replaces the previous one. Never the student id, which
        appears in samples and pages and must not grant anything."""

    @abstractmethod
    def resume(self, token: str) -> Student:
        """The student a resume token belongs to, while they are in an open room;
        :class:`UnknownStudentError` for an unknown, replaced or ended token."""

    @abstractmethod
    def remove_student(self, student_id: str) -> Student:
        """The teacher sends a student out: they leave, their resume token dies and their
        stream's next samples are refused (:class:`StudentRemovedError`)."""

    @abstractmethod
    def delete_student_data(self, student_id: str) -> None:
        """Erase one student's name and numbers from their room (the student asks for it);
        the class aggregates are computed again without them."""

    @abstractmethod
    def leave(self, student_id: str) -> Student:
        """Mark the student as gone; leaving twice is harmless."""

    @abstractmethod
    def get_student(self, student_id: str) -> Student:
        """The student; :class:`UnknownStudentError` when there is none."""

    @abstractmethod
    def students(self, code: str, include_left: bool = True) -> list[Student]:
        """The room's students in joining order."""

    # ---- samples

    @abstractmethod
    def record(self, samples: Iterable[StudentSample]) -> None:
        """Store samples all-or-nothing; refuses samples of unknown or departed students
        and of closed rooms, and updates each student's last-seen times."""

    def record_sample(self, sample: StudentSample) -> None:
        self.record([sample])

    @abstractmethod
    def samples(
        self, code: str, start: float | None = None, end: float | None = None, student_id: str | None = None
    ) -> list[StudentSample]:
        """The room's samples with ``start <= time < end`` (open-ended when ``None``), by time."""

    # ---- moments

    @abstractmethod
    def add_moment(self, code: str, label: str, at: float | None = None) -> Moment:
        """Mark a moment of an open room at ``at`` (default: now)."""

    @abstractmethod
    def moments(self, code: str, start: float | None = None, end: float | None = None) -> list[Moment]:
        """The room's marked moments with ``start <= time < end``, by time."""

    # ---- retention and counters

    @abstractmethod
    def purge_expired(self) -> list[str]:
        """Erase every room older than the store's retention (and expired sessions and
        counters); returns the codes erased. Redis also expires keys by itself (TTLs)."""

    @abstractmethod
    def hit(self, key: str, ttl_s: float) -> int:
        """Add one to the counter ``key`` and return its value; a new counter lives
        ``ttl_s`` seconds from its first hit. Rate limits count here, so that every app
        process (every replica behind Redis) shares one count."""

    @abstractmethod
    def counter(self, key: str) -> tuple[int, float] | None:
        """``(value, expires_at)`` of a live counter, ``None`` when there is none."""

    # ---- lifetime

    def close(self) -> None:
        """Release connections; the data stays."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
