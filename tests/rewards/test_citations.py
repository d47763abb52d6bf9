from __future__ import annotations

import pytest

from drgym.rewards.citations import check_citations, parse_citations
from drgym.web.corpus import Corpus, Page

CORPUS = Corpus.from_pages([
    Page("https://reg.gov/caquu", "reg.gov", "Caquu", "", 1,
         ("As of 2024, the annual revenue of Caquu Dynamics was 37.8 USD million.",
          "Caquu Dynamics is headquartered in Gofemria.")),
    Page("https://forum.example/t/1", "forum.example", "T", "", 3, ("Caquu made 20.8 last year, I think.",)),
])


def test_citation_formats_are_parsed():
    report = ("Caquu earned 37.8 \\cite{https://reg.gov/caquu, https://forum.example/t/1}. It sits in Gofemria [1]. "
              "See https://reg.gov/caquu.\n\n## References\n[1] Register entry https://reg.gov/caquu")
    cited = {s.sentence: s.urls for s in parse_citations(report)}
    assert cited["Caquu earned 37.8 \\cite{https://reg.gov/caquu, https://forum.example/t/1}."] == (
        "https://reg.gov/caquu", "https://forum.example/t/1")
    assert cited["It sits in Gofemria [1]."] == ("https://reg.gov/caquu",)
    assert cited["See https://reg.gov/caquu."] == ("https://reg.gov/caquu",)


def test_supported_unsupported_and_fabricated_citations():
    report = ("The annual revenue of Caquu Dynamics was 37.8 USD million \\cite{https://reg.gov/caquu}. "
              "Caquu Dynamics employs 6,377 people \\cite{https://reg.gov/caquu}. "
              "Caquu Dynamics is headquartered in Gofemria \\cite{https://reg.gov/caquu}. "
              "Its revenue was 99.1 \\cite{https://made-up.example/x}. Caquu Dynamics has 400 patents.")
    result = check_citations(report, CORPUS)
    assert [d["status"] for d in result.details] == ["supported", "unsupported", "supported", "fabricated"]
    assert result.precision == pytest.approx(2 / 4)
    assert (result.n_fact_sentences, result.n_fact_sentences_supported) == (4, 1)


def test_a_citation_of_a_page_never_retrieved_is_fabricated():
    report = "The annual revenue of Caquu Dynamics was 37.8 USD million \\cite{https://reg.gov/caquu}."
    assert check_citations(report, CORPUS, retrieved_urls={"https://reg.gov/caquu"}).n_supported == 1
    result = check_citations(report, CORPUS, retrieved_urls=set())
    assert (result.n_supported, result.n_fabricated) == (0, 1)


def test_dense_support_accepts_a_paraphrase():
    report = "Caquu Dynamics has its head office in the city of Gofemria \\cite{https://reg.gov/caquu}."
    assert check_citations(report, CORPUS, method="dense").n_supported == 1
    unrelated = "Penguins cannot fly but swim very well \\cite{https://reg.gov/caquu}."
    assert check_citations(unrelated, CORPUS, method="dense").n_supported == 0


def test_a_capitalised_function_word_opening_a_sentence_is_no_part_of_a_name():
    from drgym.rewards.citations import _lexically_supported

    page = ("The population of Haleisport is 305,681 inhabitants.",)
    assert _lexically_supported("For Haleisport, the population on record is 305,681 inhabitants.", page)
    assert not _lexically_supported("For Quatrouthford, the population on record is 305,681 inhabitants.", page)
