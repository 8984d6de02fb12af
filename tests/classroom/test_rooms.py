"""Room codes, teacher keys, and who may enter which room."""

from __future__ import annotations

import re

import pytest

from fer.classroom.rooms import (
    CODE_ALPHABET,
    InvalidNameError,
    RoomClosedError,
    TeacherKeyError,
    UnknownRoomError,
    clean_name,
    hash_teacher_key,
    new_room_code,
    new_teacher_key,
    normalize_room_code,
    verify_teacher_key,
)
from fer.classroom.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path):
    with SQLiteStore(tmp_path / "data") as store:
        yield store


def test_room_codes_are_two_groups_of_four_unambiguous_symbols():
    codes = {new_room_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)
        assert not set(code.replace("-", "")) & set("0O1I")
    assert not set(CODE_ALPHABET) & set("0O1I")
    assert len(CODE_ALPHABET) == 32


def test_teacher_keys_are_long_and_random():
    keys = {new_teacher_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(re.fullmatch(r"([A-Z2-9]{4}-){3}[A-Z2-9]{4}", key) for key in keys)


def test_a_code_typed_loosely_is_recognised():
    assert normalize_room_code(" k7qm 3xhd ") == "K7QM-3XHD"
    assert normalize_room_code("k7qm3xhd") == "K7QM-3XHD"


@pytest.mark.parametrize("typed", ["", "ABC-DEF", "ABCD-EFGH-J", "ABCD-EF0H", "OOOO-IIII", "ABCD_EFGH"])
def test_text_that_cannot_be_a_code_is_an_unknown_room(typed):
    with pytest.raises(UnknownRoomError, match="not a room code"):
        normalize_room_code(typed)


def test_key_hash_verifies_the_key_and_nothing_else():
    key = new_teacher_key()
    stored = hash_teacher_key(key)
    assert key not in stored and key.replace("-", "") not in stored
    assert verify_teacher_key(key, stored)
    assert verify_teacher_key(key.lower().replace("-", " "), stored)
    assert not verify_teacher_key(new_teacher_key(), stored)
    assert not verify_teacher_key("", stored)


def test_the_same_key_hashes_differently_per_room():
    key = new_teacher_key()
    assert hash_teacher_key(key) != hash_teacher_key(key)


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y$z$aa$bb", "scrypt$16384$8$1$zz$zz"])
def test_a_malformed_stored_hash_never_verifies(stored):
    assert not verify_teacher_key(new_teacher_key(), stored)


def test_names_are_trimmed_and_bad_ones_refused():
    assert clean_name("  Ada   Lovelace ", "name", 40) == "Ada Lovelace"
    for bad in ["", "   ", "x" * 41, "Ada\x07", "Ada\u202e"]:
        with pytest.raises(InvalidNameError):
            clean_name(bad, "name", 40)


def test_the_teacher_key_opens_the_dashboard_and_a_wrong_key_is_refused(store):
    code, key = store.create_room("Algebra")
    other_code, other_key = store.create_room("Biology")
    assert store.authenticate_teacher(code, key).lecture == "Algebra"
    assert store.verify_teacher(code.lower(), key)
    with pytest.raises(TeacherKeyError, match=code):
        store.authenticate_teacher(code, other_key)
    assert not store.verify_teacher(code, other_key)
    assert not store.verify_teacher(other_code, key)
    assert not store.verify_teacher(code, "")


def test_an_unknown_room_is_refused_with_a_clear_message(store):
    assert not store.verify_teacher("ABCD-EFGH", "anything")
    assert not store.verify_teacher("nonsense", "anything")
    with pytest.raises(UnknownRoomError, match="no room ABCD-EFGH"):
        store.authenticate_teacher("ABCD-EFGH", "anything")
    with pytest.raises(UnknownRoomError):
        store.join("ABCD-EFGH", "Ada")


def test_an_ended_lecture_cannot_be_joined_but_its_teacher_still_gets_in(store):
    code, key = store.create_room("Algebra")
    store.close_room(code)
    with pytest.raises(RoomClosedError, match="Algebra.*has ended"):
        store.join(code, "Ada")
    assert not store.authenticate_teacher(code, key).is_open
