"""Ingest speed: pages/s of `drgym web ingest` on an HTML folder, a WARC and a JSONL of the same pages, against
trafilatura called directly on the same pages in the same process.

    python -m drgym.benchmarks.perf_ingest --folder path/to/sphinx/html --base-url https://docs.example.org/
    python -m drgym.benchmarks.perf_ingest            # generated documentation-like pages (no folder needed)

Rows:

* **trafilatura** ``bare_extraction`` with the options drgym 0.1 used (metadata, tables, favor_recall), and
  ``extract`` with its defaults: the reference, one process;
* **extract_html**: drgym's block extractor on the same HTML strings, one process, interleaved page by page
  with trafilatura so that a load change on a shared machine hits both alike;
* **ingest folder / WARC / JSONL**: the whole path (reading, decoding, extraction, link resolution, corpus
  build) with 1 worker and with all cores; the WARC and JSONL hold the same pages as the folder.

Figures are pages per wall second and per CPU second (this process and its workers); ratios are against
trafilatura ``bare_extraction`` in this run. The load average is printed beside them: on a machine shared with
other work, wall figures understate what the cores can do.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import trafilatura
from rich.console import Console
from rich.table import Column, Table
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from drgym.web.extract import extract_html
from drgym.web.ingest import ingest

_WORDS = ("harbour configuration builder extension theme directive domain index search render output source "
          "template option value default module function class method attribute parameter return type event "
          "document section paragraph table list code example reference link page build project version").split()


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the ingest workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 24))]
    return " ".join(words).capitalize() + "."


def _wrapped(text: str, width: int = 72) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def generated_site(folder: Path, n_pages: int, *, seed: int = 0) -> None:
    """Documentation-like pages: navigation and sidebar, sections of hard-wrapped paragraphs, code, tables,
    lists, links between pages; about 20-40 kB each, like a Sphinx build."""
    rng = random.Random(seed)
    for number in range(n_pages):
        sections = []
        for s in range(rng.randint(4, 9)):
            blocks = [f"<h2>Section {s}<a class='headerlink' href='#s{s}'>¶</a></h2>"]
            for _ in range(rng.randint(3, 7)):
                kind = rng.random()
                if kind < 0.55:
                    link = f"<a class='reference internal' href='page{rng.randrange(n_pages)}.html'>see this</a>"
                    blocks.append(f"<p>{_wrapped(' '.join(_sentence(rng) for _ in range(rng.randint(2, 5))))} "
                                  f"{link}.</p>")
                elif kind < 0.75:
                    code = "\n".join(f"<span class='n'>{rng.choice(_WORDS)}</span> = <span class='mi'>{i}</span>"
                                     for i in range(rng.randint(3, 15)))
                    blocks.append(f"<div class='highlight'><pre><span></span>{code}\n</pre></div>")
                elif kind < 0.9:
                    rows = "".join(f"<tr><td><p>{rng.choice(_WORDS)}</p></td><td><p>{_sentence(rng)}</p></td></tr>"
                                   for _ in range(rng.randint(2, 8)))
                    blocks.append(f"<table class='docutils'><thead><tr><th>Name</th><th>Meaning</th></tr></thead>"
                                  f"<tbody>{rows}</tbody></table>")
                else:
                    items = "".join(f"<li><p>{_sentence(rng)}</p></li>" for _ in range(rng.randint(2, 8)))
                    blocks.append(f"<ul>{items}</ul>")
            sections.append(f"<section id='s{s}'>{''.join(blocks)}</section>")
        sidebar = "".join(f"<li><a href='page{i}.html'>Page {i}</a></li>" for i in range(0, n_pages, 3))
        (folder / f"page{number}.html").write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Page {number} — Demo documentation</title>"
            "<link rel='stylesheet' href='_static/basic.css'></head><body>"
            f"<div class='related' role='navigation'><ul><li><a href='index.html'>Demo</a></li></ul></div>"
            f"<div class='document'><div class='body' role='main'><h1>Page {number}"
            f"<a class='headerlink' href='#'>¶</a></h1>{''.join(sections)}</div>"
            f"<div class='sphinxsidebar' role='navigation'><ul>{sidebar}</ul></div></div>"
            "<div class='footer'>© Copyright Demo authors.</div></body></html>")


def _write_warc(pages: list[tuple[str, str]], path: Path) -> None:
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for url, html in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html.encode()),
                                                          http_headers=headers))


def _write_jsonl(pages: list[tuple[str, str]], path: Path) -> None:
    with path.open("w") as out:
        for url, html in pages:
            out.write(json.dumps({"url": url, "html": html}) + "\n")


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, help="a folder of .html files (default: generated pages)")
    parser.add_argument("--base-url", default="https://docs.example.org/", help="where the folder's pages live")
    parser.add_argument("--pages", type=int, default=300, help="pages to use (the first N files, sorted); ingest "
                                                               "starts workers above 50 pages per worker")
    parser.add_argument("--workers", type=int, default=None, help="processes for the all-cores rows (default all)")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 120))  # the table's rows stay one line each
    workers = args.workers or len(os.sched_getaffinity(0))
    base = args.base_url if args.base_url.endswith("/") else args.base_url + "/"
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="drgym-perf-ingest-") as scratch:
        scratch_path = Path(scratch)
        folder = scratch_path / "site"
        folder.mkdir()
        if args.folder is None:
            generated_site(folder, args.pages)
        else:  # the first N pages, copied so that every path reads exactly the same pages
            for file in sorted(p for p in args.folder.rglob("*") if p.suffix in (".html", ".htm"))[: args.pages]:
                target = folder / file.relative_to(args.folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(file.read_bytes())
        files = sorted(p for p in folder.rglob("*") if p.suffix in (".html", ".htm"))
        pages = [(base + f.relative_to(folder).as_posix(), f.read_text(encoding="utf-8", errors="replace"))
                 for f in files]
        _write_warc(pages, scratch_path / "site.warc.gz")
        _write_jsonl(pages, scratch_path / "site.jsonl")
        n = len(pages)
        megabytes = sum(len(html) for _, html in pages) / 1e6
        console.print(f"{n} pages, {megabytes:.1f} MB of HTML; {workers} workers for the all-cores rows; "
                      f"load before: {os.getloadavg()[0]:.2f}")

        _write_jsonl(pages[:1], scratch_path / "warm-up.jsonl")
        ingest([scratch_path / "warm-up.jsonl"], workers=1, show_progress=False)  # imports and tables loaded once
        spent = {"bare": [0.0, 0.0], "extract": [0.0, 0.0], "drgym": [0.0, 0.0]}  # wall s, CPU s

        def timed(name: str, call, *call_args, **call_kwargs) -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            call(*call_args, **call_kwargs)
            spent[name][0] += time.perf_counter() - wall
            spent[name][1] += time.process_time() - cpu

        for url, html in pages:  # interleaved: the same load for each
            timed("bare", trafilatura.bare_extraction, html, url=url, with_metadata=True, include_tables=True,
                  include_comments=False, favor_recall=True)
            timed("extract", trafilatura.extract, html)
            timed("drgym", extract_html, html, url=url)
        reference = n / spent["bare"][1]

        measured: list[tuple[str, float, float]] = [
            ("trafilatura.bare_extraction (drgym 0.1 options), 1 process", *spent["bare"]),
            ("trafilatura.extract (defaults), 1 process", *spent["extract"]),
            ("drgym extract_html, 1 process", *spent["drgym"]),
        ]
        sources = [("folder", folder, base), ("WARC", scratch_path / "site.warc.gz", None),
                   ("JSONL", scratch_path / "site.jsonl", None)]
        for label, source, base_url in sources:
            for n_workers in sorted({1, workers}):
                wall, cpu = time.perf_counter(), _cpu_s()
                corpus, report = ingest([source], base_url=base_url, workers=n_workers, show_progress=False)
                used = report.n_workers
                measured.append((f"ingest {label}, {used} worker{'s' if used > 1 else ''}",
                                 time.perf_counter() - wall, _cpu_s() - cpu))
                if len(corpus) + report.n_redirects + len(report.issues) != n:
                    raise RuntimeError(f"ingest {label} accounted for {len(corpus)} pages of {n}: {report.summary()}")

    load = os.getloadavg()
    table = Table(Column("path", no_wrap=True), "pages/s (wall)", "pages/CPU-s", "vs trafilatura (CPU)",
                  title=f"drgym ingest speed, {n} pages ({megabytes:.1f} MB HTML); load {load[0]:.2f} {load[1]:.2f} "
                        f"{load[2]:.2f} on {os.cpu_count()} CPUs", title_justify="left")
    for label, wall_s, cpu_s in measured:
        per_cpu = n / cpu_s if cpu_s else float("inf")
        table.add_row(label, f"{n / wall_s:,.1f}", f"{per_cpu:,.1f}", f"{per_cpu / reference:.1f}x")
        rows.append((label, f"{n / wall_s:,.1f} pages/s", f"{per_cpu / reference:.1f}x trafilatura per CPU-s"))
    console.print(table)
    return rows


if __name__ == "__main__":
    main()
