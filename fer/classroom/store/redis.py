"""The store on a Redis server, so that several app processes or hosts serve one room.

Streamlit keeps each student's video in the process their browser reached; with a load
balancer in front of several processes, the teacher's dashboard lives in yet another one.
Redis is then the one place all of them write to and read from, exactly as the SQLite file
is for the processes of a single host. :class:`RedisStore` keeps :class:`fer.classroom.store.base.Store`'s
contract and passes the same test suite.

Layout (every key starts with ``prefix``, ``classmood:`` by default, so one Redis may hold
other data too)::

    room:{code}              hash   lecture, key_hash, created_at, closed_at, locked, expires_at
    room:{code}:students     list   student ids in joining order
    room:{code}:sessions     set    hashes of the room's teacher session tokens
    room:{code}:samples      zset   score = time, member = "student|time|p1,...,p7" ("-" without a face)
    room:{code}:moments      zset   score = time, member = "000000000001|label"
    room:{code}:moment_seq   int    numbers moments so equal times keep their order
    student:{id}             hash   room, name, name_key, joined_at, left_at, last_seen_at, last_face_at,
                                    consent_version, consent_at, removed_at, resume_hash
    resume:{hash}            string the student id a resume token (by its SHA-256) resumes
    tsession:{hash}          hash   room, expires_at of a teacher session token
    counter:{key}            hash   value, expires_at (rate limits)

Every key of a room expires with the room (``expires_at`` = creation + retention): Redis
itself forgets a lecture once its retention is over, and :meth:`RedisStore.purge_expired`
catches rooms written before TTLs existed. Sessions and counters expire on their own.

Why it is built this way:

* Every check-then-write (join an open room, record samples of present students) is one Lua
  script, which Redis runs atomically: the script checks everything first and writes only
  when all checks pass, so a refused batch stores nothing, as a rolled-back SQLite
  transaction does.
* A sample's member is derived from the sample itself, so writing the same batch twice (a
  retry after a lost reply, or the write-behind buffer of :mod:`fer.classroom.store.buffer` replaying
  it) stores it once. Consequently samples of one student with equal times are one sample,
  and samples of different students at equal times come back ordered by student id.
* Times are written as ``repr(float)`` strings and compared in Lua through ``tonumber``, so
  the numbers read back are bit-for-bit the ones written.
* Socket timeouts are short (1 s to connect, 2 s per command by default) and a failure
  becomes :class:`StorageUnavailableError` at once, instead of redis-py's default retries
  with back-off: a video thread must never stall for long on storage, and the buffer decides
  when to try again.
* Scripts name keys that depend on stored data (a room's students), so this needs one Redis
  server (with replicas if wanted), not Redis Cluster.

Only numbers and names are stored, as in the SQLite store: never frames or crops, and never
a teacher key, only its hash.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

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

DEFAULT_PREFIX = "classmood:"

# --------------------------------------------------------------------------- Lua scripts
# Each returns {'ok', ...} or {refusal, details...}; _refuse() turns refusals into our errors.

# Seconds until a room's ``expires_at`` (at least 1), for EXPIRE; nil for rooms without one.
_TTL = """
local function ttl(expires, now)
  if not expires then return nil end
  local t = math.ceil(tonumber(expires) - tonumber(now))
  if t < 1 then t = 1 end
  return t
end
local function expire(key, t) if t then redis.call('EXPIRE', key, t) end end
"""

# A student's resume token dies: ARGV-independent, called with the prefix and the student key.
_DROP_RESUME = """
local function drop_resume(p, skey)
  local h = redis.call('HGET', skey, 'resume_hash')
  if h then redis.call('DEL', p .. 'resume:' .. h); redis.call('HDEL', skey, 'resume_hash') end
end
"""

_CREATE_ROOM = _TTL + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'lecture', ARGV[1], 'key_hash', ARGV[2], 'created_at', ARGV[3], 'expires_at', ARGV[4])
expire(KEYS[1], ttl(ARGV[4], ARGV[3]))
return 1
"""

# KEYS: room, students, new student. ARGV: code, name, joined_at, id, name_key, consent_version ('' = none).
_JOIN = _TTL + """
local room = redis.call('HMGET', KEYS[1], 'lecture', 'closed_at', 'locked', 'expires_at')
if not room[1] then return {'unknown_room', ARGV[1]} end
if room[2] then return {'closed', ARGV[1], room[1]} end
if room[3] == '1' then return {'locked', ARGV[1]} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'taken'} end
local prefix = string.sub(KEYS[3], 1, #KEYS[3] - #ARGV[4])
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local other = redis.call('HMGET', prefix .. id, 'name_key', 'left_at')
  if other[1] == ARGV[5] and not other[2] then return {'name_taken', ARGV[2]} end
end
redis.call('HSET', KEYS[3], 'room', ARGV[1], 'name', ARGV[2], 'name_key', ARGV[5], 'joined_at', ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], 'consent_version', ARGV[6], 'consent_at', ARGV[3]) end
redis.call('RPUSH', KEYS[2], ARGV[4])
local t = ttl(room[4], ARGV[3])
expire(KEYS[2], t)
expire(KEYS[3], t)
return {'ok'}
"""

# ARGV: time, id, prefix, '1' when the teacher removes the student.
_LEAVE = _DROP_RESUME + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_student', ARGV[2]} end
redis.call('HSETNX', KEYS[1], 'left_at', ARGV[1])
if ARGV[4] == '1' then redis.call('HSETNX', KEYS[1], 'removed_at', ARGV[1]) end
drop_resume(ARGV[3], KEYS[1])
return {'ok'}
"""

_CLOSE_ROOM = _DROP_RESUME + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_room', ARGV[3]} end
if redis.call('HSETNX', KEYS[1], 'closed_at', ARGV[1]) == 1 then
  for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    redis.call('HSETNX', ARGV[2] .. id, 'left_at', ARGV[1])
    drop_resume(ARGV[4], ARGV[2] .. id)
  end
end
return {'ok'}
"""

# KEYS: room, students, samples, moments, moment_seq, sessions. ARGV: student prefix, code, prefix.
_DELETE_ROOM = _DROP_RESUME + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_room', ARGV[2]} end
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  drop_resume(ARGV[3], ARGV[1] .. id)
  redis.call('UNLINK', ARGV[1] .. id)
end
for _, h in ipairs(redis.call('SMEMBERS', KEYS[6])) do redis.call('UNLINK', ARGV[3] .. 'tsession:' .. h) end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return {'ok'}
"""

# KEYS: room, sessions. ARGV: new key hash, code, prefix.
_ROTATE_KEY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown_room', ARGV[2]} end
redis.call('HSET', KEYS[1], 'key_hash', ARGV[1])
for _, h in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('UNLINK', ARGV[3] .. 'tsession:' .. h) end
redis.call('UNLINK', KEYS[2])
return {'ok'}
"""

# KEYS: room. ARGV: '1' or '0', code.
_SET_LOCKED = """
local room = redis.call('HMGET', KEYS[1], 'lecture', 'closed_at')
if not room[1] then return {'unknown_room', ARGV[2]} end
if room[2] then return {'closed', ARGV[2], room[1]} end
redis.call('HSET', KEYS[1], 'locked', ARGV[1])
return {'ok'}
"""

# KEYS: room, sessions, session. ARGV: token hash, code, expires_at, now.
_OPEN_SESSION = _TTL + """
local room = redis.call('HMGET', KEYS[1], 'lecture', 'expires_at')
if not room[1] then return {'unknown_room', ARGV[2]} end
redis.call('HSET', KEYS[3], 'room', ARGV[2], 'expires_at', ARGV[3])
expire(KEYS[3], ttl(ARGV[3], ARGV[4]))
redis.call('SADD', KEYS[2], ARGV[1])
expire(KEYS[2], ttl(room[2], ARGV[4]))
return {'ok'}
"""

# KEYS: session. ARGV: token hash, prefix.
_END_SESSION = """
local room = redis.call('HGET', KEYS[1], 'room')
if room then redis.call('SREM', ARGV[2] .. 'room:' .. room .. ':sessions', ARGV[1]) end
redis.call('UNLINK', KEYS[1])
return {'ok'}
"""

# KEYS: student, new resume key. ARGV: id, new hash, prefix, now.
_ISSUE_RESUME = _TTL + _DROP_RESUME + """
local st = redis.call('HMGET', KEYS[1], 'room', 'name', 'left_at')
if not st[1] then return {'unknown_student', ARGV[1]} end
if st[3] then return {'left', st[1], st[2]} end
drop_resume(ARGV[3], KEYS[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'resume_hash', ARGV[2])
expire(KEYS[2], ttl(redis.call('HGET', ARGV[3] .. 'room:' .. st[1], 'expires_at'), ARGV[4]))
return {'ok'}
"""

# KEYS: student. ARGV: id, prefix.
_DELETE_STUDENT = _DROP_RESUME + """
local code = redis.call('HGET', KEYS[1], 'room')
if not code then return {'unknown_student', ARGV[1]} end
local samples = ARGV[2] .. 'room:' .. code .. ':samples'
local mine = ARGV[1] .. '|'
for _, member in ipairs(redis.call('ZRANGE', samples, 0, -1)) do
  if string.sub(member, 1, #mine) == mine then redis.call('ZREM', samples, member) end
end
redis.call('LREM', ARGV[2] .. 'room:' .. code .. ':students', 0, ARGV[1])
drop_resume(ARGV[2], KEYS[1])
redis.call('UNLINK', KEYS[1])
return {'ok'}
"""

# KEYS: counter. ARGV: now, ttl seconds.
_HIT = """
local c = redis.call('HMGET', KEYS[1], 'value', 'expires_at')
if not c[1] or tonumber(c[2]) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'value', 1, 'expires_at', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])))
  redis.call('EXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(ARGV[2]))))
  return 1
end
return redis.call('HINCRBY', KEYS[1], 'value', 1)
"""

# ARGV: prefix, number of (room, student) pairs, then per pair: room, student, latest time,
# latest face time ('' when none), then per sample: room, time, member.
_RECORD = _TTL + """
local p = ARGV[1]
local now = ARGV[3]
local pairs_end = 4 + 4 * tonumber(ARGV[2])
local ttls = {}
for i = 4, pairs_end - 1, 4 do
  local code, id = ARGV[i], ARGV[i + 1]
  local room = redis.call('HMGET', p .. 'room:' .. code, 'lecture', 'closed_at', 'expires_at')
  if not room[1] then return {'unknown_room', code} end
  if room[2] then return {'closed', code, room[1]} end
  ttls[code] = ttl(room[3], now)
  local st = redis.call('HMGET', p .. 'student:' .. id, 'room', 'name', 'left_at', 'removed_at')
  if not st[1] then return {'unknown_student', id} end
  if st[1] ~= code then return {'wrong_room', code, id} end
  if st[4] then return {'removed', code, st[2]} end
  if st[3] then return {'left', code, st[2]} end
end
for i = 4, pairs_end - 1, 4 do
  local key = p .. 'student:' .. ARGV[i + 1]
  local seen, face = ARGV[i + 2], ARGV[i + 3]
  local st = redis.call('HMGET', key, 'last_seen_at', 'last_face_at')
  if not st[1] or tonumber(seen) > tonumber(st[1]) then redis.call('HSET', key, 'last_seen_at', seen) end
  if face ~= '' and (not st[2] or tonumber(face) > tonumber(st[2])) then
    redis.call('HSET', key, 'last_face_at', face)
  end
end
for i = pairs_end, #ARGV, 3 do
  redis.call('ZADD', p .. 'room:' .. ARGV[i] .. ':samples', ARGV[i + 1], ARGV[i + 2])
end
for code, t in pairs(ttls) do expire(p .. 'room:' .. code .. ':samples', t) end
return {'ok'}
"""

# ARGV: time, label, code, now.
_ADD_MOMENT = _TTL + """
local room = redis.call('HMGET', KEYS[1], 'lecture', 'closed_at', 'expires_at')
if not room[1] then return {'unknown_room', ARGV[3]} end
if room[2] then return {'closed', ARGV[3], room[1]} end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], ARGV[1], string.format('%012d', seq) .. '|' .. ARGV[2])
local t = ttl(room[3], ARGV[4])
expire(KEYS[2], t)
expire(KEYS[3], t)
return {'ok'}
"""

_STUDENT_FIELDS = (
    "room", "name", "joined_at", "left_at", "last_seen_at", "last_face_at", "consent_version", "consent_at", "removed_at",
)


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _num(text: str | None) -> float | None:
    return None if text is None else float(text)


class RedisStore(Store):
    """The store on the Redis server at ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    Opening checks that the server answers, so a wrong ``REDIS_URL`` stops the app at start
    with a clear message. ``connect_timeout_s`` and ``timeout_s`` bound how long any call
    may wait for a dead or stalled server before raising :class:`StorageUnavailableError`.
    """

    def __init__(
        self,
        url: str,
        clock: Callable[[], float] = time.time,
        prefix: str = DEFAULT_PREFIX,
        connect_timeout_s: float = 1.0,
        timeout_s: float = 2.0,
        retention_s: float = DEFAULT_RETENTION_S,
    ):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = redact_url(url)
        self.prefix = prefix
        self.retention_s = float(retention_s)
        self._clock = clock
        self._closed = False
        self._lock = threading.Lock()
        try:
            self._redis = redis.Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=connect_timeout_s,
                socket_timeout=timeout_s,
                # One immediate retry on a connection error only: it replaces a pooled
                # connection that died with a restarted server. Timeouts are not retried,
                # since the command may have run.
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
            )
        except ValueError as error:
            raise StorageUnavailableError(f"REDIS_URL {self.url!r} is not a usable Redis URL: {error}") from error
        self._errors = redis.exceptions.RedisError
        self._scripts = {
            name: self._redis.register_script(source)
            for name, source in (
                ("create_room", _CREATE_ROOM),
                ("join", _JOIN),
                ("leave", _LEAVE),
                ("close_room", _CLOSE_ROOM),
                ("delete_room", _DELETE_ROOM),
                ("record", _RECORD),
                ("add_moment", _ADD_MOMENT),
                ("rotate_key", _ROTATE_KEY),
                ("set_locked", _SET_LOCKED),
                ("open_session", _OPEN_SESSION),
                ("end_session", _END_SESSION),
                ("issue_resume", _ISSUE_RESUME),
                ("delete_student", _DELETE_STUDENT),
                ("hit", _HIT),
            )
        }
        self._call("answer a ping", lambda r: r.ping())

    # ---- plumbing

    def _call(self, action: str, operation: Callable):
        """Run ``operation(client)``; any Redis failure becomes StorageUnavailableError."""
        if self._closed:
            raise StoreError(f"the store at {self.url} has been closed")
        try:
            return operation(self._redis)
        except self._errors as error:
            raise StorageUnavailableError(
                f"Redis at {self.url} (REDIS_URL) failed to {action}: {error}; "
                "nothing of this request was stored, earlier data is intact"
            ) from error

    def _script(self, name: str, keys: list[str], args: list) -> list:
        reply = self._call(name.replace("_", " "), lambda r: self._scripts[name](keys=keys, args=args))
        if reply and reply[0] != "ok":
            _refuse(reply)
        return reply

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _room_keys(self, code: str) -> dict[str, str]:
        return {
            part: self._key("room", code, part) if part else self._key("room", code)
            for part in ("", "students", "samples", "moments", "moment_seq", "sessions")
        }

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._redis.close()
                except self._errors:
                    pass

    # ---- rooms

    def create_room(self, lecture: str) -> tuple[str, str]:
        lecture = clean_name(lecture, "lecture name", MAX_LECTURE_NAME)
        key = new_teacher_key()
        key_hash = hash_teacher_key(key)
        while True:  # 40-bit codes collide about never, but a collision must not join two lectures
            code = new_room_code()
            now = float(self._clock())
            created = self._call(
                "create a room",
                lambda r: self._scripts["create_room"](
                    keys=[self._key("room", code)], args=[lecture, key_hash, repr(now), repr(now + self.retention_s)]
                ),
            )
            if created:
                return code, key

    def get_room(self, code: str) -> Room:
        code = normalize_room_code(code)
        lecture, created_at, closed_at, locked = self._call(
            "read from", lambda r: r.hmget(self._key("room", code), "lecture", "created_at", "closed_at", "locked")
        )
        if lecture is None:
            raise UnknownRoomError(f"there is no room {code}; check the code with your teacher")
        return Room(code=code, lecture=lecture, created_at=float(created_at), closed_at=_num(closed_at), locked=locked == "1")

    def verify_teacher(self, code: str, key: str) -> bool:
        try:
            code = normalize_room_code(code)
        except UnknownRoomError:
            return False
        stored = self._call("read", lambda r: r.hget(self._key("room", code), "key_hash"))
        return stored is not None and verify_teacher_key(key, stored)

    def close_room(self, code: str) -> Room:
        code = normalize_room_code(code)
        keys = self._room_keys(code)
        self._script(
            "close_room", [keys[""], keys["students"]], [repr(float(self._clock())), self._key("student", ""), code, self.prefix]
        )
        return self.get_room(code)

    def delete_room(self, code: str) -> None:
        code = normalize_room_code(code)
        keys = self._room_keys(code)
        self._script("delete_room", list(keys.values()), [self._key("student", ""), code, self.prefix])
        # An append-only file keeps the deleted names until it is rewritten; ask for that now
        # (best effort: the command may be disabled on a managed server, or already running).
        try:
            if self._redis.info("persistence").get("aof_enabled"):
                self._redis.bgrewriteaof()
        except self._errors:
            pass

    def rotate_teacher_key(self, code: str) -> str:
        code = normalize_room_code(code)
        key = new_teacher_key()
        keys = self._room_keys(code)
        self._script("rotate_key", [keys[""], keys["sessions"]], [hash_teacher_key(key), code, self.prefix])
        return key

    def set_locked(self, code: str, locked: bool) -> Room:
        code = normalize_room_code(code)
        self._script("set_locked", [self._key("room", code)], ["1" if locked else "0", code])
        return self.get_room(code)

    # ---- teacher sessions

    def open_teacher_session(self, code: str, ttl_s: float) -> str:
        code = normalize_room_code(code)
        token = new_secret_token()
        digest = token_hash(token)
        keys = self._room_keys(code)
        now = float(self._clock())
        self._script(
            "open_session", [keys[""], keys["sessions"], self._key("tsession", digest)],
            [digest, code, repr(now + float(ttl_s)), repr(now)],
        )
        return token

    def teacher_session(self, token: str) -> Room | None:
        if not isinstance(token, str) or not token:
            return None
        code, expires_at = self._call("read", lambda r: r.hmget(self._key("tsession", token_hash(token)), "room", "expires_at"))
        if code is None or float(expires_at) <= self._clock():
            return None
        try:
            return self.get_room(code)
        except UnknownRoomError:
            return None

    def end_teacher_session(self, token: str) -> None:
        digest = token_hash(str(token))
        self._script("end_session", [self._key("tsession", digest)], [digest, self.prefix])

    # ---- students

    def join(self, code: str, display_name: str, consent_version: str | None = None) -> Student:
        code = normalize_room_code(code)
        name = clean_name(display_name, "display name", MAX_DISPLAY_NAME)
        keys = self._room_keys(code)
        while True:
            now = float(self._clock())
            student = Student(
                id=secrets.token_hex(8), room=code, name=name, joined_at=now,
                consent_version=consent_version, consent_at=None if consent_version is None else now,
            )
            reply = self._call(
                "join",
                lambda r: self._scripts["join"](
                    keys=[keys[""], keys["students"], self._key("student", student.id)],
                    args=[code, name, repr(student.joined_at), student.id, name_key(name), consent_version or ""],
                ),
            )
            if reply[0] != "taken":
                if reply[0] != "ok":
                    _refuse(reply)
                return student

    def leave(self, student_id: str) -> Student:
        self._script("leave", [self._key("student", student_id)], [repr(float(self._clock())), student_id, self.prefix, "0"])
        return self.get_student(student_id)

    def remove_student(self, student_id: str) -> Student:
        self._script("leave", [self._key("student", student_id)], [repr(float(self._clock())), student_id, self.prefix, "1"])
        return self.get_student(student_id)

    def issue_resume_token(self, student_id: str) -> str:
        token = new_secret_token()
        digest = token_hash(token)
        self._script(
            "issue_resume", [self._key("student", student_id), self._key("resume", digest)],
            [student_id, digest, self.prefix, repr(float(self._clock()))],
        )
        return token

    def resume(self, token: str) -> Student:
        student_id = self._call("read", lambda r: r.get(self._key("resume", token_hash(str(token)))))
        try:
            student = None if student_id is None else self.get_student(student_id)
            room = None if student is None else self.get_room(student.room)
        except (UnknownStudentError, UnknownRoomError):
            student = room = None
        if student is None or room is None or student.left_at is not None or not room.is_open:
            raise UnknownStudentError("this browser is not in a running class any more; join again")
        return student

    def delete_student_data(self, student_id: str) -> None:
        self._script("delete_student", [self._key("student", student_id)], [student_id, self.prefix])

    def get_student(self, student_id: str) -> Student:
        values = self._call("read", lambda r: r.hmget(self._key("student", student_id), *_STUDENT_FIELDS))
        student = _student(student_id, values)
        if student is None:
            raise UnknownStudentError(f"there is no student {student_id!r}; join the room again")
        return student

    def students(self, code: str, include_left: bool = True) -> list[Student]:
        code = self.get_room(code).code

        def read(r) -> list[tuple[str, list]]:
            ids = r.lrange(self._key("room", code, "students"), 0, -1)
            pipe = r.pipeline(transaction=False)
            for student_id in ids:
                pipe.hmget(self._key("student", student_id), *_STUDENT_FIELDS)
            return list(zip(ids, pipe.execute()))

        found = [_student(student_id, values) for student_id, values in self._call("read", read)]
        # Joining order; the list is already in it, sorting by time only guards clock skew
        # between hosts (a stable sort keeps the list order for equal times).
        found = sorted((s for s in found if s is not None), key=lambda s: s.joined_at)
        return [s for s in found if include_left or s.left_at is None]

    # ---- samples

    def record(self, samples: Iterable[StudentSample]) -> None:
        batch = list(samples)
        if not batch:
            return
        latest: dict[tuple[str, str], tuple[float, float | None]] = {}
        entries: list[str] = []
        for sample in batch:
            code = normalize_room_code(sample.room)
            seen, face = latest.get((code, sample.student_id), (-float("inf"), None))
            if sample.has_face:
                face = sample.time if face is None else max(face, sample.time)
            latest[(code, sample.student_id)] = (max(seen, sample.time), face)
            entries += [code, repr(sample.time), _member(sample)]
        args: list[str] = [self.prefix, str(len(latest)), repr(float(self._clock()))]
        for (code, student_id), (seen, face) in latest.items():
            args += [code, student_id, repr(seen), "" if face is None else repr(face)]
        self._script("record", [], args + entries)

    def samples(
        self, code: str, start: float | None = None, end: float | None = None, student_id: str | None = None
    ) -> list[StudentSample]:
        code = self.get_room(code).code
        low = "-inf" if start is None else repr(float(start))
        high = "+inf" if end is None else "(" + repr(float(end))
        members = self._call("read", lambda r: r.zrangebyscore(self._key("room", code, "samples"), low, high))
        found = [_sample(code, member) for member in members]
        return found if student_id is None else [s for s in found if s.student_id == student_id]

    # ---- moments

    def add_moment(self, code: str, label: str, at: float | None = None) -> Moment:
        code = normalize_room_code(code)
        moment = Moment(
            room=code,
            time=float(self._clock()) if at is None else float(at),
            label=clean_name(label, "moment label", MAX_MOMENT_LABEL),
        )
        keys = self._room_keys(code)
        self._script(
            "add_moment", [keys[""], keys["moments"], keys["moment_seq"]],
            [repr(moment.time), moment.label, code, repr(float(self._clock()))],
        )
        return moment

    def moments(self, code: str, start: float | None = None, end: float | None = None) -> list[Moment]:
        code = self.get_room(code).code
        low = "-inf" if start is None else repr(float(start))
        high = "+inf" if end is None else "(" + repr(float(end))
        rows = self._call(
            "read from",
            lambda r: r.zrangebyscore(self._key("room", code, "moments"), low, high, withscores=True, score_cast_func=float),
        )
        return [Moment(room=code, time=score, label=member.split("|", 1)[1]) for member, score in rows]

    # ---- retention and counters

    def purge_expired(self) -> list[str]:
        """Rooms past their retention by this store's clock (Redis's own TTLs use the
        server's clock and catch the rest); rooms written before TTLs get theirs here."""
        now = float(self._clock())
        purged = []

        def rooms(r) -> list[str]:
            return [k for k in r.scan_iter(match=self.prefix + "room:*", count=500) if k.count(":") == self.prefix.count(":") + 1]

        for key in self._call("scan", rooms):
            code = key[len(self.prefix) + len("room:"):]
            created_at = self._call("read", lambda r: r.hget(key, "created_at"))
            if created_at is None:
                continue
            expires_at = float(created_at) + self.retention_s
            if expires_at <= now:
                try:
                    self.delete_room(code)
                except UnknownRoomError:
                    continue
                purged.append(code)
            elif self._call("read", lambda r: r.ttl(key)) == -1:
                remaining = max(1, int(expires_at - now) + 1)
                self._call("expire", lambda r: r.hset(key, "expires_at", repr(expires_at)))
                for part_key in self._room_keys(code).values():
                    self._call("expire", lambda r: r.expire(part_key, remaining))
        return purged

    def hit(self, key: str, ttl_s: float) -> int:
        return int(self._call(
            "count", lambda r: self._scripts["hit"](keys=[self._key("counter", key)], args=[repr(float(self._clock())), repr(float(ttl_s))])
        ))

    def counter(self, key: str) -> tuple[int, float] | None:
        value, expires_at = self._call("read", lambda r: r.hmget(self._key("counter", key), "value", "expires_at"))
        if value is None or float(expires_at) <= self._clock():
            return None
        return int(value), float(expires_at)


def _member(sample: StudentSample) -> str:
    """``student|time|probs``, and ``|1`` or ``|0`` after it where the sample says whether the
    face was facing the screen; members written before that field existed have three parts.
    ``probs`` is ``-`` without a face, ``lost`` for a connection-lost heartbeat (StudentSample.lost)."""
    probs = ("lost" if sample.lost else "-") if sample.probs is None else ",".join(repr(p) for p in sample.probs)
    facing = "" if sample.facing is None else f"|{int(sample.facing)}"
    return f"{sample.student_id}|{sample.time!r}|{probs}{facing}"


def _sample(code: str, member: str) -> StudentSample:
    student_id, when, probs, *facing = member.split("|")
    return StudentSample(
        room=code,
        student_id=student_id,
        time=float(when),
        probs=None if probs in ("-", "lost") else tuple(float(p) for p in probs.split(",")),
        facing=bool(int(facing[0])) if facing else None,
        lost=probs == "lost",
    )


def _student(student_id: str, values: list) -> Student | None:
    room, name, joined_at, left_at, last_seen_at, last_face_at, consent_version, consent_at, removed_at = values
    if room is None:
        return None
    return Student(
        id=student_id,
        room=room,
        name=name,
        joined_at=float(joined_at),
        left_at=_num(left_at),
        last_seen_at=_num(last_seen_at),
        last_face_at=_num(last_face_at),
        consent_version=consent_version,
        consent_at=_num(consent_at),
        removed_at=_num(removed_at),
    )


#: What each refusal of a Lua script stands for, worded as the SQLite store words it (the
#: script's reply carries the details the message is formatted with).
_REFUSALS = {
    "unknown_room": (UnknownRoomError, "there is no room {0}; check the code with your teacher"),
    "closed": (RoomClosedError, "the lecture {1!r} in room {0} has ended"),
    "unknown_student": (UnknownStudentError, "there is no student {0!r}; join the room again"),
    "wrong_room": (UnknownStudentError, "student {1!r} is not in room {0}"),
    "removed": (StudentRemovedError, "the teacher removed {1} from room {0}"),
    "locked": (RoomLockedError, "the teacher has locked room {0}: nobody new can join it now"),
    "name_taken": (NameTakenError, "someone in this room is already called {0!r}; please choose another display name"),
    "left": (StudentLeftError, "{1} has left room {0}; join again to send samples"),
}


def _refuse(reply: list) -> None:
    """Raise the error a script's refusal stands for."""
    kind, *details = reply
    if kind not in _REFUSALS:
        raise StoreError(f"unexpected reply from Redis: {reply!r}")
    error, message = _REFUSALS[kind]
    raise error(message.format(*details))
