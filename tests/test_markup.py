"""Markup is made one way: fixed templates whose values are escaped by default."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from timeline.web.markup import Markup, html, join, web_url

WEB = Path(__file__).resolve().parent.parent / "timeline" / "web"


def test_values_are_escaped_and_markup_is_kept() -> None:
    """A value goes into a template escaped, in text and in either quote of an attribute;
    only markup made by the layer itself goes in as it is."""
    made = html("<a title='{}'>{}</a>{}", "'\"<>&", "<script>", html("<b>{}</b>", "&"))
    assert made == "<a title='&#39;&#34;&lt;&gt;&amp;'>&lt;script&gt;</a><b>&amp;</b>"
    assert join(["<i>", html("<i>{}</i>", 1)]) == "&lt;i&gt;<i>1</i>"
    assert isinstance(made, Markup)


@pytest.mark.parametrize(
    ("url", "linked"),
    [
        ("https://example.org/a?b=c#d", True),
        ("HTTP://EXAMPLE.ORG", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("data:text/html,<script>1</script>", False),
        ("vbscript:x", False),
        ("//example.org/x", False),
        ("/relative", False),
        ("https://", False),
        ("https://exa mple.org", False),
        ("https://example.org/\u0000", False),
        ("https://[::1", False),
    ],
)
def test_only_web_addresses_become_links(url: str, *, linked: bool) -> None:
    """A value from the data is linked only when it is an absolute http(s) URL with a host."""
    assert (web_url(url) == url) is linked


def _markup_built_by_hand(path: Path) -> list[str]:
    """Lines of `path` that make markup with an f-string, `%` or `.format` on a plain string,
    or that escape by hand: all of it goes through `timeline.web.markup`."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
            if "<" in text or "='" in text:
                found.append(f"{path.name}:{node.lineno}: f-string markup")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if isinstance(node.left, ast.Constant) and "<" in str(node.left.value):
                found.append(f"{path.name}:{node.lineno}: %-formatted markup")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if node.func.attr == "format" and isinstance(target, ast.Constant):
                found.append(f"{path.name}:{node.lineno}: str.format markup")
        if isinstance(node, ast.ImportFrom) and node.module == "html":
            found.append(f"{path.name}:{node.lineno}: escapes by hand")
        if isinstance(node, ast.Name) and node.id == "escape":
            found.append(f"{path.name}:{node.lineno}: escapes by hand")
    return found


def test_no_module_of_the_pages_builds_markup_by_hand() -> None:
    """Every module under `timeline/web/` makes its markup through the escaping layer."""
    modules = sorted(WEB.glob("*.py"))
    assert len(modules) >= 3
    assert [line for path in modules for line in _markup_built_by_hand(path)] == []


def test_the_guard_finds_markup_built_by_hand(tmp_path: Path) -> None:
    """The guard above fails on each way of making markup by hand."""
    module = tmp_path / "bad.py"
    module.write_text(
        "from html import escape\n"
        "a = f'<li>{x}</li>'\n"
        "b = '<li>%s</li>' % x\n"
        "c = '<li>{}</li>'.format(x)\n"
        "d = escape(x)\n"
    )
    assert len(_markup_built_by_hand(module)) == 5
