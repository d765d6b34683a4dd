"""What a class says of its fields in the docstring written under each: the one place the
served spec (request bodies) and the reference (settings) read it from."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import NamedTuple


class FieldSaid(NamedTuple):
    default: str
    """The default as written (`REPO_EVENTS`, not the path it becomes); "" for none."""
    doc: str
    """The field's docstring on one line; "" for none."""


def fields_said(kind: type) -> dict[str, FieldSaid]:
    """Each annotated field of `kind`, in the order written, with its default and docstring."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(kind)))
    node = tree.body[0]
    body = node.body if isinstance(node, ast.ClassDef) else []
    found: dict[str, FieldSaid] = {}
    for n, statement in enumerate(body):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        following = body[n + 1] if n + 1 < len(body) else None
        doc = ""
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            doc = " ".join(following.value.value.split())
        default = ast.unparse(statement.value) if statement.value is not None else ""
        found[statement.target.id] = FieldSaid(default, doc)
    return found
