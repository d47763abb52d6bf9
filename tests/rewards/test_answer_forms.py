from __future__ import annotations

import pytest

from drgym.rewards.answer import match_answer, numeric_answer, set_answer


def test_a_computed_figure_matches_within_its_absolute_tolerance():
    gold = numeric_answer(12.3456, decimals=4, tolerance=0.0505, percent=True)
    assert gold == "12.3456% ± 0.0505"
    assert match_answer("12.3%", [gold]).is_correct
    assert match_answer("The revenue grew by 12.35 percent", [gold]).is_correct
    assert not match_answer("12.5%", [gold]).is_correct
    assert not match_answer("-12.3%", [gold]).is_correct
    assert not match_answer("12.3 or 12.4", [gold]).is_correct
    assert match_answer("12.3% or so", [gold]).lists_several  # a hedge


def test_a_count_with_zero_tolerance_is_exact():
    gold = numeric_answer(7, decimals=0, tolerance=0)
    assert match_answer("7", [gold]).is_correct
    assert not match_answer("8", [gold]).is_correct
    assert not match_answer("7 or 8", [gold]).is_correct


def test_a_set_answer_is_graded_by_f1_against_the_members_and_their_aliases():
    exact = set_answer([["Alpha Works", "Alpha"], ["Beta Group"], ["Gamma Systems"]])
    assert exact == "{Alpha Works|Alpha; Beta Group; Gamma Systems}"
    assert match_answer("Alpha, Beta Group and Gamma Systems", [exact]).is_correct
    assert match_answer("- Gamma Systems\n- the company Beta Group\n- Alpha Works", [exact]).is_correct
    missing = match_answer("Alpha Works; Beta Group", [exact])
    assert not missing.is_correct and "missing Gamma Systems" in missing.reason
    assert not match_answer("Alpha Works; Beta Group; Gamma Systems; Delta Co", [exact]).is_correct
    lenient = set_answer([["Alpha Works", "Alpha"], ["Beta Group"], ["Gamma Systems"]], min_f1=0.8)
    assert match_answer("Alpha Works; Beta Group; Gamma Systems; Delta Co", [lenient]).is_correct  # F1 0.86
    assert not match_answer("Alpha Works", [lenient]).is_correct  # F1 0.5
    assert not match_answer("maybe Alpha Works; Beta Group; Gamma Systems", [lenient]).is_correct


def test_a_set_member_name_cannot_hold_the_separators():
    with pytest.raises(ValueError, match="may not be empty or hold"):
        set_answer([["Alpha; Beta"]])
