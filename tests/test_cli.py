"""The command line, run as a user would: results on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import timeline.cli
from timeline import schemas
from timeline.cli import cli
from timeline.sources import is_source_line

EVENTS = Path(__file__).resolve().parent.parent / "events"
sys.path.insert(0, str(EVENTS.parent / "bench"))
from synthetic import lines  # noqa: E402 - the benchmarks' generator, beside the tests


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIMELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TIMELINE_CURATED_DIR", str(EVENTS))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_state_shows_investment_and_pending_milestone(run) -> None:
    """`timeline state` on the curated data answers the February 2024 question as JSON."""
    result = run("state", "vodafone-microsoft", "--as-of", "2024-02-01")
    assert result.exit_code == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["investments"][0]["amount"] == {"amount": "1500000000", "currency": "USD"}
    assert state["investments"][0]["equivalents"][0]["currency"] == "EUR"
    assert state["milestones"][0]["status"] == "pending"
    assert state["basis"]["as_of"] == "2024-02-01"
    assert state["basis"]["known_at"].endswith("Z")
    june = json.loads(run("state", "vodafone-microsoft", "--as-of", "2024-06-01").stdout)
    assert june["milestones"][0]["status"] == "unreported"


def test_known_at_before_curation_knows_nothing(run) -> None:
    """Asked as known before the data was recorded, the answer is an honest error."""
    result = run("state", "vodafone-microsoft", "--known-at", "2020-01-01T00:00:00Z")
    assert result.exit_code == 1
    assert result.stderr == (
        "timeline: error: nothing was known of partnership 'vodafone-microsoft'"
        " at 2020-01-01T00:00:00+00:00\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("state", "vodafone-microsoft", "--as-of", "2024-02"), "'2024-02' is not a date"),
        (("state", "vodafone-microsoft", "--known-at", "later"), "'later' is not an instant"),
        (("state", "nobody"), "no partnership 'nobody'"),
        (("export", "nobody"), "no stream 'nobody'"),
        (("import", "/does/not/exist.ndjson"), "No such file or directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(run, args: tuple[str, ...], message: str) -> None:
    """Bad input gives one clear line on stderr and exit status 1, never a traceback."""
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith("timeline: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_bad_settings_fail_with_the_variable_named(run, monkeypatch) -> None:
    """An unusable setting names the variable and stops."""
    monkeypatch.setenv("TIMELINE_DATABASE_URL", "mysql://nope")
    result = run("verify")
    assert result.exit_code == 1
    assert "names no supported backend" in result.stderr
    monkeypatch.setenv("TIMELINE_PUBLIC_READ", "perhaps")
    stderr = run("verify").stderr
    assert "TIMELINE_PUBLIC_READ='perhaps' is not valid" in stderr
    assert "use true or false" in stderr


def _event_lines(stream: str) -> list[bytes]:
    """A curated file's event lines (newlines kept), without the articles it begins with."""
    lines = (EVENTS / f"{stream}.ndjson").read_bytes().splitlines(keepends=True)
    return [line for line in lines if not is_source_line(line)]


def test_import_reports_the_bad_line(run, tmp_path: Path) -> None:
    """An import stops at the first bad line and says which file and line."""
    good = _event_lines("vodafone-microsoft")
    bad = tmp_path / "bad.ndjson"
    first = good[0].replace(b'"vodafone-microsoft"', b'"other"')
    bad.write_bytes(first + b'{"stream": "other", "type": "Nope"}\n')
    result = run("import", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:2:" in result.stderr


def test_import_refuses_a_future_recording_time(run, tmp_path: Path) -> None:
    """An imported line cannot claim to have been recorded after now."""
    line = _event_lines("vodafone-microsoft")[0].rstrip(b"\n")
    future = tmp_path / "future.ndjson"
    future.write_bytes(
        line.replace(b'"vodafone-microsoft"', b'"later"').replace(b'"2026-11-22T', b'"2999-01-01T')
    )
    result = run("import", str(future))
    assert result.exit_code == 1
    assert "is in the future" in result.stderr
    assert f"{future}:1:" in result.stderr


def test_import_keeps_recording_times_rising(run, tmp_path: Path) -> None:
    """Restored history older than the store's latest recording is refused, replays still pass."""
    assert run("verify").exit_code == 0  # loads the curated data, recorded 2026-11-22
    lines = _event_lines("vodafone-microsoft")
    old = tmp_path / "old.ndjson"
    old.write_bytes(
        lines[0]
        .replace(b'"vodafone-microsoft"', b'"older"')
        .replace(b'"2026-11-22T', b'"2025-01-01T')
        .replace(b"ae6c334b-0805-5628", b"1e6c334b-0805-4628")
    )
    result = run("import", str(old))
    assert result.exit_code == 1
    assert "before the store's latest recording" in result.stderr
    replay = run("import", str(EVENTS / "vodafone-microsoft.ndjson"))
    assert "0 appended, 12 already present" in replay.stdout


def test_import_then_export_round_trips(run, tmp_path: Path) -> None:
    """Exported NDJSON imports into another store and exports to the same bytes."""
    exported = run("export").stdout_bytes
    assert exported.count(b"\n") == 3 + 42  # the registered articles, then the events
    target = tmp_path / "copy.ndjson"
    target.write_bytes(exported)
    second = tmp_path / "second.db"
    runner = CliRunner(
        env={"TIMELINE_DATABASE_URL": f"sqlite:///{second}", "TIMELINE_CURATED_DIR": ""}
    )
    imported = runner.invoke(cli, ["import", str(target)])
    assert imported.exit_code == 0, imported.stderr
    assert "42 appended, 0 already present, 6 stream(s), 3 source(s) registered" in (
        imported.stdout
    )
    out = tmp_path / "out.ndjson"
    assert runner.invoke(cli, ["export", "-o", str(out)]).exit_code == 0
    assert out.read_bytes() == exported


def test_a_large_import_goes_staged_and_says_when_it_cannot(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file from `STAGED_FROM` bytes is stored in one transaction, as run by run stores it;
    one the staged path cannot take goes run by run, which says why."""
    monkeypatch.setattr(timeline.cli, "STAGED_FROM", 0)
    target = tmp_path / "synthetic.ndjson"
    target.write_bytes(b"".join(lines(20, 10, 5)))

    def store_at(name: str) -> CliRunner:
        url = f"sqlite:///{tmp_path / name}"
        return CliRunner(env={"TIMELINE_DATABASE_URL": url, "TIMELINE_CURATED_DIR": ""})

    staged, by_run = store_at("staged.db"), store_at("by-run.db")
    imported = staged.invoke(cli, ["import", str(target)])
    assert imported.exit_code == 0, imported.stderr
    assert "200 appended, 0 already present, 20 stream(s)" in imported.stdout
    assert imported.stderr == ""
    assert by_run.invoke(cli, ["import", "--run-by-run", str(target)]).exit_code == 0
    exported = staged.invoke(cli, ["export"]).stdout_bytes
    assert exported == by_run.invoke(cli, ["export"]).stdout_bytes

    again = staged.invoke(cli, ["import", str(target)])  # the streams are held: run by run
    assert again.exit_code == 0, again.stderr
    assert "0 appended, 200 already present" in again.stdout
    assert "importing run by run (line 1: recorded_at out of order" in again.stderr

    asked = staged.invoke(cli, ["import", "--run-by-run", str(target)])
    assert "0 appended, 200 already present" in asked.stdout
    assert asked.stderr == ""  # asked for: nothing to explain

    curated = tmp_path / "curated.ndjson"  # its events quote registered articles
    curated.write_bytes(run("export").stdout_bytes)
    quoted = store_at("quoted.db").invoke(cli, ["import", str(curated)])
    assert quoted.exit_code == 0, quoted.stderr
    assert "42 appended, 0 already present, 6 stream(s)" in quoted.stdout
    assert quoted.stderr == ""  # staged: each quote is checked where its position says


def test_verify_passes_on_curated_data(run) -> None:
    """`timeline verify` checks positions, versions and folds, and says so."""
    result = run("verify")
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "42 events in 6 streams, 3 registered sources; positions gapless, versions "
        "consecutive, every stream folds, read models equal a fresh replay"
    )


def test_schemas_export_writes_what_the_code_generates(run, tmp_path: Path) -> None:
    """`timeline schemas export --dir D` writes one file per type, as generated."""
    result = run("schemas", "export", "--dir", str(tmp_path / "s"))
    assert result.exit_code == 0
    written = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()}
    assert written == schemas.rendered()


def test_tokens_create_list_revoke(run) -> None:
    """`tokens create` prints the token alone; `list` never shows it; `revoke` ends it."""
    created = run("tokens", "create", "pipeline", "--scope", "append", "--scope", "read")
    assert created.exit_code == 0
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n"
    assert secret.startswith("tl_")
    assert len(secret) > 40
    listed = run("tokens", "list").stdout
    assert listed.startswith("pipeline\tappend read\t")
    assert secret not in listed
    again = run("tokens", "create", "pipeline")
    assert (again.exit_code, again.stderr) == (
        1,
        "timeline: error: a token named 'pipeline' exists; revoke it first\n",
    )
    assert run("tokens", "revoke", "pipeline").stdout == "revoked token 'pipeline'\n"
    assert "revoked" in run("tokens", "list").stdout
    assert run("tokens", "revoke", "pipeline").stderr == (
        "timeline: error: no active token 'pipeline'\n"
    )
    bad = run("tokens", "create", "Bad Name")
    assert bad.exit_code == 1
    assert "is not a token name" in bad.stderr
    assert run("tokens", "create", "x", "--scope", "admin").exit_code == 2  # click's usage error


ANNOUNCED = (
    '"version": 1, "recorded_at": "2026-11-22T00:00:00Z", "schema_version": 1,'
    ' "type": "PartnershipAnnounced", "effective": "2024", "data": {"title": "T",'
    ' "parties": [{"org": "a", "name": "A"}, {"org": "b", "name": "B"}], "kind": "k"}}'
)
STATEMENT = (
    '{"stream": "said", "version": 1, "recorded_at": "2026-11-22T00:00:00Z",'
    ' "schema_version": 1, "type": "StatementMade", "effective": "2024",'
    ' "data": {"speaker": "x", "text": "y", "language": "en"}}'
)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"stream": "", ' + ANNOUNCED, "$.stream"),
        ('{"stream": "../../etc/passwd", ' + ANNOUNCED, "$.stream"),
        ('{"stream": "Upper", ' + ANNOUNCED, "$.stream"),
        ('{"stream": "ok", "actor": "' + "a" * 100_000 + '", ' + ANNOUNCED, "$.actor"),
        ('{"stream": "ok", "actor": "a\\u0007b", ' + ANNOUNCED, "$.actor"),
        ('{"stream": "ok", "actor": "reader", ' + ANNOUNCED, "name of a token of this store"),
        (
            '{"stream": "ok", ' + ANNOUNCED.replace("00:00:00Z", "00:00:00"),
            "with a timezone component",
        ),
        (
            '{"stream": "ok", ' + ANNOUNCED.replace('"schema_version": 1', '"schema_version": 9'),
            "newer than this version of timeline knows",
        ),
        (STATEMENT, "is schema_version right?"),
        (
            '{"stream": "ok", "x": ' + "[" * 5000 + "]" * 5000 + ", " + ANNOUNCED,
            "nested too deeply",
        ),
        ('{"stream": "ok", "actor": "\udcff", ' + ANNOUNCED, "not UTF-8"),
        (
            '{"stream": "ok", ' + ANNOUNCED.replace('"kind": "k"', '"kind": "k", "sumary": "s"'),
            "unknown field `sumary`; did you mean `summary`? - at `$.data.sumary`",
        ),
        (
            '{"stream": "ok", "sources": [{"title": "t", "language": "en", "url": '
            '"javascript:alert(1)"}], ' + ANNOUNCED,
            "$.sources[0].url",
        ),
    ],
    ids=[
        "empty stream",
        "path as stream",
        "upper case stream",
        "actor of 100,000 characters",
        "actor with a control character",
        "actor named like a token",
        "naive recorded_at",
        "forged newer schema_version",
        "forged older schema_version",
        "deep JSON",
        "invalid UTF-8",
        "unknown field in data",
        "javascript link",
    ],
)
def test_import_refuses_what_the_store_must_not_keep(
    run, tmp_path: Path, line: str, message: str
) -> None:
    """Each bad line is one error naming file, line and field, and nothing is stored."""
    assert run("tokens", "create", "reader", "--scope", "read").exit_code == 0
    path = tmp_path / "bad.ndjson"
    path.write_bytes(line.encode("utf-8", "surrogateescape") + b"\n")  # \udcff is byte 0xff
    result = run("import", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"timeline: error: {path}:1: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "unexpected" not in result.stderr
    assert run("export").stdout.count("\n") == 3 + 42


def test_version_and_instants_out_of_range(run) -> None:
    """`--version` answers; an instant beyond the calendar is a one-line error, not a traceback."""
    assert run("--version").stdout.startswith("timeline, version ")
    result = run("state", "vodafone-microsoft", "--known-at", "0001-01-01T00:00:00+01:00")
    assert result.exit_code == 1
    assert "is outside the instants this store can name" in result.stderr


def test_misspelled_setting_is_reported(run, monkeypatch) -> None:
    """A TIMELINE_* variable that is no setting is named, with the likely one."""
    monkeypatch.setenv("TIMELINE_PUBLC_READ", "false")
    result = run("verify")
    assert result.exit_code == 0
    assert (
        "timeline: warning: TIMELINE_PUBLC_READ is not a setting and is ignored; "
        "did you mean TIMELINE_PUBLIC_READ?" in result.stderr
    )


def test_a_store_that_cannot_open_is_named(run, monkeypatch, tmp_path: Path) -> None:
    """A broken database is one line naming the URL (password hidden) and the variable."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, " * 100)
    monkeypatch.setenv("TIMELINE_DATABASE_URL", f"sqlite:///{notes}")
    result = run("verify")
    assert result.exit_code == 1
    assert f"cannot open the store at sqlite:///{notes} (TIMELINE_DATABASE_URL)" in result.stderr
    monkeypatch.setenv("TIMELINE_DATABASE_URL", "postgresql://me:secret@127.0.0.1:1/x")
    result = run("verify")
    assert "postgresql://me:***@127.0.0.1:1/x" in result.stderr
    assert "secret" not in result.stderr


def test_piped_export_is_only_ndjson(run) -> None:
    """Export to a pipe writes the NDJSON and nothing else (progress goes to stderr only)."""
    lines = run("export").stdout_bytes.split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["source"]["id"] for line in lines[:3]] == [
        "telefonica-microsoft-en",
        "vodafone-microsoft-en",
        "vodafone-microsoft-fr",
    ]
    assert all(json.loads(line)["stream"] for line in lines[3:-1])
    assert len(lines) == 3 + 43
