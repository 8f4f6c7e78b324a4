import copy
import json

import pytest

from harvest import crossref, europepmc, http, openalex
from harvest.errors import HarvestError
from kb.ingest import harvest_works

from conftest import FIXTURES
from replay import PagedReplay

MERGE = FIXTURES / "merge"
WORK = json.loads((MERGE / "openalex_W2109415576.json").read_text())
EPMC = json.loads((MERGE / "europepmc_MED_25349395.json").read_text())
CROSSREF = json.loads((MERGE / "crossref_10.1073_pnas.1414271111.json").read_text())["message"]


def session(tmp_path, name):
    return http.Client(name, rate_per_second=100, cache=tmp_path / "cache.sqlite", backoff=0.01,
                       uncached=(r"/works\?", r"/search\?"), sleep=lambda seconds: None)


def another(work, n):
    """A copy of an OpenAlex work as another work."""
    copy_ = copy.deepcopy(work)
    copy_.update(id=f"https://openalex.org/W{n}", doi=f"https://doi.org/10.5555/{n}",
                 ids={"openalex": f"https://openalex.org/W{n}"}, title=f"Work number {n}", display_name=f"Work number {n}")
    return copy_


def test_openalex_follows_the_cursor_with_key_mailto_and_select(db, tmp_path):
    pages = {"*": ({"meta": {"count": 3, "next_cursor": "c2"}, "results": [WORK, another(WORK, 2)]}, {}),
             "c2": ({"meta": {"count": 3, "next_cursor": None}, "results": [another(WORK, 3)]}, {})}
    with PagedReplay("/works", "cursor", pages) as replay:
        client = openalex.OpenAlex(client=session(tmp_path, "openalex"), base_url=replay.base_url, api_key="k")
        stats = harvest_works(db, "openalex", client, "musculoskeletal hypoxia", filter="publication_year:2014")
        calls = replay.calls("/works")
    assert stats.added == 3 and db["works"].count == 3
    assert [c["cursor"] for c in calls] == ["*", "c2"]
    assert calls[0]["api_key"] == "k" and calls[0]["mailto"] and calls[0]["per_page"] == "200"
    assert "referenced_works" in calls[0]["select"] and calls[0]["filter"] == "publication_year:2014"


def test_openalex_resumes_from_the_stored_cursor(db, tmp_path):
    pages = {"*": ({"meta": {"next_cursor": "c2"}, "results": [WORK]}, {}),
             "c2": ({"meta": {"next_cursor": None}, "results": [another(WORK, 2)]}, {})}
    with PagedReplay("/works", "cursor", pages) as replay:
        client = openalex.OpenAlex(client=session(tmp_path, "openalex"), base_url=replay.base_url, api_key="k")
        client.client.max_retries = 0
        replay.fail_next("/works", status=503, body=b"busy", params={"cursor": "c2"})
        with pytest.raises(HarvestError):
            harvest_works(db, "openalex", client, "hypoxia")
        replay.requests.clear()
        harvest_works(db, "openalex", client, "hypoxia")
        assert [c["cursor"] for c in replay.calls("/works")] == ["c2"]
    assert db["works"].count == 2


def test_europepmc_stops_when_the_cursor_mark_comes_back(db, tmp_path):
    second = copy.deepcopy(EPMC)
    second["resultList"]["result"][0].update(id="2", pmid="2", doi="10.5555/2", pmcid=None, title="Another")
    pages = {"*": (dict(EPMC, nextCursorMark="m2"), {}), "m2": (dict(second, nextCursorMark="m2"), {})}
    with PagedReplay("/search", "cursorMark", pages) as replay:
        client = europepmc.EuropePMC(client=session(tmp_path, "europepmc"), base_url=replay.base_url)
        stats = harvest_works(db, "europepmc", client, "DOI:10.1073/pnas.1414271111")
        calls = replay.calls("/search")
    assert [c["cursorMark"] for c in calls] == ["*", "m2"] and stats.added == 2
    assert calls[0]["resultType"] == "core" and calls[0]["pageSize"] == "1000"


def test_crossref_pages_by_cursor_and_slows_to_the_stated_rate_limit(db, tmp_path):
    pages = {"*": ({"status": "ok", "message": {"items": [CROSSREF], "next-cursor": "n2", "total-results": 1}},
                   {"x-rate-limit-limit": "5", "x-rate-limit-interval": "1s"}),
             "n2": ({"status": "ok", "message": {"items": [], "next-cursor": "n3", "total-results": 1}}, {})}
    with PagedReplay("/works", "cursor", pages) as replay:
        client = crossref.Crossref(client=session(tmp_path, "crossref"), base_url=replay.base_url)
        stats = harvest_works(db, "crossref", client, "musculoskeletal hypoxia")
        calls = replay.calls("/works")
        limiter = http.limiter_for(replay.base_url.split("//")[1], 100)
    assert stats.added == 1 and [c["cursor"] for c in calls] == ["*", "n2"]
    assert calls[0]["query.bibliographic"] == "musculoskeletal hypoxia" and calls[0]["mailto"]
    assert limiter.interval == pytest.approx(1.1 / 5)


def test_europepmc_citations_and_references_become_links(db, tmp_path):
    from kb.ingest import europepmc_citation_links, load_works_file

    load_works_file(db, "europepmc", MERGE / "europepmc_MED_25349395.json")
    answers = {
        "/MED/25349395/citations": {"hitCount": 2, "citationList": {"citation": [
            {"id": "30000001", "source": "MED"}, {"id": "PPR123", "source": "PPR"}]}},
        "/MED/25349395/references": {"hitCount": 1, "referenceList": {"reference": [
            {"id": "16451220", "source": "MED"}]}},
    }

    class Replay(PagedReplay):
        def answer(self, path, params):
            return 200, {"Content-Type": "application/json"}, json.dumps(answers[path]).encode()

    with Replay("", "page", {}) as replay:
        client = europepmc.EuropePMC(client=session(tmp_path, "europepmc"), base_url=replay.base_url)
        assert europepmc_citation_links(db, client) == 3
        assert europepmc_citation_links(db, client) == 3  # fetched again: replaced, not doubled
    rows = set(db.execute("select relation, to_scheme, to_id from links where asserted_by = 'europepmc-citations'"))
    assert rows == {("cited_by", "pmid", "30000001"), ("cited_by", "europepmc", "PPR:PPR123"),
                    ("cites", "pmid", "16451220")}
