from __future__ import annotations

import io
import json

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from drgym.web.ingest import ingest

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
