"""An organization as a page: its names over time, its family drawn as a small tree (what it
came out of, what came out of it, what it merged into), and its partnerships. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from timeline.api.models import Organization
from timeline.organization import OrganizationState, Relation
from timeline.web.markup import Markup, html, join, web_url
from timeline.web.pages import document

REGISTERS = {
    "lei": "https://search.gleif.org/#/record/",
    "wikidata": "https://www.wikidata.org/wiki/",
}
"""Where an identifier of a known scheme can be looked up."""


@dataclass(frozen=True, slots=True)
class Family:
    """The organizations around this one, by id, with the names they go by where known."""

    names: dict[str, str]

    def link(self, org: str) -> Markup:
        return html(
            "<a href='/organizations/{}/page'>{}</a>", quote(org, safe=""), self.names.get(org, org)
        )


def _relation_words(relation: Relation, verb: str) -> str:
    when = f" (due by {relation.due.describe()})" if relation.due is not None else ""
    planned = " planned" if relation.firmness == "planned" else ""
    return f"{verb}{planned}, {relation.effective.describe()}{when}"


def _tree(found: Organization, family: Family) -> Markup:
    """Parent above, this organization, its spin-offs below; mergers and acquisitions beside."""
    state = found.registered
    here = html("<strong aria-current='page'>{}</strong>", found.name)
    children = join(html("<li>{}</li>", family.link(child)) for child in found.spin_offs)
    node = html("<li>{}{}</li>", here, html("<ul>{}</ul>", children) if children else "")
    if state is not None and state.spun_off_from is not None:
        parent = state.spun_off_from
        node = html(
            "<li>{} <span class='relation'>{}</span><ul>{}</ul></li>",
            family.link(parent.org),
            _relation_words(parent, "spin-off"),
            node,
        )
    beside: list[Markup] = [
        html("<li>Merged into it: {}</li>", family.link(p)) for p in found.predecessors
    ]
    beside += [html("<li>Acquired: {}</li>", family.link(a)) for a in found.acquisitions]
    if state is not None and state.merged_into is not None:
        beside.append(
            html(
                "<li>Merged into {} <span class='relation'>{}</span></li>",
                family.link(state.merged_into.org),
                state.merged_into.effective.describe(),
            )
        )
    if state is not None and state.acquired_by is not None:
        beside.append(
            html(
                "<li>Acquired by {} <span class='relation'>{}</span></li>",
                family.link(state.acquired_by.org),
                state.acquired_by.effective.describe(),
            )
        )
    return html(
        "<section class='lane-list'><h3>Family</h3><ul class='family'>{}</ul>{}</section>",
        node,
        html("<ul>{}</ul>", join(beside)) if beside else "",
    )


def _names(state: OrganizationState) -> Markup:
    latest = state.former_names[0].until if state.former_names else None
    current = html(
        "<li><strong>{}</strong> <span class='relation'>since {}</span></li>",
        state.name,
        (latest or state.since).describe(),
    )
    former = join(
        html(
            "<li>{} <span class='relation'>{} to {}</span></li>",
            named.name,
            named.since.describe(),
            named.until.describe() if named.until else "",
        )
        for named in state.former_names
    )
    aliases = join(
        html("<li>{} <span class='relation'>alias</span></li>", a.alias) for a in state.aliases
    )
    return html(
        "<section class='lane-list'><h3>Names</h3><ul>{}{}{}</ul></section>",
        current,
        former,
        aliases,
    )


def _identifiers(state: OrganizationState) -> Markup:
    if not state.identifiers:
        return Markup("")
    items: list[Markup] = []
    for found in state.identifiers:
        register = REGISTERS.get(found.scheme)
        link = web_url(register + quote(found.value, safe="") if register else None)
        shown = (
            html("<a href='{}' rel='noopener noreferrer'>{}</a>", link, found.key)
            if link
            else html("{}", found.key)
        )
        items.append(html("<li>{}</li>", shown))
    return html("<section class='lane-list'><h3>Identifiers</h3><ul>{}</ul></section>", join(items))


def organization_page(found: Organization, family: Family) -> Markup:
    """The page for people of `GET /organizations/{org}` (the same answer, in words)."""
    state = found.registered
    about: list[str] = []
    if state is not None:
        about.append(state.kind)
        if state.country is not None:
            about.append(state.country)
        about.append(
            {"planned": "planned spin-off", "active": "active", "merged": "merged"}[state.status]
        )
    else:
        about.append("not registered: named by its partnerships only")
    partnerships = join(
        html(
            "<li class='item'><a href='{}/timeline'>{}</a>"
            " <span class='relation'>{}{}{}</span></li>",
            member.href,
            member.title,
            member.status,
            "" if member.current_party else ", a former party",
            f", as {family.names.get(member.via, member.via)}" if member.via else "",
        )
        for member in found.partnerships
    )
    sections: Sequence[Markup] = (
        _names(state) if state is not None else Markup(""),
        _identifiers(state) if state is not None else Markup(""),
        _tree(found, family),
        html("<section class='lane-list'><h3>Partnerships</h3><ul>{}</ul></section>", partnerships)
        if partnerships
        else Markup(""),
    )
    body = html(
        "<header class='top'><p><a href='/'>All partnerships</a></p><h1>{}</h1>"
        "<p class='meta'>{}</p></header><main class='organization'>{}"
        "<nav class='links'><a href='{}'>JSON</a><a href='{}'>Calendar</a></nav></main>",
        found.name,
        " · ".join(about),
        join(sections),
        found.href,
        found.calendar.url,
    )
    return document(found.name, body)
