"""TIMELINE_* settings: converted and checked by msgspec, every error naming its variable."""

from __future__ import annotations

import pytest

from timeline.settings import Settings, SettingsError


def test_values_are_converted_from_text() -> None:
    """Numbers, booleans in their usual spellings, and levels in any case."""
    settings = Settings.from_env(
        {
            "TIMELINE_PORT": "9000",
            "TIMELINE_PUBLIC_READ": "Off",
            "TIMELINE_LOG_LEVEL": "WARNING",
            "TIMELINE_PUBLIC_URL": "https://timeline.example.org/",
        }
    )
    assert (settings.port, settings.public_read, settings.log_level) == (9000, False, "warning")
    assert settings.base_url == "https://timeline.example.org"
    assert Settings.from_env({}).base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TIMELINE_PORT": "70000"}, "TIMELINE_PORT='70000' is not valid: Expected `int` <= 65535"),
        ({"TIMELINE_PORT": "eighty"}, "TIMELINE_PORT='eighty' is not valid"),
        ({"TIMELINE_MAX_BATCH": "0"}, "TIMELINE_MAX_BATCH='0' is not valid: Expected `int` >= 1"),
        ({"TIMELINE_PUBLIC_READ": "perhaps"}, "use true or false"),
        ({"TIMELINE_PUBLIC_URL": "ftp://x"}, "TIMELINE_PUBLIC_URL='ftp://x' is not valid"),
        ({"TIMELINE_LOG_LEVEL": "loud"}, "TIMELINE_LOG_LEVEL='loud' is not valid"),
    ],
)
def test_an_unusable_value_names_its_variable(env: dict[str, str], message: str) -> None:
    """One line that says which variable, what it held, and what was expected."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert message in str(raised.value)


def test_calendar_uids_end_in_the_deployments_domain() -> None:
    """Two deployments' items never collide: the public host, or TIMELINE_UID_DOMAIN."""
    public = Settings.from_env({"TIMELINE_PUBLIC_URL": "https://timeline.example.org/base"})
    assert public.calendar_domain == "timeline.example.org"
    assert Settings.from_env({}).calendar_domain == "127.0.0.1"
    chosen = Settings.from_env({"TIMELINE_UID_DOMAIN": "feeds.example.com"})
    assert chosen.calendar_domain == "feeds.example.com"
    with pytest.raises(SettingsError, match="TIMELINE_UID_DOMAIN"):
        Settings.from_env({"TIMELINE_UID_DOMAIN": "not a domain"})
