"""List cursors are sealed: unreadable, tamper-evident, bound to their list and sort, and shared
by every replica that has the same signing secret."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared import pagination
from shared.errors import ValidationProblem
from shared.pagination import decode_cursor, encode_cursor, set_cursor_secret, time_cursor

SECRET_VALUE = "987654.32"
KEY = ["-amount", SECRET_VALUE, "7b0f3c8e-1b2a-4c5d-9e8f-0a1b2c3d4e5f"]


@pytest.fixture(autouse=True)
def keep_key() -> Iterator[None]:
    """These tests change the process's cursor key; the running app's is put back after each."""
    saved = pagination._key
    yield
    pagination._key = saved


def refused(cursor: str, bind: str = "opportunities|-amount", arity: int = 3) -> bool:
    try:
        decode_cursor(cursor, arity, bind=bind)
    except ValidationProblem as problem:
        return [e.field for e in problem.errors or []] == ["cursor"]
    return False


def test_a_cursor_reads_back_only_on_its_own_list() -> None:
    set_cursor_secret("s3cret-one")
    cursor = encode_cursor(KEY, bind="opportunities|-amount")
    assert decode_cursor(cursor, 3, bind="opportunities|-amount") == KEY
    for other in ("opportunities|amount", "customers|-amount", "opportunities|-amount ", ""):
        assert refused(cursor, bind=other), other
    assert refused(cursor, arity=2)


def test_a_cursor_does_not_carry_its_values_readable() -> None:
    cursor = encode_cursor(KEY, bind="opportunities|-amount")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for text in (SECRET_VALUE, KEY[2], "amount"):
        assert text not in cursor and text.encode() not in raw
    # The same key twice gives two different cursors (a fresh nonce): equal values cannot be spotted.
    assert encode_cursor(KEY, bind="opportunities|-amount") != cursor


def test_every_flipped_bit_and_every_truncation_is_a_422_naming_the_cursor() -> None:
    cursor = encode_cursor(KEY, bind="opportunities|-amount")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for position in range(len(raw)):
        for bit in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[position] ^= bit
            assert refused(base64.urlsafe_b64encode(bytes(tampered)).decode().rstrip("=")), position
    for length in range(1, len(cursor)):
        assert refused(cursor[:length]), length
    for junk in ("!!!", "%%", "a" * 5000, "AAAA", base64.urlsafe_b64encode(b'["-amount","1","x"]').decode()):
        assert refused(junk), junk


def test_replicas_with_the_same_secret_share_cursors_and_others_refuse_them() -> None:
    set_cursor_secret("replica-secret")
    stamp = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
    cursor = encode_cursor([stamp, "7b0f3c8e-1b2a-4c5d-9e8f-0a1b2c3d4e5f"], bind="users")
    set_cursor_secret("replica-secret")  # another process deriving the key from the same secret
    assert time_cursor(cursor, bind="users") is not None
    assert time_cursor(cursor, bind="users")[0] == stamp  # type: ignore[index]
    set_cursor_secret("rotated-secret")
    with pytest.raises(ValidationProblem):
        time_cursor(cursor, bind="users")
