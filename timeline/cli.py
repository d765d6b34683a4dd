"""`timeline …`: the command line. Thin: every command opens the store, calls the core, prints.

Errors are one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

import click
import msgspec

from timeline import __version__, fold, logs, schemas, wire
from timeline.api.bodies import with_diff
from timeline.dates import InvalidDateError, parse_day, parse_instant
from timeline.projection import NotKnownError, Projector, changed_partnerships, knowledge_diff
from timeline.readside import readmodels
from timeline.settings import Settings, SettingsError
from timeline.store import (
    STAGED_FROM,
    EventStore,
    NotStagedError,
    StoreError,
    StreamInfo,
    open_store,
    sqlite_path,
    token_registry,
    verify,
)
from timeline.store.rebuild import RebuildReport
from timeline.tokens import SCOPES, TokenError
from timeline.transfer import (
    ImportLineError,
    ImportReport,
    export_lines,
    import_lines,
    import_staged,
    load_curated,
)

T = TypeVar("T")

EXIT_FAILURE = 1
PROGRESS_THRESHOLD = 10_000

USER_ERRORS = (
    SettingsError,
    TokenError,
    InvalidDateError,
    ImportLineError,
    StoreError,
    fold.DomainError,
    msgspec.DecodeError,
    ValueError,
    OSError,
)


class Failure(click.ClickException):
    """One line on stderr, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"timeline: error: {self.format_message()}", err=True, file=file)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except Failure:
        raise
    except USER_ERRORS as error:
        raise Failure(str(error)) from None
    except Exception as error:  # noqa: BLE001 - never a traceback on the terminal
        raise Failure(f"unexpected {type(error).__name__}: {error}") from None


@contextlib.asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[EventStore]:
    """The configured store, with the curated data loaded if it is empty."""
    try:
        store = await open_store(settings.database_url, settings.migrate_url or None)
    except Exception as error:  # noqa: BLE001 - any failure to open is said in one line
        raise Failure(
            f"cannot open the store at {_safe_url(settings.database_url)} "
            f"(TIMELINE_DATABASE_URL): {_reason(error)}"
        ) from None
    try:
        await load_curated(store, settings.curated_path)
        yield store
    finally:
        await store.close()


def _reason(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, OSError | ValueError) else f"{type(error).__name__}: {text}"


def with_store(work: Callable[[EventStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with opened(_settings()) as store:
            return await work(store)

    return run(main())


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        raise Failure(str(error)) from None
    for warning in Settings.stray():
        click.echo(f"timeline: warning: {warning}", err=True)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="timeline")
def cli() -> None:
    """Partnership Timeline: partnerships as immutable events, queryable on any date.

    Every command reads TIMELINE_* settings (docs/reference/settings.md); an empty store is
    first loaded with the curated data in events/.
    """


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--run-by-run",
    is_flag=True,
    help="Append each run on its own even for a large file of new streams (staged, the store "
    "is held for writing until the whole file is in: appends elsewhere wait).",
)
def import_command(files: tuple[Path, ...], *, run_by_run: bool) -> None:
    """Append the events of NDJSON FILES (as `export` writes them), in order."""

    async def work(store: EventStore) -> None:
        for path in files:
            try:
                size = path.stat().st_size
                handle = path.open("rb")
            except OSError as error:
                raise Failure(f"cannot read {path}: {error.strerror}") from None
            with handle:
                report = None if run_by_run else await _staged(store, path, size)
                if report is None:
                    with _progress(size, f"importing {path.name}") as advance:
                        report = await import_lines(
                            store, _counted(handle, advance), origin=str(path)
                        )
            sources = f", {report.sources} source(s) registered" if report.sources else ""
            click.echo(
                f"{path}: {report.appended} appended, {report.replayed} already present, "
                f"{report.streams} stream(s){sources}"
            )

    with_store(work)


async def _staged(store: EventStore, path: Path, size: int) -> ImportReport | None:
    """A large file of new streams, staged; None (nothing stored) when it goes run by run."""
    if size < STAGED_FROM:
        return None
    try:
        with _progress(size, f"importing {path.name} (staged)") as advance:
            return await import_staged(store, path, advance)
    except NotStagedError as why:
        click.echo(f"{path}: importing run by run ({why})", err=True)
        return None


def _counted(lines: Iterable[bytes], advance: Callable[[int], None]) -> Iterator[bytes]:
    for line in lines:
        advance(len(line))
        yield line


@cli.command("export")
@click.argument("stream", required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File to write.")
def export_command(stream: str | None, output: Path | None) -> None:
    """Write STREAM (or every stream, in position order) as NDJSON."""

    async def work(store: EventStore) -> None:
        infos = await store.streams()
        if stream is not None and stream not in {info.stream for info in infos}:
            raise Failure(f"no stream {stream!r}")
        total = _count(infos, stream)
        with contextlib.ExitStack() as stack:
            try:
                sink: IO[bytes] = (
                    stack.enter_context(output.open("wb")) if output else sys.stdout.buffer
                )
            except OSError as error:
                raise Failure(f"cannot write {output}: {error.strerror}") from None
            advance = stack.enter_context(_progress(total, "exporting"))
            try:
                async with contextlib.aclosing(export_lines(store, stream)) as lines:
                    async for line in lines:
                        sink.write(line)
                        advance(1)
                sink.flush()
            except BrokenPipeError:  # `timeline export | head`: the reader has what it wanted
                _silence_stdout()

    with_store(work)


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _count(infos: list[StreamInfo], stream: str | None) -> int:
    return sum(info.version for info in infos if stream is None or info.stream == stream)


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (never stdout, which may carry NDJSON), for long work: how far
    (of `total`, in the caller's unit), events so far, events/s and the time left.

    Shown only when stderr is a terminal and there is enough to wait for. Each call of the
    callback is one event and `amount` units of `total`.
    """
    if total < PROGRESS_THRESHOLD or not sys.stderr.isatty():
        yield lambda _amount: None
        return
    from rich.console import Console  # noqa: PLC0415 - only for terminals
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:,} events, {task.fields[rate]:,.0f}/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
        yield _Bar(progress, progress.add_task(label, total=total, events=0, rate=0.0))


class _Bar:
    """Feeds a rich task at most ten times a second: an update per line cost more than a
    line's import."""

    SECONDS = 0.1

    def __init__(self, progress: Any, task: Any) -> None:  # noqa: ANN401 - rich's types, imported late
        self.progress = progress
        self.task = task
        self.started = self.shown = time.monotonic()
        self.pending = 0
        self.events = 0

    def __call__(self, amount: int) -> None:
        self.pending += amount
        self.events += 1
        now = time.monotonic()
        if now - self.shown >= self.SECONDS:
            rate = self.events / (now - self.started)
            self.progress.update(self.task, advance=self.pending, events=self.events, rate=rate)
            self.pending, self.shown = 0, now


@cli.command("state")
@click.argument("stream")
@click.option("--as-of", help="Date in the world, YYYY-MM-DD (default: today, UTC).")
@click.option("--known-at", help="Instant of the store, ISO 8601 (default: now).")
def state_command(stream: str, as_of: str | None, known_at: str | None) -> None:
    """Print STREAM's state on a date, as known at an instant, as JSON."""
    try:
        day = parse_day(as_of) if as_of else datetime.now(UTC).date()
        instant = parse_instant(known_at) if known_at else None
    except InvalidDateError as error:
        raise Failure(str(error)) from None

    async def work(store: EventStore) -> bytes:
        try:
            state = await Projector(store).answer(stream, as_of=day, known_at=instant)
        except NotKnownError as error:
            raise Failure(str(error)) from None
        return msgspec.json.format(wire.encode(state))

    click.echo(with_store(work).decode())


@cli.command("changes")
@click.argument("stream", required=False)
@click.option("--since", required=True, help="Compare from what was known then, ISO 8601.")
@click.option("--until", help="Compare up to what was known then (default: now).")
@click.option("--as-of", help="Date in the world, YYYY-MM-DD (default: today, UTC).")
@click.option("--party", help="Without STREAM: only partnerships this organization is in.")
def changes_command(
    stream: str | None, since: str, until: str | None, as_of: str | None, party: str | None
) -> None:
    """What changed in what was known between two instants: of STREAM, as JSON (its
    knowledge diff), or without STREAM a line for each partnership that changed (the digest)."""
    try:
        start = parse_instant(since)
        end = parse_instant(until) if until else None
        day = parse_day(as_of) if as_of else datetime.now(UTC).date()
    except InvalidDateError as error:
        raise Failure(str(error)) from None
    if start > (end or datetime.now(UTC)):
        raise Failure(f"--since {since} is after --until ({until or 'now'})")
    if stream is not None and party is not None:
        raise Failure("--party filters the digest; leave it out with a STREAM")

    async def diff(store: EventStore, stream: str) -> bytes:
        try:
            found = await knowledge_diff(
                Projector(store), stream, since=start, until=end, as_of=day
            )
        except NotKnownError as error:
            raise Failure(str(error)) from None
        return msgspec.json.format(with_diff(found, found.changes, None))

    async def digest(store: EventStore) -> bytes:
        lines: list[str] = []
        after: str | None = None
        low, high = await store.read_models.window(start, end)  # one window for every page
        while True:
            page = await changed_partnerships(
                store, low, high, party=party, after=after, limit=DIGEST_PAGE
            )
            lines += [f"{found.stream}: {found.summary}" for found in page]
            if len(page) < DIGEST_PAGE:
                return "\n".join(lines or ["nothing was recorded in that window"]).encode()
            after = page[-1].stream

    click.echo(with_store(digest if stream is None else partial(diff, stream=stream)).decode())


DIGEST_PAGE = 500


@cli.command("verify")
def verify_command() -> None:
    """Check positions, versions, that every stream folds, and the read models against a replay."""

    found = with_store(verify)
    sources = f", {found.sources} registered sources" if found.sources else ""
    click.echo(
        f"{found.events} events in {found.streams} streams{sources}; "
        + (
            f"{len(found.problems)} problem(s)"
            if found.problems
            else "positions gapless, versions consecutive, every stream folds, "
            "read models equal a fresh replay"
        )
    )
    for notice in found.notices:
        click.echo(f"  note: {notice}")
    for problem in found.problems:
        click.echo(f"  {problem}", err=True)
    if found.problems:
        sys.exit(EXIT_FAILURE)


@cli.command("serve")
@click.option("--host", help="Address to listen on (default TIMELINE_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default TIMELINE_PORT, 8000).")
def serve_command(host: str | None, port: int | None) -> None:
    """Serve the HTTP API (granian, one worker) on the configured store."""
    if host is not None:
        os.environ["TIMELINE_HOST"] = host
    if port is not None:
        os.environ["TIMELINE_PORT"] = str(port)
    settings = _settings()
    logs.configure(settings.log_level)
    _refuse_taken_port(settings.host, settings.port)
    _raise_open_files_limit()
    created = with_store(_prepare_to_serve)
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    click.echo(f"Partnership Timeline {__version__} on {_safe_url(settings.database_url)}")
    click.echo(f"listening on {base} (links point to {settings.base_url})")
    click.echo(f"API docs at {base}/docs (OpenAPI: {base}/docs/openapi.json)")
    if created is not None:
        _hand_out_first_token(settings, created)
    sys.stdout.flush()
    from granian import Granian  # noqa: PLC0415 - the server loads only for `serve`
    from granian.constants import Interfaces  # noqa: PLC0415
    from granian.http import HTTP1Settings  # noqa: PLC0415

    Granian(
        "timeline.api.app:app_from_env",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=1,
        backlog=BACKLOG,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_TIMEOUT_MS),
        log_dictconfig=logs.granian_config(settings.log_level),
        log_access=False,  # ours has the request id and the route: timeline.access
        workers_kill_timeout=SHUTDOWN_SECONDS,
    ).serve()


BACKLOG = 4096
"""Connections the kernel holds for us while the worker is busy (granian's default is 1024)."""
HEADER_TIMEOUT_MS = 5_000
"""A client that has not sent its whole request head by then is disconnected (slow drips)."""


def _refuse_taken_port(host: str, port: int) -> None:
    """Fail now if another process listens there: granian's own socket would share the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise Failure(
                f"cannot listen on {_url_host(host)}:{port}: {error.strerror or error} "
                "(is another `timeline serve` running? set TIMELINE_PORT or --port)"
            ) from None


def _raise_open_files_limit() -> None:
    """Each connection is a file: take the hard limit, so idle clients cannot starve new ones."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _safe_url(url: str) -> str:
    """A database URL without its password, for the terminal and the logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _hand_out_first_token(settings: Settings, secret: str) -> None:
    """On a terminal, print the first token once; elsewhere (containers) write it to a 0600 file.

    Container logs are read by many and kept long: a secret does not belong there.
    """
    message = f"first start: created token {FIRST_TOKEN!r} with scopes append, read"
    if sys.stdout.isatty():
        click.echo(f"{message}; it is shown once:\n{secret}")
        return
    path = Path(settings.token_file) if settings.token_file else _token_path(settings)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secret + "\n")
        path.chmod(0o600)
    except OSError as error:
        raise Failure(f"cannot write the first token to {path}: {error.strerror}") from None
    click.echo(f"{message}; written to {path.resolve()} (readable by this user only)")


def _token_path(settings: Settings) -> Path:
    if settings.database_url.startswith("sqlite:"):
        return sqlite_path(settings.database_url).parent / "first-token.txt"
    return Path("first-token.txt")


SHUTDOWN_SECONDS = 30
"""A worker still busy this long after SIGTERM is stopped hard (acknowledged appends are safe)."""
FIRST_TOKEN = "default"  # noqa: S105 - the name of a token, not a secret


async def _first_token(store: EventStore) -> str | None:
    """On a first start with no tokens at all, one to append with."""
    registry = token_registry(store)
    if await registry.tokens():
        return None
    try:
        return await registry.create_token(FIRST_TOKEN, ("append", "read"))
    except TokenError:  # another replica starting at the same moment made it
        return None


async def _prepare_to_serve(store: EventStore) -> str | None:
    """Read models current, and a first token on a first start (returned to hand out)."""
    await _rebuild_if_stale(store)
    return await _first_token(store)


async def _rebuild_if_stale(store: EventStore) -> None:
    """Read models older than this code are rebuilt before the server takes requests."""
    announce = _RebuildProgress(
        f"the read models are not version {readmodels.VERSION}: rebuilding them before serving"
    )
    report = await store.rebuild_read_models(announce, only_if_stale=True)
    if report.rebuilt:
        click.echo(f"read models rebuilt from {report.events:,} events in {report.seconds:.1f} s")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@cli.group("tokens")
def tokens_group() -> None:
    """Bearer tokens of the API (stored only as hashes)."""


@tokens_group.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    default=("append",),
    show_default=True,
    help="Repeat for several.",
)
def tokens_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create token NAME and print it alone on stdout (it is never shown again)."""
    click.echo(with_store(lambda store: token_registry(store).create_token(name, scopes)))


@tokens_group.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke token NAME; requests with it are refused from now on."""
    if not with_store(lambda store: token_registry(store).revoke_token(name)):
        raise Failure(f"no active token {name!r}")
    click.echo(f"revoked token {name!r}")


@tokens_group.command("list")
def tokens_list() -> None:
    """Names, scopes and dates of every token (never the secrets)."""
    for token in with_store(lambda store: token_registry(store).tokens()):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        click.echo(f"{token.name}\t{' '.join(token.scopes)}\t{token.created_at:%Y-%m-%d}\t{state}")


@cli.group("projections")
def projections_group() -> None:
    """The read models behind lists, organization pages and calendar feeds."""


@projections_group.command("rebuild")
def projections_rebuild() -> None:
    """Rebuild the read models from the events; the old ones serve until the new are complete."""

    async def work(store: EventStore) -> RebuildReport:
        return await store.rebuild_read_models(_rebuild_progress("rebuilding read models"))

    report = with_store(work)
    rate = report.events / report.seconds if report.seconds else 0.0
    click.echo(
        f"rebuilt the read models (version {readmodels.VERSION}, generation {report.generation})"
        f" from {report.events} events in {report.streams} streams"
        f" in {report.seconds:.1f} s ({rate:,.0f} events/s)"
    )


class _RebuildProgress:
    """Progress on stdout: a line rewritten on a terminal, a line every few seconds elsewhere."""

    EVERY_SECONDS = 5.0

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.shown = 0.0
        self.terminal = sys.stdout.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and not self.terminal and now - self.shown < self.EVERY_SECONDS:
            return
        self.shown = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0.0
        share = done / total if total else 1.0
        line = (
            f"{self.label}: {done:,}/{total:,} events ({share:.0%}), {rate:,.0f} events/s,"
            f" {left:.0f} s left"
        )
        end = "\n" if done >= total or not self.terminal else ""
        click.echo(("\r" if self.terminal else "") + line, nl=False)
        click.echo(end, nl=False)
        sys.stdout.flush()


def _rebuild_progress(label: str) -> _RebuildProgress:
    return _RebuildProgress(label)


@cli.group("schemas")
def schemas_group() -> None:
    """JSON Schemas of the event types."""


@schemas_group.command("export")
@click.option(
    "--dir",
    "directory",
    default="schemas",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
)
def schemas_export(directory: Path) -> None:
    """Write one JSON Schema file per event type."""
    try:
        names = schemas.export(directory)
    except OSError as error:
        raise Failure(str(error)) from None
    click.echo(f"wrote {len(names)} schemas to {directory}/")


@cli.group("reference")
def reference_group() -> None:
    """The documentation's reference pages, made from the code."""


@reference_group.command("export")
@click.option(
    "--dir",
    "directory",
    default="docs/reference",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
)
def reference_export(directory: Path) -> None:
    """Write the reference pages: routes, event types, settings, commands and rules."""
    from timeline import reference  # noqa: PLC0415 - it builds the whole app

    pages = reference.rendered(reference.served_spec(), reference.served_pages())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            (directory / name).write_text(text, encoding="utf-8")
    except OSError as error:
        raise Failure(str(error)) from None
    click.echo(f"wrote {len(pages)} reference pages to {directory}/")


def main() -> None:
    cli(prog_name="timeline")
