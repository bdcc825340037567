"""The daemon's settings: defaults from DESIGN.md, and errors that name the variable."""

from __future__ import annotations

import pytest

from fairscribe.daemon.settings import Settings
from fairscribe.shared.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in (
        "FAIRSCRIBE_ENGINE",
        "ASSEMBLYAI_API_KEY",
        "ASSEMBLYAI_ACCOUNT_TYPE",
        "ASSEMBLYAI_MAX_WORKERS",
        "FAIRSCRIBE_WORKERS",
        "MAX_CONCURRENT_USERS",
        "FAIRSCRIBE_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAIRSCRIBE_HOME", str(tmp_path))


def test_the_engine_is_local_without_a_key_and_assemblyai_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().engine == "local"
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", "secret-key-123456")
    settings = Settings.from_env()
    assert (settings.engine, settings.assemblyai_max_workers) == ("assemblyai", 5)
    assert "secret-key-123456" not in repr(settings)
    monkeypatch.setenv("ASSEMBLYAI_ACCOUNT_TYPE", "paid")
    assert Settings.from_env().assemblyai_max_workers == 20


def test_defaults_follow_the_design(tmp_path) -> None:
    settings = Settings.from_env()
    assert settings.max_concurrent_users == 4
    assert settings.simulated_seconds == 0.05
    assert settings.database_url == f"sqlite:///{tmp_path / 'fairscribe.db'}"
    assert settings.workers >= 1


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("FAIRSCRIBE_WORKERS", "many", "is not a whole number"),
        ("FAIRSCRIBE_WORKERS", "0", "must be at least 1"),
        ("FAIRSCRIBE_SIMULATED_SECONDS", "fast", "is not a number"),
        ("FAIRSCRIBE_ENGINE", "whisper", "is not one of"),
        ("ASSEMBLYAI_ACCOUNT_TYPE", "gold", "is not 'free' or 'paid'"),
        ("FAIRSCRIBE_LISTEN", "localhost", "is not HOST:PORT"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        Settings.from_env()
    assert name in str(refused.value) and words in str(refused.value)
