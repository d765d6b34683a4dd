"""Settings from `TIMELINE_*` environment variables, read once into one frozen object."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

REPO_EVENTS = Path(__file__).resolve().parent.parent / "events"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite:///timeline.db"
    """TIMELINE_DATABASE_URL: `sqlite:///PATH` (relative to the working folder)."""
    migrate_url: str = ""
    """TIMELINE_MIGRATE_URL: PostgreSQL URL of the role that owns the tables and migrates them;
    empty: the app's own role migrates (README, Scaling out)."""
    host: str = "127.0.0.1"
    """TIMELINE_HOST: address the API listens on."""
    port: int = 8000
    """TIMELINE_PORT: port the API listens on."""
    public_read: bool = True
    """TIMELINE_PUBLIC_READ: reads need no token when true."""
    curated_dir: str = str(REPO_EVENTS)
    """TIMELINE_CURATED_DIR: NDJSON loaded into an empty store on first start; empty = none."""
    max_body_bytes: int = 1_048_576
    """TIMELINE_MAX_BODY_BYTES: largest request body accepted (413 above)."""
    max_batch: int = 100
    """TIMELINE_MAX_BATCH: most events in one append (413 above)."""
    sse_heartbeat: int = 15
    """TIMELINE_SSE_HEARTBEAT: seconds between heartbeat comments on idle event streams."""
    sse_max_lag: int = 10_000
    """TIMELINE_SSE_MAX_LAG: a live subscriber this many events behind is disconnected."""
    public_url: str = ""
    """TIMELINE_PUBLIC_URL: the address links are built from (never the request's Host);
    empty: http://HOST:PORT."""
    cors_origins: str = ""
    """TIMELINE_CORS_ORIGINS: comma-separated origins browsers may call from; empty: none."""
    trusted_proxies: str = ""
    """TIMELINE_TRUSTED_PROXIES: comma-separated proxy addresses whose X-Forwarded-For and
    X-Forwarded-Proto are believed; empty: none."""
    token_file: str = ""
    """TIMELINE_TOKEN_FILE: where `serve` writes the first token when stdout is not a terminal;
    empty: `first-token.txt` beside a SQLite database, else in the working folder."""
    log_level: str = "info"
    """TIMELINE_LOG_LEVEL: debug, info, warning or error."""

    def __post_init__(self) -> None:
        if self.public_url and _PUBLIC_URL.fullmatch(self.public_url) is None:
            raise SettingsError(
                f"TIMELINE_PUBLIC_URL={self.public_url!r} is not an http(s) address such as "
                "https://timeline.example.org (no query or fragment)"
            )
        if self.log_level.lower() not in LOG_LEVELS:
            raise SettingsError(
                f"TIMELINE_LOG_LEVEL={self.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )

    @property
    def base_url(self) -> str:
        """Where this API is reached from outside: links in answers and feeds start with it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def cors_origin_list(self) -> list[str]:
        return _items(self.cors_origins)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _items(self.trusted_proxies)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in msgspec.structs.fields(cls):
            key = f"TIMELINE_{name.name.upper()}"
            if key in env:
                values[name.name] = _parse(key, env[key], name.type)
        try:
            return cls(**values)  # type: ignore[arg-type]
        except SettingsError:
            raise
        except (TypeError, ValueError) as error:
            raise SettingsError(str(error)) from None

    @classmethod
    def stray(cls, environ: Mapping[str, str] | None = None) -> list[str]:
        """A warning for each TIMELINE_* variable that is no setting (a typo goes unnoticed)."""
        env = os.environ if environ is None else environ
        known = [f"TIMELINE_{f.name.upper()}" for f in msgspec.structs.fields(cls)]
        warnings = []
        for key in sorted(env):
            if not key.startswith("TIMELINE_") or key in known or key.startswith(_NOT_SETTINGS):
                continue
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"{key} is not a setting and is ignored{hint}")
        return warnings

    @property
    def curated_path(self) -> Path | None:
        return Path(self.curated_dir) if self.curated_dir else None


LOG_LEVELS = ("debug", "info", "warning", "error")
_PUBLIC_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?", re.ASCII)
_NOT_SETTINGS = ("TIMELINE_TEST_", "TIMELINE_UPDATE_GOLDEN")
"""Variables of the test suite, not of the app."""


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse(key: str, text: str, kind: object) -> object:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise SettingsError(f"{key}={text!r} is not a boolean; use true or false")
    if kind is int:
        try:
            number = int(text)
        except ValueError:
            raise SettingsError(f"{key}={text!r} is not a whole number") from None
        if key == "TIMELINE_PORT" and not 0 < number < 65536:  # noqa: PLR2004
            raise SettingsError(f"{key}={text!r} is not a port (1-65535)")
        if key != "TIMELINE_PORT" and number < 1:
            raise SettingsError(f"{key}={text!r} must be at least 1")
        return number
    return text
