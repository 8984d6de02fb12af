"""Who may enter which room: room codes, teacher keys, and the room and student records.

A room code is what a teacher reads aloud or pastes into a chat, so it is short and drawn
from letters nobody confuses (no 0/O, 1/I); it is random enough that nobody finds a lecture
by guessing. The teacher key guards the dashboard, so the store keeps just a salted scrypt
hash of it: a copied database file does not reveal any key. Once a key has been checked, a
random session token stands for it (and a resume token for a student's browser); the store
keeps only their SHA-256 (:func:`token_hash`), so a copied file opens no session either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass

from fer.errors import FerError

#: Letters and digits that read aloud and type back unambiguously (no 0, O, 1, I).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#: 8 symbols of 32 = 40 bits: about a trillion codes, yet two groups of four to read aloud.
ROOM_CODE_LENGTH = 8
#: 16 symbols = 80 bits: the key is never read aloud, but may be typed from a note.
TEACHER_KEY_LENGTH = 16
GROUP = 4

MAX_LECTURE_NAME = 120
MAX_DISPLAY_NAME = 40

# scrypt cost: about 50 ms and 16 MiB per check, cheap for one teacher, slow for a guesser.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SALT_BYTES, _DIGEST_BYTES = 2**14, 8, 1, 16, 32


class RoomError(FerError):
    """Base of the refusals a person sees when joining or opening a room."""


class UnknownRoomError(RoomError, LookupError):
    """No room has this code (or the text is not a room code at all)."""


class RoomClosedError(RoomError):
    """The lecture has ended; nobody can join it or send samples to it any more."""


class TeacherKeyError(RoomError, PermissionError):
    """The teacher key does not open this room's dashboard."""


class UnknownStudentError(RoomError, LookupError):
    """No such student in this room (never joined, or joined another room)."""


class StudentLeftError(RoomError):
    """The student has left the room; a new join gives a new student id."""


class InvalidNameError(RoomError, ValueError):
    """A lecture or display name that is empty, too long, or holds control characters."""


class NameTakenError(InvalidNameError):
    """Another student present in the room already uses this display name: the teacher
    must be able to tell who is who, and nobody may pose as a classmate."""


class RoomLockedError(RoomError):
    """The teacher has locked the room: nobody new may join until it is unlocked."""


class StudentRemovedError(StudentLeftError):
    """The teacher removed this student from the room; their stream and resume token end."""


@dataclass(frozen=True)
class Room:
    """One lecture. Times are Unix seconds; ``closed_at`` is ``None`` while it runs."""

    code: str
    lecture: str
    created_at: float
    closed_at: float | None = None
    locked: bool = False

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Student:
    """One student's membership of one room.

    ``last_seen_at`` is the latest sample of any kind (the connection is alive);
    ``last_face_at`` the latest sample with a face. Both are ``None`` before the first
    sample, which is normal while the browser is still asking for camera permission.
    """

    id: str
    room: str
    name: str
    joined_at: float
    left_at: float | None = None
    last_seen_at: float | None = None
    last_face_at: float | None = None
    #: Which version of the consent text the student agreed to, and when (``None`` for
    #: students written by code that asked no consent, such as the load test).
    consent_version: str | None = None
    consent_at: float | None = None
    removed_at: float | None = None

    def in_room_at(self, time: float) -> bool:
        return self.joined_at <= time and (self.left_at is None or time < self.left_at)


def _random_code(length: int) -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return "-".join(raw[i : i + GROUP] for i in range(0, length, GROUP))


def _canonical(text: str, length: int) -> str | None:
    """Upper-case, drop spaces and dashes, regroup; ``None`` when it cannot be such a code."""
    raw = re.sub(r"[\s\-]", "", str(text)).upper()
    if len(raw) != length or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return "-".join(raw[i : i + GROUP] for i in range(0, length, GROUP))


def new_room_code() -> str:
    """A fresh random code like ``"K7QM-3XHD"``."""
    return _random_code(ROOM_CODE_LENGTH)


def new_teacher_key() -> str:
    """A fresh random key like ``"K7QM-3XHD-P9RT-WWA4"``."""
    return _random_code(TEACHER_KEY_LENGTH)


def normalize_room_code(text: str) -> str:
    """The canonical form of a code as a person typed it (``"k7qm 3xhd"`` -> ``"K7QM-3XHD"``).

    Raises :class:`UnknownRoomError` when the text cannot be a room code, so a typo gets the
    same message as an unknown code.
    """
    code = _canonical(text, ROOM_CODE_LENGTH)
    if code is None:
        raise UnknownRoomError(
            f"{str(text)[:20]!r} is not a room code: codes are 8 letters and digits like ABCD-EFGH"
        )
    return code


def hash_teacher_key(key: str) -> str:
    """A self-describing salted hash (``scrypt$n$r$p$salt$digest``) safe to store.

    The parameters travel with the hash so their cost can be raised later without
    invalidating rooms already created.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(_key_bytes(key), salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _DIGEST_BYTES)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_teacher_key(key: str, stored: str) -> bool:
    """Whether ``key`` produces ``stored``; compared in constant time."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest_hex)
        actual = _scrypt(_key_bytes(key), bytes.fromhex(salt_hex), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _key_bytes(key: str) -> bytes:
    # A key typed in lower case or without dashes is the same key; anything else is hashed
    # as given so that it simply fails to match.
    canonical = _canonical(key, TEACHER_KEY_LENGTH) if isinstance(key, str) else None
    return (canonical or str(key)).encode("utf-8")


def _scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=64 * 1024 * 1024)


def new_secret_token() -> str:
    """A random bearer token (256 bits) for a teacher session or a student's resume cookie."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256. Tokens are random and long, so a plain
    hash suffices (no scrypt): a copied database opens no session and resumes no student."""
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


def name_key(name: str) -> str:
    """The form two display names are compared in: ``"Ann"`` and ``"ann "`` are one name."""
    return unicodedata.normalize("NFKC", " ".join(str(name).split())).casefold()


def clean_name(text: str, what: str, max_length: int) -> str:
    """Trimmed ``text``; names are shown on the teacher's screen, so control characters
    (which could break the layout or fake other text) are refused rather than stored."""
    if not isinstance(text, str):
        raise InvalidNameError(f"{what} must be text")
    name = unicodedata.normalize("NFC", " ".join(text.split()))
    if not name:
        raise InvalidNameError(f"{what} must not be empty")
    if len(name) > max_length:
        raise InvalidNameError(f"{what} is {len(name)} characters long; at most {max_length} are allowed")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidNameError(f"{what} must not contain control characters")
    return name
