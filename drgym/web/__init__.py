"""The offline research web: corpus storage, authority tiers and paragraph search.

Ingest (HTML extraction with trafilatura, WARC, JSONL) lives in `drgym.web.ingest` and is imported from there,
so that an environment over a built corpus never loads trafilatura, lxml or justext.
"""

from drgym.web.authority import AuthorityTable
from drgym.web.corpus import Corpus, Page
from drgym.web.index import RankingConfig, SearchHit, SearchIndex

__all__ = ["AuthorityTable", "Corpus", "Page", "RankingConfig", "SearchHit", "SearchIndex"]
