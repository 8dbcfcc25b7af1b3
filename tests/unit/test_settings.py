from __future__ import annotations

import subprocess
import sys

import pytest

from parley.settings import ConfigError, load_settings

GOOD = {
    "DATABASE_URL": "postgresql://u:p@db.example:5432/parley",
    "MONGO_URL": "mongodb://mongo.example:27017/chat",
    "PARLEY_JWT_SECRET": "x" * 32,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.chdir("/")  # no stray .env
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_good_settings_parse(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.mongo_database == "chat"
    assert settings.sqlalchemy_url.get_secret_value().startswith(
        "postgresql+asyncpg://u:p@db.example"
    )
    assert settings.db_deadline < 1


def test_the_last_store_deadline_follows_a_longer_db_deadline(env: pytest.MonkeyPatch) -> None:
    assert load_settings().last_store_seconds == 1.0
    env.setenv("PARLEY_DB_DEADLINE", "2")
    assert load_settings().last_store_seconds == 2.0
    env.setenv("PARLEY_LAST_STORE_DEADLINE", "5")
    assert load_settings().last_store_seconds == 5.0


def test_mongo_write_concern_defaults_to_majority_journaled(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.mongo_w, settings.mongo_journal) == ("majority", True)
    env.setenv("PARLEY_MONGO_WRITE_CONCERN", "2")
    assert load_settings().mongo_w == 2


def test_mongo_database_defaults_to_parley(env: pytest.MonkeyPatch) -> None:
    env.setenv("MONGO_URL", "mongodb://mongo.example:27017")
    assert load_settings().mongo_database == "parley"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL is invalid: must start with postgresql://"),
        ("DATABASE_URL", "postgresql://host", "DATABASE_URL is invalid: has no database name"),
        ("MONGO_URL", "http://x", "MONGO_URL is invalid: must start with mongodb://"),
        ("PARLEY_JWT_SECRET", "short", "PARLEY_JWT_SECRET is invalid"),
        ("PARLEY_DB_DEADLINE", "-1", "PARLEY_DB_DEADLINE is invalid"),
        ("PARLEY_LOG_LEVEL", "loud", "PARLEY_LOG_LEVEL is invalid"),
        (
            "PARLEY_SEND_LIMIT_ACCOUNT",
            "lots",
            "PARLEY_SEND_LIMIT_ACCOUNT is invalid: 'lots' is not",
        ),
        ("PARLEY_EDIT_LIMIT_IP", "0/minute", "PARLEY_EDIT_LIMIT_IP is invalid: .* allows nothing"),
        ("PARLEY_RATE_LIMIT_DEADLINE", "0", "PARLEY_RATE_LIMIT_DEADLINE is invalid"),
        (
            "PARLEY_LAST_STORE_DEADLINE",
            "0.2",
            "PARLEY_LAST_STORE_DEADLINE is invalid: must be between PARLEY_DB_DEADLINE and",
        ),
        ("PARLEY_LAST_STORE_DEADLINE", "2.5", "PARLEY_LAST_STORE_DEADLINE is invalid"),
        ("PARLEY_MONGO_WRITE_CONCERN", "0", "PARLEY_MONGO_WRITE_CONCERN is invalid: must be"),
        ("PARLEY_MONGO_WRITE_CONCERN", "most", "PARLEY_MONGO_WRITE_CONCERN is invalid"),
        ("PARLEY_MONGO_JOURNAL", "maybe", "PARLEY_MONGO_JOURNAL is invalid"),
    ],
)
def test_bad_value_names_the_variable(
    env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    env.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


@pytest.mark.parametrize("variable", sorted(GOOD))
def test_missing_variable_is_named(env: pytest.MonkeyPatch, variable: str) -> None:
    env.delenv(variable)
    with pytest.raises(ConfigError, match=f"^{variable} is not set$"):
        load_settings()


def test_cli_prints_one_line_without_traceback(env: pytest.MonkeyPatch) -> None:
    env.setenv("MONGO_URL", "nope")
    result = subprocess.run(
        [sys.executable, "-m", "parley.cli", "health"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: MONGO_URL is invalid: must start with mongodb:// or mongodb+srv://"
    ]
