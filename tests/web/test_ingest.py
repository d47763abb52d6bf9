from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from drgym.errors import IngestError
from drgym.web.corpus import Corpus, Page
from drgym.web.extract import extract_html
from drgym.web.ingest import _CRASHED, _ordered_map, ingest
from drgym.web.quality import ends_mid_sentence, quality_report

ARTICLE = """<html><head><title>Harbour report</title></head><body>
<nav><a href="/home">Home</a> <a href="/about">About</a></nav>
<article><h1>Harbour traffic rises</h1>
<p>The harbour of Kelvaport handled 1,204 ships in 2023, according to the port authority's annual filing.</p>
<p>Officials expect traffic to grow again next year as the new terminal opens to container vessels.</p>
<a href="https://other.example/terminal">terminal</a></article>
<footer>Copyright notice and cookie banner text</footer><script>var tracking = 1;</script></body></html>"""


def test_jsonl_ingest_skips_bad_lines_with_line_numbers(tmp_path):
    source = tmp_path / "pages.jsonl"
    rows = [
        json.dumps({"url": "https://stats.example.gov/a", "text": "Fact one.\n\nFact two.", "title": "A"}),
        "{not json",
        json.dumps({"url": "https://b.example/b"}),
        json.dumps({"url": "relative/path", "text": "x"}),
        json.dumps({"url": "https://c.example/c", "html": ARTICLE, "tier": 3}),
    ]
    source.write_text("\n".join(rows) + "\n")
    corpus, report = ingest([source], show_progress=False)
    assert len(corpus) == 2
    assert corpus.page("https://stats.example.gov/a").paragraphs == ("Fact one.", "Fact two.")
    assert corpus.page("https://stats.example.gov/a").tier == 1  # .gov from the authority table
    assert corpus.page("https://c.example/c").tier == 3  # the record's own tier wins
    locations = [issue.location for issue in report.issues]
    assert locations == ["line 2", "line 3", "line 4"]
    assert "invalid JSON" in report.issues[0].reason
    assert "3 bad records skipped" in report.summary()


def test_jsonl_records_of_the_wrong_shape_are_skipped_naming_line_and_field(tmp_path):
    source = tmp_path / "pages.jsonl"
    rows = [
        json.dumps({"url": "https://a.example/1", "paragraphs": [1, None, "text"]}),
        json.dumps({"url": "https://a.example/2", "text": {"not": "text"}}),
        json.dumps({"url": "https://a.example/3", "html": 7}),
        json.dumps({"url": "https://a.example/4", "text": "Fine.", "outlinks": "https://x"}),
        json.dumps({"url": "https://a.example/5", "text": "Fine.", "title": ["A"]}),
        "[" * 100_000,
        json.dumps({"url": "https://a.example/7", "text": "Kept.\n\nAnd this."}),
    ]
    source.write_text("\n".join(rows) + "\n")
    corpus, report = ingest([source], show_progress=False)
    assert [page.url for page in corpus] == ["https://a.example/7"]
    reasons = {issue.location: issue.reason for issue in report.issues}
    assert reasons["line 1"] == "field 'paragraphs' must hold strings; item 1 is int (1)"
    assert "field 'text' must be a string or a list of strings, got dict" == reasons["line 2"]
    assert "field 'html'" in reasons["line 3"] and "field 'outlinks'" in reasons["line 4"]
    assert "field 'title'" in reasons["line 5"] and "line 6" in reasons


def test_html_folder_ingest_keeps_main_text_and_reports_empty_page(tmp_path):
    folder = tmp_path / "site"
    (folder / "news").mkdir(parents=True)
    (folder / "news" / "harbour.html").write_text(ARTICLE)
    (folder / "empty.html").write_text("<html><body><script>only code</script></body></html>")
    corpus, report = ingest([folder], show_progress=False)
    assert len(corpus) == 1
    page = next(iter(corpus))
    assert page.url == "local://site/news/harbour.html"
    text = page.text
    assert "handled 1,204 ships" in text
    assert "tracking" not in text and "cookie banner" not in text
    assert "https://other.example/terminal" in page.outlinks
    assert [(issue.source.endswith("empty.html"), issue.reason) for issue in report.issues] == [
        (True, "no main text found in the page")]


def _warc_record(writer: WARCWriter, url: str, body: bytes, status: str = "200 OK",
                 content_type: str = "text/html; charset=utf-8"):
    headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)


def test_warc_ingest_reports_broken_records_and_keeps_good_ones(tmp_path):
    path = tmp_path / "crawl.warc"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=False)
        writer.write_record(_warc_record(writer, "https://news.example/harbour", ARTICLE.encode()))
        writer.write_record(_warc_record(writer, "https://news.example/missing", b"gone", status="404 Not Found"))
        writer.write_record(_warc_record(writer, "https://news.example/logo.png", b"\x89PNG", content_type="image/png"))
        writer.write_record(_warc_record(writer, "https://news.example/second", ARTICLE.replace("1,204", "999").encode()))
        out.write(b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 99999\r\n\r\ntruncated garbage")
    corpus, report = ingest([path], show_progress=False)
    assert sorted(p.url for p in corpus) == ["https://news.example/harbour", "https://news.example/second"]
    assert report.n_not_html == 1
    reasons = [issue.reason for issue in report.issues]
    assert any("HTTP status 404" in r for r in reasons)
    assert any(issue.location.startswith("offset ") for issue in report.issues)
    assert len(report.issues) == 2, reasons


# -- structure, links, dates: a small Sphinx-like site (tests/web/fixtures/sphinx_site) --------------------------

SITE = Path(__file__).parent / "fixtures" / "sphinx_site"
BASE = "https://docs.example.org/demo/"


def _site_copy(tmp_path: Path, name: str = "site") -> Path:
    return Path(shutil.copytree(SITE, tmp_path / name))


def test_base_url_gives_folder_pages_stable_urls_whatever_the_folder_is_called(tmp_path):
    first, _ = ingest([_site_copy(tmp_path, "build-2024")], base_url=BASE, show_progress=False)
    second, _ = ingest([_site_copy(tmp_path, "renamed")], base_url="https://docs.example.org/demo", show_progress=False)
    urls = [page.url for page in first]
    assert urls == [BASE + "api.html", BASE + "guide/config.html", BASE + "guide/index.html", BASE + "index.html"]
    assert [page.url for page in second] == urls
    assert {page.domain for page in first} == {"docs.example.org"}


def test_internal_links_resolve_to_pages_of_the_corpus(tmp_path):
    corpus, report = ingest([_site_copy(tmp_path)], base_url=BASE, show_progress=False)
    home = corpus.page(BASE + "index.html")
    # links in the main text come first; 'guide/' is the page guide/index.html; old.html redirects to the guide
    assert home.outlinks[:3] == (BASE + "guide/config.html", BASE + "api.html", BASE + "guide/index.html")
    assert BASE + "old.html" not in corpus and report.n_redirects == 1
    for url in home.outlinks[:3]:  # an agent can follow each of them
        assert url in corpus
    config = corpus.page(BASE + "guide/config.html")
    assert BASE + "api.html" in config.outlinks and BASE + "index.html" in config.outlinks
    assert not any(link.endswith(".css") for page in corpus for link in page.outlinks)  # stylesheets are no links


def test_relative_links_resolve_under_local_urls_without_a_base_url(tmp_path):
    corpus, _ = ingest([_site_copy(tmp_path, "docs")], show_progress=False)
    home = corpus.page("local://docs/index.html")
    assert home.outlinks[:3] == ("local://docs/guide/config.html", "local://docs/api.html", "local://docs/guide/index.html")
    assert "local://docs/index.html" in corpus.page("local://docs/guide/index.html").outlinks


def test_paragraphs_are_rebuilt_from_blocks(tmp_path):
    corpus, _ = ingest([_site_copy(tmp_path)], base_url=BASE, show_progress=False)
    config = corpus.page(BASE + "guide/config.html")
    assert config.title == "Configuration — Demo 1.0 documentation"  # no pilcrow
    assert config.paragraphs == (
        "Configuration",
        "The configuration file is read when the build starts; every value has a default, so an empty file is "
        "a valid configuration.",
        "A minimal file sets the project name and the output folder[1]:",
        'project = "Harbour reports"\noutput = "build/"\n\ndef setup(app):\n    app.connect("ready", print)',
        "Note: Paths in the file are relative to the file itself.",  # a note box's title opens its text
        "Options",
        'Name | Default | Meaning\nproject | "" | Name shown on every page.\noutput | "_build" | Folder the reports '
        "are written to.",
        "Options that are not listed are ignored. See demo.build() and the release notes.",
        "[1] The output folder is created when it does not exist yet.",
    )
    api = corpus.page(BASE + "api.html")
    assert api.paragraphs[1:] == (
        "demo.build(source, out)\nBuilds the reports of source into the folder out.",  # a name opens its definition
        "Parameters: source – the configuration file.\nReturn type: None",  # a field list of short values
        "demo.render(page)\nRenders one page.",
        "Parameters:\n- page (str) – the page name.\n- strict (bool) – fail on a missing reference.",
        "Return type: str",  # a field name stays with its value
        "See the options.")
    for page in corpus:
        assert not any("¶" in p or "[source]" in p for p in page.paragraphs), page.url
        assert "Sidebar text" not in page.text and "Copyright" not in page.text


def test_a_huge_index_page_is_split_into_parts_no_longer_than_the_limit(tmp_path):
    folder = _site_copy(tmp_path)
    entries = "".join(f"<li><a href='api.html#f{i}'>function_{i}() (in module demo.part{i // 50})</a>"
                      f"<ul><li><a href='api.html#g{i}'>alias_{i}</a></li></ul></li>" for i in range(1500))
    (folder / "genindex.html").write_text(f"<html><head><title>Index</title></head><body><div role='main'><h1>Index</h1>"
                                          f"<table class='indextable'><tr><td><ul>{entries}</ul></td></tr></table>"
                                          "</div></body></html>")
    corpus, _ = ingest([folder], base_url=BASE, show_progress=False, max_paragraph_chars=1000)
    index = corpus.page(BASE + "genindex.html")
    assert len(index.paragraphs) > 50
    assert max(len(p) for p in index.paragraphs) <= 1000
    lines = "\n".join(index.paragraphs[1:]).split("\n")
    assert lines[:2] == ["- function_0() (in module demo.part0)", "  - alias_0"]
    assert sum(line.startswith("- function_") for line in lines) == 1500  # every entry kept
    for part in index.paragraphs[1:]:
        assert part.startswith("- function_")  # a sub-entry stays with its entry
    assert BASE + "genindex.html" in corpus.page(BASE + "index.html").outlinks


def test_dates_come_from_metadata_unless_text_dates_are_asked_for(tmp_path):
    corpus, _ = ingest([_site_copy(tmp_path)], base_url=BASE, show_progress=False)
    assert corpus.page(BASE + "api.html").published == "2024-03-15"  # JSON-LD datePublished
    assert corpus.page(BASE + "index.html").published == ""  # only a year in the footer text
    assert corpus.page(BASE + "guide/config.html").published == ""
    guessed, _ = ingest([_site_copy(tmp_path, "again")], base_url=BASE, show_progress=False, guess_dates=True)
    assert guessed.page(BASE + "guide/config.html").published.startswith(("2021", "2012"))
    assert guessed.page(BASE + "api.html").published == "2024-03-15"  # metadata still wins


def test_long_text_paragraphs_of_jsonl_records_are_split_between_sentences(tmp_path):
    sentences = [f"Sentence number {i} says something about harbour traffic." for i in range(100)]
    source = tmp_path / "pages.jsonl"
    source.write_text(json.dumps({"url": "https://a.example/1", "paragraphs": [" ".join(sentences), "Short."]}) + "\n")
    corpus, _ = ingest([source], show_progress=False, max_paragraph_chars=500)
    paragraphs = corpus.page("https://a.example/1").paragraphs
    assert len(paragraphs) > 10 and max(map(len, paragraphs)) <= 500
    assert " ".join(paragraphs[:-1]) == " ".join(sentences) and paragraphs[-1] == "Short."
    assert all(p.endswith(".") for p in paragraphs)


def test_meta_tag_dates_are_read():
    html = ("<html><head><meta property='article:published_time' content='2023-06-01T10:00:00+02:00'></head>"
            "<body><article><p>Text of 2019.</p></article></body></html>")
    assert extract_html(html).published == "2023-06-01"


def test_warc_pages_get_the_same_paragraphs_and_the_http_date(tmp_path):
    path = tmp_path / "site.warc.gz"
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for file in sorted(SITE.rglob("*.html")):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                                  ("Last-Modified", "Tue, 05 Mar 2024 10:00:00 GMT")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(BASE + file.relative_to(SITE).as_posix(), "response",
                                                          payload=io.BytesIO(file.read_bytes()), http_headers=headers))
    from_warc, report = ingest([path], show_progress=False)
    from_folder, _ = ingest([_site_copy(tmp_path)], base_url=BASE, show_progress=False)
    assert [(p.url, p.paragraphs, p.outlinks) for p in from_warc] == [(p.url, p.paragraphs, p.outlinks)
                                                                      for p in from_folder]
    assert from_warc.page(BASE + "index.html").published == "2024-03-05"  # Last-Modified, no metadata date
    assert from_warc.page(BASE + "api.html").published == "2024-03-15"  # the page's own date wins
    assert report.n_redirects == 1


def test_base_url_must_be_an_absolute_http_url_and_apply_to_a_folder(tmp_path):
    with pytest.raises(IngestError, match=re.escape("base_url 'docs.example.org' must be an absolute http(s) url")):
        ingest([SITE], base_url="docs.example.org", show_progress=False)
    source = tmp_path / "pages.jsonl"
    source.write_text(json.dumps({"url": "https://a.example/1", "text": "Fact."}) + "\n")
    with pytest.raises(IngestError, match="applies to folders of .html files"):
        ingest([source], base_url=BASE, show_progress=False)
    with pytest.raises(IngestError, match="would give the same urls to pages of 2 folders"):
        ingest([SITE, _site_copy(tmp_path)], base_url=BASE, show_progress=False)
    with pytest.raises(IngestError, match=re.escape(f"ingest source {tmp_path / 'typo'} does not exist")):
        ingest([SITE, tmp_path / "typo"], show_progress=False)  # refused before the first source is read
    with pytest.raises(IngestError, match="workers must be a whole number"):
        ingest([SITE], workers=0, show_progress=False)


def test_pathological_pages_are_reported_or_read_never_fatal(tmp_path, monkeypatch):
    folder = _site_copy(tmp_path)
    (folder / "deep.html").write_text("<div>" * 100_000 + "Deep text at the bottom." + "</div>" * 100_000)
    (folder / "binary.html").write_bytes(bytes(range(256)) * 40)
    (folder / "declared.html").write_text("<?xml version='1.0' encoding='utf-8'?><html><body><main><p>Declared "
                                          "encoding.</p></main></body></html>")
    (folder / "latin1.html").write_bytes("<html><head><meta charset='iso-8859-1'></head><body><main><p>Café "
                                         "crème.</p></main></body></html>".encode("latin-1"))
    monkeypatch.setattr("drgym.web.ingest.MAX_PAGE_BYTES", 1_500_000)
    (folder / "huge.html").write_text("<main><p>" + "word " * 400_000 + "</p></main>")
    corpus, report = ingest([folder], base_url=BASE, show_progress=False)
    assert len(corpus) >= 6  # the site's four pages, 'declared' and 'latin1'
    assert corpus.page(BASE + "declared.html").paragraphs == ("Declared encoding.",)
    assert corpus.page(BASE + "latin1.html").paragraphs == ("Café crème.",)
    reasons = {Path(issue.source).name: issue.reason for issue in report.issues}
    assert "over the 1,500,000-byte limit" in reasons["huge.html"]
    assert BASE + "deep.html" in corpus or "deep.html" in reasons
    assert all(issue.url.startswith(BASE) for issue in report.issues)  # each names the page's url too
    jsonl = tmp_path / "pages.jsonl"
    jsonl.write_text(json.dumps({"url": "https://a.example/big", "text": "x" * 1_600_000}) + "\n"
                     + json.dumps({"url": "https://a.example/ok", "text": "Kept."}) + "\n")
    corpus, report = ingest([jsonl], show_progress=False)
    assert [page.url for page in corpus] == ["https://a.example/ok"]
    assert [(issue.location, issue.reason) for issue in report.issues] == [
        ("line 1", "record is 1,600,045 bytes, over the 1,500,000-byte limit of one page")]


# -- all cores, same output -----------------------------------------------------------------------------------

def _many_pages(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        (folder / f"page{i:03d}.html").write_text(
            f"<html><head><title>Page {i}</title></head><body><main><p>Page {i} talks about\nharbour {i}, "
            f"<a href='page{(i + 1) % n:03d}.html'>next</a>.</p></main></body></html>")
    (folder / "page007.html").write_text("<html><body><script>no text</script></body></html>")


@pytest.mark.slow
def test_worker_processes_give_the_same_corpus_in_input_order(tmp_path):
    _many_pages(tmp_path / "site", 120)  # over 50 pages per worker: fewer are extracted without starting workers
    serial, serial_report = ingest([tmp_path / "site"], base_url=BASE, workers=1, show_progress=False)
    parallel, parallel_report = ingest([tmp_path / "site"], base_url=BASE, workers=2, show_progress=False)
    assert (parallel_report.n_workers, serial_report.n_workers) == (2, 1)
    assert [(p.url, p.paragraphs, p.outlinks) for p in parallel] == [(p.url, p.paragraphs, p.outlinks) for p in serial]
    assert [p.url for p in parallel][:3] == [BASE + "page000.html", BASE + "page001.html", BASE + "page002.html"]
    assert parallel.page(BASE + "page001.html").paragraphs == ("Page 1 talks about harbour 1, next.",)
    assert parallel.page(BASE + "page001.html").outlinks == (BASE + "page002.html",)
    assert [str(i) for i in parallel_report.issues] == [str(i) for i in serial_report.issues]
    assert parallel_report.n_without_text == 1


def _exit_on_poison(jobs: list) -> list:
    """A worker function that dies (as an out-of-memory kill would) on the job 'poison'."""
    if "poison" in jobs:
        os._exit(1)
    return [job.upper() for job in jobs]


@pytest.mark.slow
def test_a_record_that_kills_its_worker_is_reported_and_the_rest_go_on():
    items = [f"page{i}" for i in range(120)]
    items[13] = "poison"
    results = list(_ordered_map(_exit_on_poison, items, lambda item: item, workers=2, batch_size=4))
    assert [item for item, _ in results] == items
    assert results[13][1] == _CRASHED
    assert [result for item, result in results if item != "poison"] == [item.upper() for item in items if item != "poison"]


def test_a_pool_that_breaks_between_two_submissions_loses_no_item(monkeypatch):
    # a worker can die while the parent is still submitting: submit() itself then raises BrokenProcessPool, and
    # that batch must be re-run like the ones in flight, not end the ingest
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    real_submit, calls = ProcessPoolExecutor.submit, []

    def submit_breaking_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # the warm-up, two batches, then the pool "breaks"
            raise BrokenProcessPool("a worker died")
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit_breaking_once)
    items = [f"page{i}" for i in range(120)]
    results = list(_ordered_map(_exit_on_poison, items, lambda item: item, workers=2, batch_size=4))
    assert [item for item, _ in results] == items and [r for _, r in results] == [i.upper() for i in items]
    assert len(calls) > 4


def test_quality_report_counts_cut_sentences_lengths_and_links():
    pages = [
        Page(url="https://d.example/a", domain="d.example", title="A", published="", tier=2,
             paragraphs=("The configuration file is read", "when the build starts and every", "value has a default.",
                         "Options", "tls_verify", "x = 1\ny = 2"),
             outlinks=("https://d.example/b", "https://d.example/gone", "https://elsewhere.example/")),
        Page(url="https://d.example/b", domain="d.example", title="B", published="", tier=2,
             paragraphs=("A whole sentence.", "For example,", "print(1)\nprint(2)"), outlinks=("https://d.example/a",)),
    ]
    report = quality_report(Corpus.from_pages(pages), n_pages_without_text=3)
    assert (report.n_paragraphs, report.n_prose_paragraphs) == (9, 7)
    assert report.n_mid_sentence == 2  # the two cut lines; not the heading before an identifier, not "For example,"
    assert report.share_mid_sentence == pytest.approx(2 / 7)
    assert (report.n_links_resolved, report.n_links_unresolved, report.n_links_external) == (2, 1, 1)
    assert report.unresolved_examples == ("https://d.example/gone",)
    assert report.chars_max == len("when the build starts and every")
    assert dict(report.rows())["pages without main text (skipped)"] == "3"
    assert ends_mid_sentence("see the", None)  # a page that ends on 'the' was cut


def test_ingest_command_takes_a_base_url_and_prints_the_quality_table(tmp_path):
    from typer.testing import CliRunner

    from drgym.cli import app

    out = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["web", "ingest", str(_site_copy(tmp_path)), "--out", str(out), "--base-url", BASE,
                                      "--workers", "1", "--no-index"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "1 redirect pages followed" in result.output
    assert "prose ending mid-sentence" in result.output and "internal links resolved" in result.output
    assert BASE + "guide/config.html" in Corpus.load(out)
    result = CliRunner().invoke(app, ["web", "ingest", str(SITE), "--out", str(out), "--base-url", "docs.example.org"])
    assert result.exit_code == 1 and "IngestError: base_url 'docs.example.org' must be an absolute" in result.output


def test_pages_without_a_main_element_fall_back_to_trafilatura_keeping_blocks_and_page_relative_links():
    html = """<html><head><title>Harbour news</title></head><body>
    <div id="menu"><a href="/home">Home</a> | <a href="/about">About us</a></div>
    <div class="content"><h2>Harbour traffic rises</h2>
    <p>The harbour of Kelvaport handled 1,204 ships
    in 2023, according to the port authority's annual
    filing, which the <a href="../reports/2023.html">full report</a> details.</p>
    <p>Officials expect traffic to grow again next year as the new terminal opens to container vessels and
    the dredging of the northern channel is finished.</p>
    <pre>ships = 1204
year = 2023</pre>
    <table><tr><th>Year</th><th>Ships</th></tr><tr><td>2022</td><td>1,100</td></tr><tr><td>2023</td><td>1,204</td></tr>
    </table></div>
    <div class="footer">Copyright notice and cookie banner text</div></body></html>"""
    page = extract_html(html, url="https://news.example/2024/harbour/story.html")
    assert page.paragraphs[1] == ("The harbour of Kelvaport handled 1,204 ships in 2023, according to the port "
                                  "authority's annual filing, which the full report details.")
    assert "ships = 1204\nyear = 2023" in page.paragraphs
    assert "Year | Ships\n2022 | 1,100\n2023 | 1,204" in page.paragraphs
    assert not any("cookie" in p for p in page.paragraphs)
    assert page.outlinks[0] == "https://news.example/2024/reports/2023.html"  # against the page, not the site root


@pytest.mark.slow
def test_a_script_without_a_main_guard_still_ingests_and_is_told_the_fix(tmp_path):
    _many_pages(tmp_path / "site", 120)
    script = tmp_path / "unguarded.py"
    script.write_text("import sys\nfrom drgym.web.ingest import ingest\n"
                      "corpus, report = ingest([sys.argv[1]], show_progress=False, workers=2)\n"
                      "print('pages', len(corpus), 'workers', report.n_workers)\n")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "site")], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pages 119 workers 1"
    assert 'must call it under `if __name__ == "__main__":`' in done.stderr


def test_an_empty_main_element_does_not_hide_the_text_beside_it():
    html = ("<html><body><main><h1></h1></main><div class='c'><p>The harbour of Kelvaport handled 1,204 ships in "
            "2023, according to the port authority's annual filing.</p><p>Officials expect traffic to grow again "
            "next year as the new terminal opens.</p></div></body></html>")
    assert extract_html(html).paragraphs[0].startswith("The harbour of Kelvaport handled 1,204 ships")
