"""Harvests through a replay server that faults a fifth of the requests (429 with and without
Retry-After, 500, 502, 503, reset connections, truncated bodies, stalls past the client's
timeout, an HTML page where XML or JSON was expected) end with the same KB as a fault-free
run, and the client never exceeds its rate limit."""

import json

import pytest

from harvest import crossref, ctgov, europepmc, http, openalex, portal, pubmed
from harvest.errors import HarvestError
from kb.db import open_db
from kb.ingest import harvest_ctgov, harvest_portal, harvest_pubmed, harvest_works

from conftest import EFETCH, FIXTURES
from replay import CtgovReplay, EutilsReplay, PagedReplay, PortalSite, articles_in, with_pmid
from test_crash_resume import snapshot, table_rows

RATE = 25  # requests a second the client is allowed
TRIAL_TABLES = {"trials": (), "trial_conditions": (), "trial_interventions": (), "trial_sites": (), "trial_ids": (),
                "records": ("retrieved_at", "origin"), "links": ("id",)}  # origin names the page it came on
WORK_TABLES = {"works": (), "records": ("retrieved_at", "origin"), "links": ("id",), "work_authors": ()}
PORTAL_TABLES = {**WORK_TABLES, "affiliations": (), "quarantine": ("quarantined_at",)}


def client(name, tmp_path, uncached):
    return http.Client(name, rate_per_second=RATE, cache=tmp_path / f"{name}-cache.sqlite", uncached=uncached,
                       backoff=0.05, timeout=(2, 0.5), max_retries=8)


def within_rate(replay):
    """No more than RATE requests in any second, as the server sees them."""
    return replay.max_per_second() <= RATE


def until_done(run, attempts=40):
    """Run a harvest again after each failure, as a researcher would; the last run's stats."""
    for _ in range(attempts):
        try:
            return run()
        except HarvestError:
            continue
    raise AssertionError(f"the harvest did not finish in {attempts} attempts")


def pubmed_corpus():
    base = articles_in(EFETCH)
    return [with_pmid(base[i % len(base)], str(41_000_000 + i), revised="2024/02/%02d" % (1 + i % 28))
            for i in range(30)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_pubmed_harvest_through_a_fifth_of_faults_equals_the_clean_one(tmp_path, seed):
    articles = pubmed_corpus()

    def harvest(path, chaos):
        db = open_db(str(path))
        with EutilsReplay(articles) as replay:
            if chaos:
                replay.chaos(0.2, seed, stall=0.8)
            session = client("pubmed", path.parent / path.stem, (r"/esearch\.fcgi",))
            until_done(lambda: harvest_pubmed(db, "stroke", pubmed.PubMed(client=session, base_url=replay.base_url,
                                                                          batch_size=1)))
            return replay

    clean = harvest(tmp_path / "clean.db", chaos=False)
    faulted = harvest(tmp_path / "faulted.db", chaos=True)
    assert len(faulted.injected) >= 3, faulted.injected
    assert snapshot(tmp_path / "faulted.db") == snapshot(tmp_path / "clean.db")
    assert within_rate(faulted) and within_rate(clean)


def test_a_ctgov_harvest_through_a_fifth_of_faults_equals_the_clean_one(tmp_path):
    study = json.loads((FIXTURES / "ctgov" / "v2_NCT03384433.json").read_bytes())
    studies = []
    for i in range(20):
        copy = json.loads(json.dumps(study))
        copy["protocolSection"]["identificationModule"]["nctId"] = f"NCT0{5000000 + i}"
        studies.append(copy)

    def harvest(path, chaos):
        db = open_db(str(path))
        with CtgovReplay(studies) as replay:
            if chaos:
                replay.chaos(0.2, 7, stall=0.8)
            session = client("ctgov", path.parent / path.stem, (r"/studies\?",))
            until_done(lambda: harvest_ctgov(db, ctgov.CtGov(client=session, base_url=replay.base_url, page_size=2),
                                             condition="stroke"))
            return replay

    harvest(tmp_path / "clean.db", chaos=False)
    faulted = harvest(tmp_path / "faulted.db", chaos=True)
    assert len(faulted.injected) >= 3
    clean_rows = table_rows(tmp_path / "clean.db", TRIAL_TABLES)
    assert table_rows(tmp_path / "faulted.db", TRIAL_TABLES) == clean_rows and len(clean_rows["trials"]) == 20
    assert within_rate(faulted)


def paged_corpus(source, count=24, per_page=2):
    """(path, cursor parameter, pages, client class) serving `count` distinct works of a source."""
    import copy

    from test_harvest_sources import CROSSREF, EPMC, WORK, another

    cursors = ["*"] + [f"c{i}" for i in range(1, count // per_page)]
    nexts = cursors[1:] + [None]
    if source == "openalex":
        works = [another(WORK, 9000 + i) for i in range(count)]
        pages = {c: ({"meta": {"count": count, "next_cursor": n}, "results": works[per_page * i:per_page * (i + 1)]}, {})
                 for i, (c, n) in enumerate(zip(cursors, nexts))}
        return "/works", "cursor", pages, openalex.OpenAlex
    if source == "europepmc":
        results = []
        for i in range(count):
            result = copy.deepcopy(EPMC["resultList"]["result"][0])
            result.update(id=str(39_000_000 + i), pmid=str(39_000_000 + i), doi=f"10.5555/epmc.{i}", pmcid=None,
                          title=f"Europe PMC work {i}")
            results.append(result)
        pages = {c: ({**EPMC, "resultList": {"result": results[per_page * i:per_page * (i + 1)]},
                      "nextCursorMark": n or c}, {}) for i, (c, n) in enumerate(zip(cursors, nexts))}
        return "/search", "cursorMark", pages, europepmc.EuropePMC
    items = []
    for i in range(count):
        item = copy.deepcopy(CROSSREF)
        item.update(DOI=f"10.5555/crossref.{i}", title=[f"Crossref work {i}"])
        items.append(item)
    pages = {c: ({"status": "ok", "message": {"items": items[per_page * i:per_page * (i + 1)],
                                              "next-cursor": n or "end", "total-results": count}}, {})
             for i, (c, n) in enumerate(zip(cursors, nexts))}
    pages["end"] = ({"status": "ok", "message": {"items": [], "next-cursor": "end", "total-results": count}}, {})
    return "/works", "cursor", pages, crossref.Crossref


@pytest.mark.parametrize("source,seed", [("openalex", 11), ("openalex", 12), ("openalex", 13), ("europepmc", 21),
                                         ("europepmc", 22), ("crossref", 31), ("crossref", 32)])
def test_work_source_harvests_through_a_fifth_of_faults_equal_the_clean_one(tmp_path, source, seed):

    path_, cursor, pages, client_class = paged_corpus(source)

    def harvest(path, chaos):
        db = open_db(str(path))
        with PagedReplay(path_, cursor, pages) as replay:
            if chaos:
                replay.chaos(0.2, seed, stall=0.8)
            session = client(source, path.parent / path.stem, (r"/works\?", r"/search\?"))
            until_done(lambda: harvest_works(db, source, client_class(client=session, base_url=replay.base_url),
                                             "stroke"))
            return replay

    harvest(tmp_path / "clean.db", chaos=False)
    faulted = harvest(tmp_path / "faulted.db", chaos=True)
    assert len(faulted.injected) >= 2
    clean_rows = table_rows(tmp_path / "clean.db", WORK_TABLES)
    assert table_rows(tmp_path / "faulted.db", WORK_TABLES) == clean_rows and len(clean_rows["works"]) == 24, \
        faulted.injected
    assert within_rate(faulted)


def portal_site():
    """A portal whose record pages link on to each other; one of them robots.txt forbids."""
    folder = FIXTURES / "portal"
    pages = {"/rd/p.aspx?c=1": "seed_rich.html", "/rd/p.aspx?c=10158576012": "persian_digits.html",
             "/rd/p.aspx?c=10158576024": "related_review_2013.html", "/rd/p.aspx?c=10158576256": "persian_digits.html"}
    return PortalSite({path: (folder / name).read_bytes() for path, name in pages.items()},
                      robots=b"User-agent: *\nDisallow: /rd/p.aspx?c=10158576017\n")


@pytest.mark.parametrize("seed", [41, 48, 113])  # 48, 113: a maintenance page for a record page
def test_a_portal_crawl_through_a_fifth_of_faults_equals_the_clean_one(tmp_path, seed):

    def harvest(path, site):
        db = open_db(str(path))
        crawler = portal.Crawler(client=client("portal", path.parent / path.stem, ()))
        for _ in range(40):  # a researcher runs the crawl again until only the forbidden page is left out
            loaded, quarantined, skipped = harvest_portal(db, crawler, site.base_url + "/rd/p.aspx?c=1", depth=2)
            if (loaded, quarantined, skipped) == (4, 0, 1):
                return
            crawler = portal.Crawler(client=crawler.client)
        raise AssertionError("the crawl did not finish in 40 runs")

    with portal_site() as site:  # one site for both runs: page URLs, with their port, are record ids
        harvest(tmp_path / "clean.db", site)
        site.times.clear()
        site.chaos(0.2, seed, stall=0.8)
        harvest(tmp_path / "faulted.db", site)
    assert len(site.injected) >= 1
    clean_rows = table_rows(tmp_path / "clean.db", PORTAL_TABLES)
    assert table_rows(tmp_path / "faulted.db", PORTAL_TABLES) == clean_rows, site.injected
    assert len(clean_rows["records"]) == 5 and not clean_rows["quarantine"]  # 4 pages, a stub of the forbidden one
    assert within_rate(site)


@pytest.mark.parametrize("seed", [51, 52])
def test_the_portal_crawler_stops_at_max_pages_however_the_site_fails(tmp_path, seed):
    with portal_site() as site:
        site.chaos(0.2, seed, stall=0.8)
        crawler = portal.Crawler(client=client("portal", tmp_path, ()))
        list(crawler.crawl(site.base_url + "/rd/p.aspx?c=1", depth=2, max_pages=2))
        pages = {params["c"] for path, params in site.requests if path != "/robots.txt"}
    assert len(pages) <= 2 and all(path in ("/robots.txt", "/rd/p.aspx") for path, _ in site.requests)


# Each source's documented limit, as the replay server enforces it (requests a second).
# Europe PMC publishes none and asks for moderate use; Crossref allows 5/s to the public pool and
# more to clients that give a mailto, which ours do; a portal gets one page a second unless its
# robots.txt asks for a longer Crawl-delay.
DOCUMENTED = {"pubmed": 3, "ctgov": 1, "openalex": 10, "europepmc": 5, "crossref": 5, "portal": 1}


def enforcing(replay, source):
    replay.rate_limit = DOCUMENTED[source]
    return replay


def test_the_default_clients_keep_each_sources_documented_rate(tmp_path, monkeypatch):
    """Each replay server answers 429 to a request past the source's documented rate, as the
    real service would, and counts it: the default clients never draw one."""
    monkeypatch.setenv("REGENKB_CACHE", str(tmp_path / "cache.sqlite"))
    db = open_db(str(tmp_path / "kb.db"))
    with enforcing(EutilsReplay(pubmed_corpus()[:9]), "pubmed") as replay:
        harvest_pubmed(db, "stroke", pubmed.PubMed(base_url=replay.base_url, batch_size=2))
        assert len(replay.requests) >= 6 and replay.violations == 0
    study = json.loads((FIXTURES / "ctgov" / "v2_NCT03384433.json").read_bytes())
    with enforcing(CtgovReplay([study] * 3, page_size=1), "ctgov") as replay:
        harvest_ctgov(db, ctgov.CtGov(base_url=replay.base_url, page_size=1), condition="stroke")
        assert len(replay.requests) == 3 and replay.violations == 0
    for source in ("openalex", "europepmc", "crossref"):
        path_, cursor, pages, client_class = paged_corpus(source)
        with enforcing(PagedReplay(path_, cursor, pages), source) as replay:
            harvest_works(db, source, client_class(base_url=replay.base_url), "stroke")
            assert len(replay.requests) >= 12 and replay.violations == 0, source
    with enforcing(portal_site(), "portal") as site:
        harvest_portal(db, portal.Crawler(), site.base_url + "/rd/p.aspx?c=1", depth=2)
        assert len(site.requests) == 5 and site.violations == 0


def test_the_replay_server_refuses_a_client_past_the_documented_rate(tmp_path):
    import requests

    with enforcing(portal_site(), "portal") as site:
        statuses = [requests.get(site.base_url + "/robots.txt", timeout=5).status_code for _ in range(3)]
    assert statuses == [200, 429, 429] and site.violations == 2
