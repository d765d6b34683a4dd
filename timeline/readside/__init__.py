"""The incremental read side, on the domain side of the store: a stream folded as it grows
and at rest (`incremental`), the calendar items rewritten by what changed (`item_memo`), and
the rows cross-partnership reads filter on (`readmodels`). Pure: the store persists them.
"""
