"""`drgym web`: ingest pages into a corpus, build its index, search it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from drgym.cli.app import SearchMode, console, web_app


def hits_table(query: str, hits) -> Table:
    table = Table(title=f"search: {query!r}", show_lines=False, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("tier", justify="center")
    table.add_column("title", overflow="fold", max_width=30)
    table.add_column("url", overflow="fold", style="dim")
    table.add_column("date")
    table.add_column("paragraph", overflow="fold", max_width=70)
    for rank, hit in enumerate(hits, start=1):
        text = hit.text if len(hit.text) <= 200 else hit.text[:197] + "..."
        table.add_row(str(rank), f"{hit.score:.3f}", str(hit.tier), escape(hit.title), escape(hit.url),
                      hit.published, escape(text))
    return table


def load_index(corpus: Path | None, suite: str | None):
    if corpus is not None:  # the task layer (worlds, suites) is not imported for a corpus of one's own
        from drgym.web.corpus import Corpus
        from drgym.web.index import SearchIndex

        return SearchIndex.load(corpus / "index", Corpus.load(corpus))
    from drgym.tasks.suites import DEFAULT_SUITE, load_suite

    return load_suite(suite or DEFAULT_SUITE).index


@web_app.command("ingest")
def web_ingest(
    sources: Annotated[list[Path], typer.Argument(help="JSONL files, folders of .html files, .warc/.warc.gz files")],
    out: Annotated[Path, typer.Option(help="corpus folder to write")],
    authority: Annotated[Path | None, typer.Option(help="extra authority table (TSV: domain, tier, category)")] = None,
    keep_html: Annotated[bool, typer.Option(help="store each page's HTML next to its text")] = True,
    index: Annotated[bool, typer.Option(help="build the BM25 index too")] = True,
    base_url: Annotated[str | None, typer.Option(help="where a folder's pages live, e.g. https://docs.example.org/en/ "
                                                      "(stable urls and domain; default local://<folder>/...)")] = None,
    guess_dates: Annotated[bool, typer.Option(help="date pages whose metadata names no date from their text")] = False,
    workers: Annotated[int | None, typer.Option(help="extraction processes (default: all CPU cores)")] = None,
) -> None:
    """Ingest pages into a corpus; bad records are reported with file and line/offset, then skipped."""
    from drgym.web.authority import AuthorityTable
    from drgym.web.index import SearchIndex
    from drgym.web.ingest import ingest
    from drgym.web.quality import quality_report

    corpus, report = ingest(sources, authority=AuthorityTable.load(authority), name=out.name, keep_html=keep_html,
                            base_url=base_url, guess_dates=guess_dates, workers=workers)
    for issue in report.issues:
        console.print(f"[yellow]skipped[/] {issue}", highlight=False, soft_wrap=True)  # paths stay copyable
    corpus.save(out)
    console.print(report.summary(), soft_wrap=True)
    quality = Table("extraction quality", "", title=f"quality of {out.name}", title_justify="left")
    for figure, value in quality_report(corpus, n_pages_without_text=report.n_without_text).rows():
        quality.add_row(figure, escape(value))
    console.print(quality)
    if index:
        SearchIndex.build(corpus, out / "index")
    console.print(f"corpus written to {out}", soft_wrap=True)


@web_app.command("index")
def web_index(
    corpus: Annotated[Path, typer.Argument(help="corpus or world folder")],
    dense: Annotated[bool, typer.Option(help="also embed paragraphs with MiniLM for hybrid search (slow)")] = False,
) -> None:
    """Build (or rebuild) the search index of a corpus."""
    from drgym.web.corpus import Corpus
    from drgym.web.index import SearchIndex

    started = time.perf_counter()
    loaded = Corpus.load(corpus)
    index = SearchIndex.build(loaded, corpus / "index", dense=dense)
    console.print(f"indexed {len(index)} paragraphs of {len(loaded)} pages in {time.perf_counter() - started:.1f} s")


@web_app.command("search")
def web_search(
    query: Annotated[str, typer.Argument(help="free-text query")],
    corpus: Annotated[Path | None, typer.Option(help="corpus or world folder (default: the suite's world)")] = None,
    suite: Annotated[str | None, typer.Option(help="suite whose world to search (default procedural:easy)")] = None,
    k: Annotated[int, typer.Option("-k", help="number of hits")] = 10,
    mode: Annotated[SearchMode, typer.Option(help="ranking")] = SearchMode.bm25,
    tier: Annotated[list[int] | None, typer.Option(help="keep only this tier (repeatable)")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="keep only this domain (repeatable)")] = None,
) -> None:
    """Search a corpus and print the ranked paragraphs."""
    index = load_index(corpus, suite)
    hits = index.search(query, k, mode=mode.value, tiers=tier, domains=domain)
    console.print(hits_table(query, hits))
