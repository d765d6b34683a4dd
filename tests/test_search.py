"""The word index against a plain reading of the outlines: for any titles, summaries and
parties, and any search, the store lists exactly the partnerships whose outline has, for
each word searched, a word that begins with it (in any case, with or without accents)."""

from __future__ import annotations

import asyncio
import tempfile
import unicodedata
from datetime import date

import msgspec
from helpers import announce
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timeline.events import Party
from timeline.store import open_store
from timeline.store.read_models import ListFilters

LETTERS = "abcéÉ AB-_%1"
"""Few letters, so that words and prefixes meet often; accents, case and separators too."""
texts = st.text(alphabet=LETTERS, min_size=1, max_size=12).filter(lambda t: t.strip())


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _words(text: str) -> list[str]:
    """Words the slow way: runs of letters and digits, everything else parts them."""
    out, word = [], ""
    for char in _plain(text) + " ":
        if char.isalnum():
            word += char
        elif word:
            out, word = [*out, word], ""
    return out


def _expected(outlines: dict[str, list[str]], query: str) -> list[str]:
    wanted = _words(query)
    return sorted(
        stream
        for stream, said in outlines.items()
        if all(any(w.startswith(q) for text in said for w in _words(text)) for q in wanted)
    )


async def _found(titles: list[str], summaries: list[str], names: list[str], query: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await open_store(f"sqlite:///{folder}/search.db")
        try:
            outlines: dict[str, list[str]] = {}
            for n, (title, summary, name) in enumerate(zip(titles, summaries, names, strict=True)):
                stream = f"p{n}"
                data = msgspec.structs.replace(
                    announce().data,
                    title=title,
                    summary=summary,
                    kind="x",
                    parties=(Party(org=f"org-{n}", name=name), Party(org="z", name="z")),
                )
                await store.append(
                    stream, [msgspec.structs.replace(announce(), data=data)], actor="t"
                )
                outlines[stream] = [title, summary, name, f"org-{n}", "z", "x"]
            page = await store.read_models.partnerships(
                ListFilters(day=date(2024, 7, 1), text=query), 100
            )
            assert [stream for stream, _o, _v in page] == _expected(outlines, query)
        finally:
            await store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=4),
    st.one_of(texts, st.sampled_from(["a b", "ab", "É", "1", "b_a", "-%"])),
)
def test_the_index_finds_what_reading_the_outlines_finds(
    outlines: list[tuple[str, str, str]], query: str
) -> None:
    titles, summaries, names = (list(column) for column in zip(*outlines, strict=True))
    asyncio.run(_found(titles, summaries, names, query))
