"""Figures as the sources state them, in words: the comparator, the number, the unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from timeline.events import Comparator
from timeline.words import figure_words


@pytest.mark.parametrize(
    ("comparator", "said"),
    [
        (">=", "at least 1.5 million workloads"),
        (">", "more than 1.5 million workloads"),
        ("=", "1.5 million workloads"),
        ("<=", "at most 1.5 million workloads"),
        ("<", "under 1.5 million workloads"),
        ("~", "about 1.5 million workloads"),
    ],
)
def test_a_figure_says_its_comparator_number_and_unit(comparator: Comparator, said: str) -> None:
    assert figure_words(Decimal(1500000), "workloads", comparator) == said
