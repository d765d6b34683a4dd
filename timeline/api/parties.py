"""`party=` wherever an organization is named: its id, or a name, alias or identifier it goes by."""

from __future__ import annotations

from timeline.api.errors import ProblemError, bad_request
from timeline.api.http import STREAM_ID, valid_stream_id
from timeline.api.services import Services
from timeline.events import SLUG_MAX

NAME_MAX = 300
"""Characters a name, alias or identifier given for an organization may have."""


async def party_param(svc: Services, value: str, name: str = "party") -> str:
    """The organization id `value` means: an id as given (registered or only a party's slug);
    else the one registered organization a name, former name, alias or identifier
    (`lei:...`, `wikidata:Q...`) names. None found is a 400, several a 409 naming them."""
    if STREAM_ID.fullmatch(value) is not None and len(value) <= SLUG_MAX:
        return value
    if len(value) > NAME_MAX or not value.strip() or not value.isprintable():
        return valid_stream_id(value, name, "query")  # says what an id is
    found = await svc.store.read_models.named(value)
    if not found:
        raise bad_request(
            f"{name}={value!r} is neither an organization id nor a name, alias or identifier "
            "a registered organization goes by",
            f"query.{name}",
        )
    if len(found) > 1:
        raise ProblemError(409, f"{name}={value!r} names several organizations: {', '.join(found)}")
    return found[0]
