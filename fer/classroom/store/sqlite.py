"""The store as one SQLite file: enough for one host, and what ``make run`` uses."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from fer.classroom.rooms import (
    MAX_DISPLAY_NAME,
    MAX_LECTURE_NAME,
    NameTakenError,
    Room,
    RoomClosedError,
    RoomLockedError,
    Student,
    StudentLeftError,
    StudentRemovedError,
    UnknownRoomError,
    UnknownStudentError,
    clean_name,
    hash_teacher_key,
    name_key,
    new_room_code,
    new_secret_token,
    new_teacher_key,
    normalize_room_code,
    token_hash,
    verify_teacher_key,
)
from fer.classroom.samples import Moment, StudentSample
from fer.classroom.store.base import (
    DEFAULT_RETENTION_S,
    MAX_MOMENT_LABEL,
    StorageUnavailableError,
    Store,
    StoreError,
)
from fer.config import DB_FILENAME
from fer.emotions import EMOTIONS

_PROB_COLUMNS = tuple(EMOTIONS)  # one REAL column per emotion, NULL when no face was seen
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS rooms (
    code TEXT PRIMARY KEY,
    lecture TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    closed_at REAL
);
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL REFERENCES rooms(code),
    name TEXT NOT NULL,
    joined_at REAL NOT NULL,
    left_at REAL,
    last_seen_at REAL,
    last_face_at REAL
);
CREATE INDEX IF NOT EXISTS students_by_room ON students(room, joined_at);
CREATE TABLE IF NOT EXISTS samples (
    room TEXT NOT NULL REFERENCES rooms(code),
    student TEXT NOT NULL REFERENCES students(id),
    time REAL NOT NULL,
    {", ".join(f"{name} REAL" for name in _PROB_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS samples_by_room_time ON samples(room, time);
CREATE INDEX IF NOT EXISTS samples_by_student_time ON samples(student, time);
CREATE TABLE IF NOT EXISTS moments (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL REFERENCES rooms(code),
    time REAL NOT NULL,
    label TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS moments_by_room_time ON moments(room, time);
"""

#: Each schema version after 1, as the statements that upgrade the version before it in
#: place; a file of any older version is brought up to date step by step when opened.
#: Add a new step at the end (never edit a shipped one).
_MIGRATIONS: list[tuple[int, str]] = [
    (2, """
ALTER TABLE rooms ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE students ADD COLUMN consent_version TEXT;
ALTER TABLE students ADD COLUMN consent_at REAL;
ALTER TABLE students ADD COLUMN removed_at REAL;
ALTER TABLE students ADD COLUMN resume_hash TEXT;
CREATE UNIQUE INDEX students_by_resume ON students(resume_hash);
CREATE INDEX rooms_by_created ON rooms(created_at);
CREATE TABLE teacher_sessions (
    token_hash TEXT PRIMARY KEY,
    room TEXT NOT NULL REFERENCES rooms(code),
    expires_at REAL NOT NULL
);
CREATE INDEX teacher_sessions_by_room ON teacher_sessions(room);
CREATE TABLE counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
"""),
]
_SCHEMA_VERSION = _MIGRATIONS[-1][0]


class _Holder:
    """A thread's connection; it lives exactly as long as the thread-local slot holding it."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn


class SQLiteStore(Store):
    """The store as one SQLite file (``classmood.sqlite3``) in ``data_dir``.

    Each thread gets its own connection, because student video threads write while the
    dashboard reads; WAL mode lets readers proceed during a write, and writes take the
    lock up front (``BEGIN IMMEDIATE``) and wait up to ``busy_timeout_s`` for it, which
    is what makes several app processes on one host safe.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
        retention_s: float = DEFAULT_RETENTION_S,
    ):
        self.data_dir = Path(data_dir)
        self.retention_s = float(retention_s)
        self.path = self.data_dir / DB_FILENAME
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._closers: list[weakref.finalize] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageUnavailableError(
                f"data directory {self.data_dir} cannot be created ({error.strerror or error}); "
                "set CLASSMOOD_DATA_DIR to a writable folder"
            ) from error
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise StorageUnavailableError(
                f"data directory {self.data_dir} is not writable; set CLASSMOOD_DATA_DIR to a writable folder"
            )
        self._migrate()
        self._add_columns()

    def _add_columns(self) -> None:
        """Columns of samples added in place to a file made before they existed: ``facing`` (1, 0,
        NULL unknown) and ``lost`` (a connection-lost heartbeat, StudentSample.lost); their own
        step, so it composes with the schema versions."""
        with self._write() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
            if "facing" not in columns:
                conn.execute("ALTER TABLE samples ADD COLUMN facing INTEGER")
            if "lost" not in columns:
                conn.execute("ALTER TABLE samples ADD COLUMN lost INTEGER NOT NULL DEFAULT 0")

    # ---- connections and transactions

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store at {self.path} has been closed")
        holder = getattr(self._local, "holder", None)
        if holder is None:
            conn = None
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                # Deleted names and numbers are overwritten, not just unlinked, so erasing a
                # room really erases it from the file.
                conn.execute("PRAGMA secure_delete=ON")
            except sqlite3.Error as error:
                if conn is not None:
                    conn.close()
                raise StorageUnavailableError(f"cannot open the database {self.path}: {error}") from error
            holder = self._local.holder = _Holder(conn)
            # Every student's video thread opens a connection; closing it when the thread
            # ends keeps a day of lectures from running out of file descriptors.
            with self._lock:
                self._closers = [c for c in self._closers if c.alive]
                self._closers.append(weakref.finalize(holder, conn.close))
        return holder.conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write: a failure anywhere rolls the whole write back."""
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StorageUnavailableError(f"cannot write to {self.path}: {error}") from error
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise StorageUnavailableError(
                    f"cannot write to {self.path}: {error}; this write was cancelled, earlier data is intact"
                ) from error
            raise

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise StorageUnavailableError(f"cannot read {self.path}: {error}") from error

    def _migrate(self) -> None:
        with self._write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise StorageUnavailableError(
                    f"{self.path} was written by a newer ClassMood (schema {version}); upgrade, or use another CLASSMOOD_DATA_DIR"
                )
            if version < 1:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            for step, statements in _MIGRATIONS:
                if version < step:
                    for statement in statements.split(";"):
                        if statement.strip():
                            conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for closer in self._closers:
                closer()
            self._closers.clear()

    # ---- rows to records

    @staticmethod
    def _room(row: tuple) -> Room:
        return Room(code=row[0], lecture=row[1], created_at=row[2], closed_at=row[3], locked=bool(row[4]))

    @staticmethod
    def _student(row: tuple) -> Student:
        return Student(*row)

    _ROOM_COLUMNS = "code, lecture, created_at, closed_at, locked"
    _STUDENT_COLUMNS = (
        "id, room, name, joined_at, left_at, last_seen_at, last_face_at, consent_version, consent_at, removed_at"
    )

    def _room_row(self, conn: sqlite3.Connection, code: str) -> Room:
        row = conn.execute(f"SELECT {self._ROOM_COLUMNS} FROM rooms WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise UnknownRoomError(f"there is no room {code}; check the code with your teacher")
        return self._room(row)

    def _open_room_row(self, conn: sqlite3.Connection, code: str) -> Room:
        room = self._room_row(conn, code)
        if not room.is_open:
            raise RoomClosedError(f"the lecture {room.lecture!r} in room {room.code} has ended")
        return room

    # ---- rooms

    def create_room(self, lecture: str) -> tuple[str, str]:
        lecture = clean_name(lecture, "lecture name", MAX_LECTURE_NAME)
        key = new_teacher_key()
        key_hash = hash_teacher_key(key)
        with self._write() as conn:
            # 40-bit codes collide about never, but a collision must not join two lectures.
            code = new_room_code()
            while conn.execute("SELECT 1 FROM rooms WHERE code = ?", (code,)).fetchone():
                code = new_room_code()
            conn.execute(
                "INSERT INTO rooms (code, lecture, key_hash, created_at) VALUES (?, ?, ?, ?)",
                (code, lecture, key_hash, self._clock()),
            )
        return code, key

    def get_room(self, code: str) -> Room:
        code = normalize_room_code(code)
        try:
            return self._room_row(self._connection(), code)
        except sqlite3.Error as error:
            raise StorageUnavailableError(f"cannot read {self.path}: {error}") from error

    def verify_teacher(self, code: str, key: str) -> bool:
        try:
            code = normalize_room_code(code)
        except UnknownRoomError:
            return False
        rows = self._query("SELECT key_hash FROM rooms WHERE code = ?", (code,))
        return bool(rows) and verify_teacher_key(key, rows[0][0])

    def close_room(self, code: str) -> Room:
        code = normalize_room_code(code)
        with self._write() as conn:
            room = self._room_row(conn, code)
            if room.is_open:
                now = self._clock()
                conn.execute("UPDATE rooms SET closed_at = ? WHERE code = ?", (now, code))
                conn.execute("UPDATE students SET left_at = ? WHERE room = ? AND left_at IS NULL", (now, code))
                conn.execute("UPDATE students SET resume_hash = NULL WHERE room = ?", (code,))
                room = Room(room.code, room.lecture, room.created_at, now, room.locked)
        return room

    def rotate_teacher_key(self, code: str) -> str:
        code = normalize_room_code(code)
        key = new_teacher_key()
        key_hash = hash_teacher_key(key)
        with self._write() as conn:
            self._room_row(conn, code)
            conn.execute("UPDATE rooms SET key_hash = ? WHERE code = ?", (key_hash, code))
            conn.execute("DELETE FROM teacher_sessions WHERE room = ?", (code,))
        return key

    def set_locked(self, code: str, locked: bool) -> Room:
        code = normalize_room_code(code)
        with self._write() as conn:
            self._open_room_row(conn, code)
            conn.execute("UPDATE rooms SET locked = ? WHERE code = ?", (int(bool(locked)), code))
            return self._room_row(conn, code)

    # ---- teacher sessions

    def open_teacher_session(self, code: str, ttl_s: float) -> str:
        code = normalize_room_code(code)
        token = new_secret_token()
        with self._write() as conn:
            self._room_row(conn, code)
            conn.execute(
                "INSERT INTO teacher_sessions (token_hash, room, expires_at) VALUES (?, ?, ?)",
                (token_hash(token), code, self._clock() + float(ttl_s)),
            )
        return token

    def teacher_session(self, token: str) -> Room | None:
        if not isinstance(token, str) or not token:
            return None
        rows = self._query(
            f"SELECT {', '.join('r.' + c.strip() for c in self._ROOM_COLUMNS.split(','))} FROM teacher_sessions s "
            "JOIN rooms r ON r.code = s.room WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash(token), self._clock()),
        )
        return self._room(rows[0]) if rows else None

    def end_teacher_session(self, token: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM teacher_sessions WHERE token_hash = ?", (token_hash(str(token)),))

    def delete_room(self, code: str) -> None:
        code = normalize_room_code(code)
        with self._write() as conn:
            self._room_row(conn, code)
            self._delete_rooms(conn, [code])
        # Old copies of the pages linger in the write-ahead log until a checkpoint; best
        # effort, since a concurrent reader may keep the log alive a little longer.
        self._query("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _delete_rooms(conn: sqlite3.Connection, codes: list[str]) -> None:
        for code in codes:
            for table, column in (("samples", "room"), ("moments", "room"), ("teacher_sessions", "room"),
                                  ("students", "room"), ("rooms", "code")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (code,))

    # ---- students

    def join(self, code: str, display_name: str, consent_version: str | None = None) -> Student:
        code = normalize_room_code(code)
        name = clean_name(display_name, "display name", MAX_DISPLAY_NAME)
        now = self._clock()
        student = Student(
            id=secrets.token_hex(8), room=code, name=name, joined_at=now,
            consent_version=consent_version, consent_at=None if consent_version is None else now,
        )
        with self._write() as conn:
            room = self._open_room_row(conn, code)
            if room.locked:
                raise RoomLockedError(f"the teacher has locked room {code}: nobody new can join it now")
            active = conn.execute("SELECT name FROM students WHERE room = ? AND left_at IS NULL", (code,)).fetchall()
            if any(name_key(other) == name_key(name) for (other,) in active):
                raise NameTakenError(f"someone in this room is already called {name!r}; please choose another display name")
            conn.execute(
                "INSERT INTO students (id, room, name, joined_at, consent_version, consent_at) VALUES (?, ?, ?, ?, ?, ?)",
                (student.id, student.room, student.name, student.joined_at, student.consent_version, student.consent_at),
            )
        return student

    def issue_resume_token(self, student_id: str) -> str:
        token = new_secret_token()
        with self._write() as conn:
            student = self._student_row(conn, student_id)
            if student.left_at is not None:
                raise StudentLeftError(f"{student.name} has left room {student.room}; join again")
            conn.execute("UPDATE students SET resume_hash = ? WHERE id = ?", (token_hash(token), student_id))
        return token

    def resume(self, token: str) -> Student:
        rows = self._query(
            f"SELECT {', '.join('s.' + c.strip() for c in self._STUDENT_COLUMNS.split(','))} FROM students s "
            "JOIN rooms r ON r.code = s.room WHERE s.resume_hash = ? AND s.left_at IS NULL AND r.closed_at IS NULL",
            (token_hash(str(token)),),
        )
        if not rows:
            raise UnknownStudentError("this browser is not in a running class any more; join again")
        return self._student(rows[0])

    def remove_student(self, student_id: str) -> Student:
        with self._write() as conn:
            now = self._clock()
            conn.execute(
                "UPDATE students SET left_at = coalesce(left_at, ?), removed_at = coalesce(removed_at, ?), "
                "resume_hash = NULL WHERE id = ?",
                (now, now, student_id),
            )
            return self._student_row(conn, student_id)

    def delete_student_data(self, student_id: str) -> None:
        with self._write() as conn:
            self._student_row(conn, student_id)
            conn.execute("DELETE FROM samples WHERE student = ?", (student_id,))
            conn.execute("DELETE FROM students WHERE id = ?", (student_id,))
        self._query("PRAGMA wal_checkpoint(TRUNCATE)")

    def leave(self, student_id: str) -> Student:
        with self._write() as conn:
            conn.execute(
                "UPDATE students SET left_at = coalesce(left_at, ?), resume_hash = NULL WHERE id = ?",
                (self._clock(), student_id),
            )
            return self._student_row(conn, student_id)

    def _student_row(self, conn: sqlite3.Connection, student_id: str) -> Student:
        row = conn.execute(f"SELECT {self._STUDENT_COLUMNS} FROM students WHERE id = ?", (student_id,)).fetchone()
        if row is None:
            raise UnknownStudentError(f"there is no student {student_id!r}; join the room again")
        return self._student(row)

    def get_student(self, student_id: str) -> Student:
        try:
            return self._student_row(self._connection(), student_id)
        except sqlite3.Error as error:
            raise StorageUnavailableError(f"cannot read {self.path}: {error}") from error

    def students(self, code: str, include_left: bool = True) -> list[Student]:
        code = self.get_room(code).code
        where = "" if include_left else " AND left_at IS NULL"
        rows = self._query(
            f"SELECT {self._STUDENT_COLUMNS} FROM students WHERE room = ?{where} ORDER BY joined_at, rowid", (code,)
        )
        return [self._student(row) for row in rows]

    # ---- samples

    def record(self, samples: Iterable[StudentSample]) -> None:
        batch = list(samples)
        if not batch:
            return
        with self._write() as conn:
            checked: dict[tuple[str, str], None] = {}
            last: dict[str, tuple[float, float | None]] = {}
            for sample in batch:
                code = normalize_room_code(sample.room)
                if (code, sample.student_id) not in checked:
                    self._open_room_row(conn, code)
                    student = self._student_row(conn, sample.student_id)
                    if student.room != code:
                        raise UnknownStudentError(f"student {sample.student_id!r} is not in room {code}")
                    if student.removed_at is not None:
                        raise StudentRemovedError(f"the teacher removed {student.name} from room {code}")
                    if student.left_at is not None:
                        raise StudentLeftError(f"{student.name} has left room {code}; join again to send samples")
                    checked[(code, sample.student_id)] = None
                seen, face = last.get(sample.student_id, (-float("inf"), None))
                if sample.has_face:
                    face = sample.time if face is None else max(face, sample.time)
                last[sample.student_id] = (max(seen, sample.time), face)
            conn.executemany(
                f"INSERT INTO samples (room, student, time, facing, lost, {', '.join(_PROB_COLUMNS)}) "
                f"VALUES (?, ?, ?, ?, ?, {', '.join('?' * len(_PROB_COLUMNS))})",
                [
                    (normalize_room_code(s.room), s.student_id, s.time, None if s.facing is None else int(s.facing),
                     int(s.lost), *(s.probs or (None,) * len(_PROB_COLUMNS)))
                    for s in batch
                ],
            )
            conn.executemany(
                "UPDATE students SET last_seen_at = max(coalesce(last_seen_at, ?1), ?1), "
                "last_face_at = CASE WHEN ?2 IS NULL THEN last_face_at ELSE max(coalesce(last_face_at, ?2), ?2) END "
                "WHERE id = ?3",
                [(seen, face, student_id) for student_id, (seen, face) in last.items()],
            )

    def samples(
        self, code: str, start: float | None = None, end: float | None = None, student_id: str | None = None
    ) -> list[StudentSample]:
        code = self.get_room(code).code
        sql = f"SELECT room, student, time, facing, lost, {', '.join(_PROB_COLUMNS)} FROM samples WHERE room = ?"
        params: list = [code]
        if start is not None:
            sql += " AND time >= ?"
            params.append(float(start))
        if end is not None:
            sql += " AND time < ?"
            params.append(float(end))
        if student_id is not None:
            sql += " AND student = ?"
            params.append(student_id)
        rows = self._query(sql + " ORDER BY time, rowid", tuple(params))
        return [
            StudentSample(room=r[0], student_id=r[1], time=r[2], probs=None if r[5] is None else tuple(r[5:]),
                          facing=None if r[3] is None else bool(r[3]), lost=bool(r[4]))
            for r in rows
        ]

    # ---- moments

    def add_moment(self, code: str, label: str, at: float | None = None) -> Moment:
        code = normalize_room_code(code)
        moment = Moment(room=code, time=self._clock() if at is None else float(at), label=clean_name(label, "moment label", MAX_MOMENT_LABEL))
        with self._write() as conn:
            self._open_room_row(conn, code)
            conn.execute("INSERT INTO moments (room, time, label) VALUES (?, ?, ?)", (code, moment.time, moment.label))
        return moment

    def moments(self, code: str, start: float | None = None, end: float | None = None) -> list[Moment]:
        code = self.get_room(code).code
        rows = self._query(
            "SELECT room, time, label FROM moments WHERE room = ? AND time >= ? AND time < ? ORDER BY time, id",
            (code, -float("inf") if start is None else float(start), float("inf") if end is None else float(end)),
        )
        return [Moment(room=r[0], time=r[1], label=r[2]) for r in rows]

    # ---- retention and counters

    def purge_expired(self) -> list[str]:
        now = self._clock()
        with self._write() as conn:
            codes = [row[0] for row in conn.execute(
                "SELECT code FROM rooms WHERE created_at < ?", (now - self.retention_s,)
            ).fetchall()]
            self._delete_rooms(conn, codes)
            conn.execute("DELETE FROM teacher_sessions WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        if codes:
            self._query("PRAGMA wal_checkpoint(TRUNCATE)")
        return codes

    def hit(self, key: str, ttl_s: float) -> int:
        now = self._clock()
        with self._write() as conn:
            conn.execute("DELETE FROM counters WHERE key = ? AND expires_at <= ?", (key, now))
            conn.execute(
                "INSERT INTO counters (key, value, expires_at) VALUES (?, 1, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = value + 1",
                (key, now + float(ttl_s)),
            )
            return conn.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()[0]

    def counter(self, key: str) -> tuple[int, float] | None:
        rows = self._query("SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, self._clock()))
        return (rows[0][0], rows[0][1]) if rows else None
