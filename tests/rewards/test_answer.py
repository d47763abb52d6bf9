"""deep_search answer matching: figures within 1 %, years exactly, aliases, and no credit for lists of candidates."""

from __future__ import annotations

import pytest

from drgym.rewards.answer import match_answer, token_f1


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


@pytest.mark.parametrize("answer,accepted", [
    # several candidates, whatever separates them
    ("1234.5 1300.2", ["1,234.5", "1234.5", "1,234.5 USD million"]),
    ("1,234.5 (1,300.2)", ["1,234.5", "1234.5", "1,234.5 USD million"]),
    ("1,234.5\n1,300.2", ["1,234.5 USD million"]),
    ("| 1,234.5 | 1,300.2 |", ["1,234.5 USD million"]),
    ("The figure is 1,234.5 USD million, though another source has 1,300.2.", ["1,234.5 USD million"]),
    ("1956 1957", ["1956"]),
    ("1956 (or 1974)", ["1956"]),
    ("Ann Lee (Bo Kim)", ["Ann Lee"]),
    ("Ann Lee Bo Kim", ["Ann Lee"]),
    ("ann lee, bo kim", ["Ann Lee"]),
    ("| Ann Lee |\n| Bo Kim |", ["Ann Lee"]),
    ("Ann Lee 1961", ["Ann Lee"]),
    # hedges
    ("maybe Ann Lee", ["Ann Lee"]),
    ("I think it is 1956", ["1956"]),
    ("possibly 305,681", ["305,681"]),
    ("1981, or else the year after", ["1981"]),
    ("1981?", ["1981"]),
    ("1981 — not confident, the register and the archive disagree", ["1981"]),
    ("1,985,524 (other sources: two million)", ["1,985,524"]),
    ("1,985,524 or 1999", ["1,985,524"]),
    ("1981 or MCMLXXXII", ["1981"]),
    ("1,985,524, or roughly seven percent more on other pages", ["1,985,524"]),
    ("Budrith Wecopoult, Stishev Festival", ["Budrith Wecopoult"]),
])
def test_several_candidates_or_a_hedge_is_wrong(answer, accepted):
    match = match_answer(answer, accepted)
    assert not match.is_correct
    assert match.lists_several


@pytest.mark.parametrize("answer,accepted,question", [
    ("305,681 (about 305.7 thousand)", ["305,681"], ""),
    ("305,681 inhabitants in 2023", ["305,681"], ""),
    ("The mayor is Ann Lee.", ["Ann Lee"], "What is the name of the mayor of Haleisport?"),
    ("1 985 524", ["1,985,524"], ""),
    ("1\u202f985\u202f524 inhabitants", ["1,985,524"], ""),
    ("1.985.524", ["1,985,524"], ""),
    ("1.99 mn", ["1,985,524"], ""),
    ("1,985,524 (±1%)", ["1,985,524"], ""),
    ("$12.2 million", ["12.2", "12.2 USD million"], ""),
    ("It is Taquon Works (Taquon).", ["Taquon Works", "Taquon"], ""),
    ("1,234.5 USD million", ["1,234.5", "1234.5", "1,234.5 USD million"], ""),
])
def test_one_committed_answer_in_a_sentence_is_correct(answer, accepted, question):
    assert match_answer(answer, accepted, question=question).is_correct


def test_an_oversized_answer_is_wrong_without_reading_it():
    assert not match_answer("Ann Lee " + "x" * 100_000, ["Ann Lee"]).is_correct


def test_an_answer_that_is_exactly_an_accepted_name_is_correct_with_full_token_f1():
    match = match_answer("  the TAQUON works. ", ["Taquon Works", "Taquon"])
    assert match.is_correct and match.f1 == 1.0 and not match.lists_several
    assert match == match_answer("  the TAQUON works. ", ["Taquon Works", "Taquon"])  # the accepted set, read once


def test_token_f1_against_the_accepted_answers_is_reported_whatever_the_verdict():
    match = match_answer("Taquon Works or Bokar", ["Taquon Works", "Taquon"])
    assert not match.is_correct
    assert match.f1 == pytest.approx(token_f1("Taquon Works or Bokar", "Taquon Works"))
