from __future__ import annotations

from typer.testing import CliRunner

from drgym.cli import app
from drgym.web.corpus import Corpus, Page
from drgym.web.index import SearchIndex


def test_web_search_table_shows_title_and_url_of_each_hit(tmp_path):
    page = Page("https://docs.example/library/functools.html", "docs.example", "functools [Higher-order]",
                "2024-01-01", 1, ("Decorate a function with functools.lru_cache to memoise it.",))
    Corpus.from_pages([page]).save(tmp_path)
    SearchIndex.build(Corpus.load(tmp_path), show_progress=False)
    result = CliRunner().invoke(app, ["web", "search", "lru_cache", "--corpus", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "https://docs.example/library/functools.html" in result.output
    assert "functools [Higher-order]" in result.output  # a title is text, never rich markup
