"""Settings from `TIMELINE_*` environment variables, read once into one frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

REPO_EVENTS = Path(__file__).resolve().parent.parent / "events"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite:///timeline.db"
    """TIMELINE_DATABASE_URL: `sqlite:///PATH` (relative to the working folder)."""
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
        except (TypeError, ValueError) as error:
            raise SettingsError(str(error)) from None

    @property
    def curated_path(self) -> Path | None:
        return Path(self.curated_dir) if self.curated_dir else None


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
