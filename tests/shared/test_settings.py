from __future__ import annotations

import pytest

from shared.settings import SettingsError, load_settings


def test_defaults_serve_on_8000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUIKE_PORT", raising=False)
    settings = load_settings()
    assert settings.port == 8000
    assert settings.embedded


def test_port_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUIKE_PORT", "9123")
    assert load_settings().port == 9123


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("HUIKE_PORT", "eighty", "HUIKE_PORT"),
        ("HUIKE_PORT", "70000", "HUIKE_PORT"),
        ("HUIKE_DATABASE_URL", "mysql://x", "HUIKE_DATABASE_URL"),
        ("HUIKE_LOG_LEVEL", "LOUD", "HUIKE_LOG_LEVEL"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message and value in message
