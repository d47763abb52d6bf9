"""deep_search answer matching: figures within 1 %, years exactly, aliases, and no credit for lists of candidates."""

from __future__ import annotations

import pytest

from drgym.rewards.answer import match_answer


@pytest.mark.parametrize("answer,accepted,correct", [
    ("1956", ["1956"], True),
    ("It was founded in 1956.", ["1956"], True),
    ("1974", ["1956"], False),  # a relative tolerance on years would accept this (1 % of 1956 is 19.6)
    ("1957", ["1956"], False),
    ("1,131,507", ["1,131,507", "1131507"], True),
    ("about 1.13 million", ["1,131,507"], True),
    ("1.2 million", ["1,131,507"], False),
    ("674.07", ["674.07"], True),
    ("25,710 employees", ["25,710", "25710", "25,710 employees"], True),
    ("305,681 or 290,000", ["305,681"], False),
    ("Taquon", ["Taquon Works", "Taquon"], True),
    ("Taquon Works", ["Taquon Works", "Taquon"], True),
    ("Quatrouthford / Nawulville", ["Quatrouthford"], False),
    ("", ["1956"], False),
])
def test_match_answer(answer, accepted, correct):
    assert match_answer(answer, accepted).is_correct is correct
