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


def test_europepmc_citations_become_links_and_references_a_reference_list(db, tmp_path):
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
    rows = set(db.execute("select relation, to_scheme, to_id, asserted_by from links "
                          "where asserted_by like 'europepmc%' and relation in ('cited_by', 'cites')"))
    assert rows == {("cited_by", "pmid", "30000001", "europepmc-citations"),
                    ("cited_by", "europepmc", "PPR:PPR123", "europepmc-citations"),
                    ("cites", "pmid", "16451220", "europepmc")}
    assert db.execute("select position, pmid from work_references where source = 'europepmc'").fetchall() == [
        (1, "16451220")]


def citation_links_with_references(db, tmp_path, references):
    """kb.ingest.europepmc_citation_links against a replay answering every /references call
    with `references` and every /citations call with none."""
    from kb.ingest import europepmc_citation_links

    class Replay(PagedReplay):
        def answer(self, path, params):
            body = (references if path.endswith("/references")
                    else b'{"hitCount": 0, "citationList": {"citation": []}}')
            return 200, {"Content-Type": "application/json"}, body

    with Replay("", "page", {}) as replay:
        client = europepmc.EuropePMC(client=session(tmp_path, "europepmc"), base_url=replay.base_url)
        return europepmc_citation_links(db, client)


def test_every_europepmc_reference_is_kept_in_order_with_its_text_through_a_reload(db, tmp_path):
    """The /references answer (tests/fixtures/europepmc/references_MED_37693885.json: seven of
    the paper's references, as its PubMed ReferenceList gives them, two with no identifier)."""
    from kb.ingest import load_works_file

    search = FIXTURES / "europepmc" / "lite_MED_37693885.json"
    answer = (FIXTURES / "europepmc" / "references_MED_37693885.json").read_bytes()
    entries = json.loads(answer)["referenceList"]["reference"]
    load_works_file(db, "europepmc", search)

    assert citation_links_with_references(db, tmp_path, answer) == len(entries)

    def stored():
        return db.execute("select position, citation, title, year, pmid, pmcid from work_references "
                          "where source = 'europepmc' order by position").fetchall()

    rows = stored()
    assert len(rows) == len(entries) == 7
    assert sum(1 for entry in entries if not entry.get("id")) == 2
    # Each with an identifier is also a cites link, in the scheme its source names.
    assert db.execute("select to_scheme, to_id from links where relation = 'cites' order by id").fetchall() == [
        ("pmid" if entry["source"] == "MED" else "europepmc", entry["id"] if entry["source"] == "MED"
         else f"{entry['source']}:{entry['id']}") for entry in entries if entry.get("id")]
    for position, (entry, row) in enumerate(zip(entries, rows), 1):
        assert row[0] == position
        assert row[2] == entry["title"] and row[3] == entry["pubYear"]
        assert row[4] == (entry["id"] if entry.get("source") == "MED" else None)
        assert row[5] == (entry["id"] if entry.get("source") == "PMC" else None)
        for field in ("authorString", "title", "journalAbbreviation", "publicationTitle", "pubYear", "volume"):
            if field in entry:
                assert str(entry[field]).rstrip(".") in row[1], (position, field)
    assert rows[2][1] == ("Liu T, Qiu Z, Qiu Y, Chen Y, Hu S, Liu D. A preliminary study on protective mechanism "
                          "of ginseng root exosomes against doxorubicin induced myocardial injury. Chine Traditional "
                          "Herbal Drugs. 2021;52(12):3514-3521.")
    # The record loaded again from a /search answer, which carries no references, keeps them.
    load_works_file(db, "europepmc", search)
    assert stored() == rows
    changed = tmp_path / "changed.json"
    changed.write_text(search.read_text().replace('"hasReferences":"Y"', '"hasReferences":"Y","citedByCount":12'))
    load_works_file(db, "europepmc", changed)
    assert db.execute("select cited_by_count from works").fetchone() == (12,) and stored() == rows


def test_a_dublin_core_europepmc_record_takes_its_references_as_cites_links(db, tmp_path):
    """A format=dc record (real, REGENKB_REAL_DATA's europepmc/) keeps no reference list to add them to."""
    from kb.ingest import load_works_file

    from test_conformance_real import real_data

    load_works_file(db, "europepmc", real_data() / "europepmc" / "pyepmc__search_dublin_core.xml")
    records = db.execute("select count(*) from records where source = 'europepmc'").fetchone()[0]
    answer = (FIXTURES / "europepmc" / "references_MED_37693885.json").read_bytes()
    with_ids = sum(1 for entry in json.loads(answer)["referenceList"]["reference"] if entry.get("id"))

    assert citation_links_with_references(db, tmp_path, answer) == records * with_ids
    assert records and db.execute("select count(*) from links where asserted_by = 'europepmc-citations' "
                                  "and relation = 'cites'").fetchone()[0] == records * with_ids
    assert db.execute("select count(*) from work_references").fetchone()[0] == 0
