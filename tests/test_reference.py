"""The documentation's reference is what the code says: each page as `timeline reference
export` makes it, every rule with its cause and fix, every setting with its variable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from api_helpers import running, settings_for

from timeline import reference
from timeline.api.partnerships import decode_append
from timeline.events import EVENT_TYPES
from timeline.fold import Rule
from timeline.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "reference"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return reference.rendered(reference.served_spec(), reference.served_pages())


def test_the_checked_in_reference_is_what_the_code_makes(pages: dict[str, str]) -> None:
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in DOCS.glob("*.md")}
    on_disk.pop("index.md", None)
    assert on_disk == pages, "run `timeline reference export` and commit docs/reference/"


def test_every_rule_says_its_cause_and_fix(pages: dict[str, str]) -> None:
    assert set(reference.RULES) == set(get_args(Rule))
    for rule in get_args(Rule):
        cause, fix = reference.RULES[rule]
        assert cause.strip(), rule
        assert fix.strip(), rule
        assert f"| `{rule}` |" in pages["rules.md"]


def test_every_setting_event_type_and_route_is_listed(pages: dict[str, str]) -> None:
    variables = [variable for variable, _default, _said in reference.settings_fields()]
    assert variables == [f"TIMELINE_{name.upper()}" for name in Settings.__struct_fields__]
    assert all(said for _v, _d, said in reference.settings_fields())
    for kind in EVENT_TYPES:
        assert f"\n## {kind.__name__}\n" in pages["events.md"]
    spec = reference.served_spec()
    for path, operations in spec["paths"].items():
        for method in operations:
            assert f"\n## {method.upper()} {path}\n" in pages["routes.md"], (method, path)
    for page in ("/", "/partnerships/{stream_id}/timeline", "/organizations/{org}/page"):
        assert f"| `{page}` |" in pages["routes.md"], page
    for command in ("serve", "import", "export", "verify", "reference export"):
        assert f"## `timeline {command}" in pages["commands.md"]


def test_the_tests_the_architecture_names_exist() -> None:
    """Each test `docs/architecture.md` names as guarding an invariant is there: a renamed or
    removed test fails here, not silently in the docs."""
    text = (DOCS.parent / "architecture.md").read_text(encoding="utf-8")
    tests = Path(__file__).resolve().parent
    named: list[tuple[str, str | None]] = []
    current = ""
    for token in re.findall(r"`([^`]+)`", text):
        found = re.fullmatch(r"(test_\w+\.py)(?:::(test_\w+))?|::(test_\w+)", token)
        if found is None:
            continue
        module, function, continued = found.groups()
        current = module or current
        named.append((current, function or continued))
    assert len(named) >= 20
    for module, function in named:
        source = (tests / module).read_text(encoding="utf-8")
        if function is not None:
            assert re.search(rf"^(async )?def {function}\(", source, re.MULTILINE), (
                module,
                function,
            )


async def test_the_app_serves_its_guides_and_links_to_them(tmp_path: Path) -> None:
    """`/guide/` is the documentation as pages of the app (no site to publish, nothing
    fetched elsewhere); links between pages become the app's addresses; `/` and `/docs` link
    to it; a name that is no page is a 404, a path out of `docs/` never read."""
    async with running(settings_for(tmp_path)) as client:
        moved = await client.get("/guide", follow_redirects=False)
        assert (moved.status_code, moved.headers["location"]) == (308, "/guide/")
        home = await client.get("/guide/")
        assert home.status_code == 200
        assert "script-src 'self'" in home.headers["content-security-policy"]
        assert '<h1 id="partnership-timeline">Partnership Timeline</h1>' in home.text
        assert 'href="guides/append"' in home.text  # guides/append.md, as the app serves it
        append = await client.get("/guide/guides/append")
        assert "Append from a pipeline" in append.text
        assert 'href="../reference/rules"' in append.text
        rules = await client.get("/guide/reference/rules")
        assert "<code>merger-cycle</code>" in rules.text
        reference_home = await client.get("/guide/reference/")
        assert 'href="routes"' in reference_home.text
        for missing in ("/guide/nothing", "/guide/../pyproject", "/guide/guides/..%2f..%2fREADME"):
            assert (await client.get(missing)).status_code == 404, missing
        assert "href='/guide/'" in (await client.get("/")).text
        assert "href='/guide/'" in (await client.get("/docs")).text


def test_every_event_type_has_an_example_an_append_would_take() -> None:
    """An illustration is held to what an appended event must be: it decodes as its type and
    passes the checks of a new event (no unknown field, links on the web)."""
    for kind in EVENT_TYPES:
        shown, curated = reference.example(kind.__name__)
        event = decode_append(msgspec.json.encode({"events": [shown]})).events[0]
        assert type(event) is kind
        assert curated or kind.__name__ in reference.EXAMPLES
    assert set(reference.EXAMPLES) < {kind.__name__ for kind in EVENT_TYPES}
