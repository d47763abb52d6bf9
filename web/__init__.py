"""The offline research web: corpus storage, HTML extraction, ingest, authority tiers and paragraph search."""

from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Corpus, Page
from drgym.web.index import RankingConfig, SearchHit, SearchIndex
from drgym.web.ingest import IngestReport, ingest

__all__ = ["AuthorityTable", "Corpus", "IngestReport", "Page", "RankingConfig", "SearchHit", "SearchIndex", "ingest"]
