"""Settings from `TIMELINE_*` environment variables, read once into one frozen object."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec

REPO_EVENTS = Path(__file__).resolve().parent.parent / "events"


LogLevel = Literal["debug", "info", "warning", "error"]
Positive = Annotated[int, msgspec.Meta(ge=1)]
PUBLIC_URL_PATTERN = r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite:///timeline.db"
    """TIMELINE_DATABASE_URL: `sqlite:///PATH` (relative to the working folder)."""
    migrate_url: str = ""
    """TIMELINE_MIGRATE_URL: PostgreSQL URL of the role that owns the tables and migrates them;
    empty: the app's own role migrates (docs/guides/run.md, Scaling out)."""
    host: str = "127.0.0.1"
    """TIMELINE_HOST: address the API listens on."""
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    """TIMELINE_PORT: port the API listens on."""
    public_read: bool = True
    """TIMELINE_PUBLIC_READ: reads need no token when true."""
    curated_dir: str = str(REPO_EVENTS)
    """TIMELINE_CURATED_DIR: NDJSON loaded into an empty store on first start; empty = none."""
    max_body_bytes: Positive = 1_048_576
    """TIMELINE_MAX_BODY_BYTES: largest request body accepted (413 above)."""
    max_batch: Positive = 100
    """TIMELINE_MAX_BATCH: most events in one append (413 above)."""
    sse_heartbeat: Positive = 15
    """TIMELINE_SSE_HEARTBEAT: seconds between heartbeat comments on idle event streams."""
    sse_max_lag: Positive = 10_000
    """TIMELINE_SSE_MAX_LAG: a live subscriber this many events behind is disconnected."""
    min_position_wait: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    """TIMELINE_MIN_POSITION_WAIT: seconds a read with `min_position` waits for this replica
    to see that position before answering 503."""
    public_url: Annotated[str, msgspec.Meta(pattern=PUBLIC_URL_PATTERN)] = ""
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
    log_level: LogLevel = "info"
    """TIMELINE_LOG_LEVEL: debug, info, warning or error."""
    write_limit_per_token: Annotated[int, msgspec.Meta(ge=0)] = 0
    """TIMELINE_WRITE_LIMIT_PER_TOKEN: appends a minute one token may make (429 above); 0: no
    limit."""
    write_limit_per_client: Annotated[int, msgspec.Meta(ge=0)] = 0
    """TIMELINE_WRITE_LIMIT_PER_CLIENT: appends a minute one client address may make, whatever
    its tokens (429 above); 0: no limit."""
    webhook_retries: Annotated[
        str, msgspec.Meta(pattern=r"^ *[1-9][0-9]{0,6}( *, *[1-9][0-9]{0,6})* *$")
    ] = "5,300,1800,7200,18000,36000,50400,72000,72000"
    """TIMELINE_WEBHOOK_RETRIES: seconds to wait before each retry of a failed delivery,
    comma-separated (after the last, it is parked); the default spans about three days."""
    webhook_allow_private: bool = False
    """TIMELINE_WEBHOOK_ALLOW_PRIVATE: deliveries may go to loopback, private and link-local
    addresses (tests, a receiver on the same network); false: refused."""
    uid_domain: Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z0-9-]+\.)*[A-Za-z0-9-]*$")] = ""
    """TIMELINE_UID_DOMAIN: what follows `@` in calendar UIDs, so that two deployments' items
    never collide in a subscriber's calendar; empty: the host of the public address."""

    @property
    def calendar_domain(self) -> str:
        """The UID domain: TIMELINE_UID_DOMAIN, else the public address's host."""
        return self.uid_domain or (urlsplit(self.base_url).hostname or "localhost")

    @property
    def base_url(self) -> str:
        """Where this API is reached from outside: links in answers and feeds start with it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def limits_writes(self) -> bool:
        return self.write_limit_per_token > 0 or self.write_limit_per_client > 0

    @property
    def cors_origin_list(self) -> list[str]:
        return _items(self.cors_origins)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _items(self.trusted_proxies)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every `TIMELINE_*` variable set, converted and checked by msgspec against the fields."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            key = f"TIMELINE_{field.name.upper()}"
            if key in env:
                text = env[key]
                if field.type is bool:
                    values[field.name] = _BOOLEAN.get(text.strip().lower(), text)
                else:
                    values[field.name] = text.lower() if field.name == "log_level" else text
        try:
            return msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as error:
            match = _AT_FIELD.search(str(error))
            if match is None:
                raise SettingsError(str(error)) from None
            name = match["name"]
            message = str(error)[: match.start()].strip()
            hint = HINTS.get(name, "")
            raise SettingsError(
                f"TIMELINE_{name.upper()}={env[f'TIMELINE_{name.upper()}']!r} is not valid: "
                f"{message}{hint}"
            ) from None

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


_BOOLEAN = {"1": True, "true": True, "yes": True, "on": True} | {
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}
_AT_FIELD = re.compile(r"- at `\$\.(?P<name>\w+)`")
HINTS = {
    "public_read": " (use true or false)",
    "public_url": " (an http(s) address such as https://timeline.example.org, no query)",
    "port": " (a port, 1-65535)",
    "uid_domain": " (a domain such as timeline.example.org)",
    "write_limit_per_token": " (appends a minute, 0 for no limit)",
    "write_limit_per_client": " (appends a minute, 0 for no limit)",
    "webhook_retries": " (seconds, comma-separated, each at least 1, e.g. 5,300,1800)",
    "webhook_allow_private": " (use true or false)",
}
_NOT_SETTINGS = ("TIMELINE_TEST_", "TIMELINE_UPDATE_GOLDEN")
"""Variables of the test suite, not of the app."""


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
