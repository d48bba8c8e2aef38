"""Settings: defaults, and start-up refusing what is missing or unsafe, by name."""

from pathlib import Path

import pytest
from azu_ws import PLACEHOLDER_SECRET

from {{ cookiecutter.package_name }}.config import SettingsError, load_settings

from .conftest import TEST_SECRET


@pytest.fixture(autouse=True)
def _away_from_the_projects_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.jwt_algorithm == "HS256"
    assert (settings.jwt_audience, settings.jwt_issuer) == (None, None)
    assert (settings.ws_ping_interval, settings.ws_ping_timeout) == (30, 10)
    assert settings.ws_max_message_size == 1024 * 1024
    assert settings.broker_url == "memory://"


def test_missing_secret_is_named() -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings()


def test_short_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "x" * 31)
    with pytest.raises(SettingsError, match=r"JWT_SECRET: .*32 bytes"):
        load_settings()


def test_placeholder_secret_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_SECRET", PLACEHOLDER_SECRET)
    for environment in ("production", "staging"):
        monkeypatch.setenv("ENVIRONMENT", environment)
        with pytest.raises(SettingsError, match="JWT_SECRET is the public placeholder"):
            load_settings()
    monkeypatch.setenv("ENVIRONMENT", "development")
    assert load_settings().environment == "development"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_ALGORITHM", "none"),
        ("JWT_ALGORITHM", "PS256"),
        ("WS_PING_INTERVAL", "soon"),
        ("WS_MAX_MESSAGE_SIZE", "-1"),
        ("BROKER_URL", "kafka://somewhere"),
        ("ENVIRONMENT", "prod"),
        ("LOG_LEVEL", "verbose"),
        ("LOG_FORMAT", "xml"),
        ("ROOT_PATH", "rt"),
        ("ROOT_PATH", "https://example.com/rt"),
    ],
)
def test_invalid_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_log_and_proxy_settings_are_read_in_any_case_and_a_root_path_in_any_spelling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("ROOT_PATH", "/realtime/")
    settings = load_settings()
    assert (settings.log_level, settings.log_format) == ("warning", "json")
    assert settings.root_path == "/realtime"
    assert (settings.proxy_headers, settings.forwarded_allow_ips) == (True, "127.0.0.1,::1")


def test_settings_are_read_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"JWT_SECRET={TEST_SECRET}\nJWT_AUDIENCE=\nWS_PING_INTERVAL=5\n")
    settings = load_settings()
    assert settings.ws_ping_interval == 5
    assert settings.jwt_audience is None
