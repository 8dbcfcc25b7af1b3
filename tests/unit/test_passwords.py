"""argon2id password hashing: the stored format, verification, rehash policy."""

from __future__ import annotations

from parley.auth import passwords


async def test_hash_is_argon2id_and_salted() -> None:
    first = await passwords.hash_password("correct horse")
    second = await passwords.hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "correct horse" not in first


async def test_verify_accepts_only_the_password() -> None:
    stored = await passwords.hash_password("correct horse")
    assert await passwords.verify_password(stored, "correct horse")
    assert not await passwords.verify_password(stored, "correct horse ")
    assert not await passwords.verify_password(stored, "")


async def test_garbage_hash_and_missing_hash_are_a_mismatch_not_an_error() -> None:
    assert not await passwords.verify_password("not-a-real-hash", "whatever1")
    assert not await passwords.verify_password(None, "whatever1")


async def test_unicode_passwords_round_trip() -> None:
    stored = await passwords.hash_password("pässwörd-🔑")
    assert await passwords.verify_password(stored, "pässwörd-🔑")


def test_weaker_or_foreign_hashes_need_rehash() -> None:
    weak = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$Uf1y0pIrcF8Ez9wwkQo1vQ"
    assert passwords.needs_rehash(weak)
    assert passwords.needs_rehash("not-a-real-hash")
