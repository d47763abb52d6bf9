from __future__ import annotations

import pytest

from drgym.errors import ConfigError
from drgym.web.authority import AuthorityTable


def test_suffix_host_and_default_tiers():
    table = AuthorityTable.load()
    assert table.tier("www.census.gov") == 1
    assert table.tier("old.reddit.com") == 3
    assert table.tier("en.wikipedia.org") == 2
    assert table.tier("nobody-knows.example") == table.default_tier


def test_user_file_extends_and_overrides(tmp_path):
    extra = tmp_path / "mine.tsv"
    extra.write_text("# mine\nreddit.com\t2\tforum we trust\nmy-lab.example\t1\tour lab\n")
    table = AuthorityTable.load(extra)
    assert table.tier("reddit.com") == 2
    assert table.tier("docs.my-lab.example") == 1


def test_bad_row_names_file_and_line(tmp_path):
    extra = tmp_path / "bad.tsv"
    extra.write_text("ok.example\t1\n\nbroken.example\tfour\n")
    with pytest.raises(ConfigError, match=r"bad.tsv:3: expected"):
        AuthorityTable.load(extra)
