"""Rotating the JWT key without logging everyone out (issue 15): new tokens are
signed with PARLEY_JWT_SECRET; tokens signed with a key in
PARLEY_JWT_PREVIOUS_SECRETS stay valid until they expire."""

from __future__ import annotations

import uuid

import pytest

from parley.auth.tokens import InvalidToken, issue_token, verify_claims
from parley.settings import ConfigError, load_settings

OLD = "old-key-0123456789-0123456789-0123456789"
NEW = "new-key-0123456789-0123456789-0123456789"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.chdir("/")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/parley")
    monkeypatch.setenv("MONGO_URL", "mongodb://mongo.example:27017/chat")
    monkeypatch.setenv("PARLEY_JWT_SECRET", NEW)
    return monkeypatch


def test_previous_keys_verify_but_do_not_sign(env: pytest.MonkeyPatch) -> None:
    env.setenv("PARLEY_JWT_PREVIOUS_SECRETS", f"{OLD}, ")
    settings = load_settings()
    keys = settings.jwt_verification_keys()
    assert keys == [NEW, OLD]
    profile = uuid.uuid4()
    old_token = issue_token(profile, OLD, 60)
    assert verify_claims(old_token, keys).profile_id == profile
    assert verify_claims(issue_token(profile, NEW, 60), keys).profile_id == profile
    with pytest.raises(InvalidToken):
        verify_claims(old_token, [NEW])
    assert OLD in settings.secret_values()
    assert OLD not in repr(settings)


def test_previous_keys_must_be_long_enough(env: pytest.MonkeyPatch) -> None:
    env.setenv("PARLEY_JWT_PREVIOUS_SECRETS", "short")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "PARLEY_JWT_PREVIOUS_SECRETS" in str(error.value)
    assert "short" not in str(error.value)
