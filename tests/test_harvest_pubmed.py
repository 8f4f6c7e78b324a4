import datetime as dt

import pytest

from harvest import http, pubmed
from harvest.errors import HarvestError
from kb.ingest import harvest_pubmed

from conftest import EFETCH
from replay import EutilsReplay, articles_in, with_pmid

SEED, PISCES, BANG = articles_in(EFETCH)


def client_for(replay, sleeps, tmp_path, batch_size=2, timeout=(5, 5)):
    session = http.Client("pubmed", rate_per_second=100, cache=tmp_path / "cache.sqlite",
                          uncached=(r"/esearch\.fcgi",), backoff=0.01, timeout=timeout, sleep=sleeps.append)
    return pubmed.PubMed(client=session, base_url=replay.base_url, batch_size=batch_size)


def pmids(db):
    return sorted(r[0] for r in db.execute("select pmid from works"))


def test_harvest_fetches_every_match_through_the_history_server(db, tmp_path):
    with EutilsReplay([SEED, PISCES, BANG]) as replay:
        stats = harvest_pubmed(db, "mesenchymal AND stroke", client_for(replay, [], tmp_path))
        fetches = replay.calls("efetch.fcgi")
    assert stats.added == 3 and pmids(db) == ["15929052", "27497862", "35281985"]
    assert [(f["retstart"], f["retmax"]) for f in fetches] == [("0", "2"), ("2", "2")]
    assert all(f["WebEnv"].startswith("MCID_") and f["query_key"] == "1" for f in fetches)
    assert all(f["tool"] == "regenkb" and f["email"] for f in fetches)
    run = db.execute("select status, pages, records_loaded from harvest_runs").fetchone()
    assert run == ("done", 2, 3)


def test_a_second_run_fetches_only_what_changed_since_the_first(db, tmp_path):
    with EutilsReplay([SEED, PISCES]) as replay:
        harvest_pubmed(db, "stroke", client_for(replay, [], tmp_path))
        db.execute("update harvest_runs set started_at = '2025-06-01T00:00:00+00:00'")
        replay.add(with_pmid(BANG, "15929052", revised="2026/01/05"))
        replay.requests.clear()
        stats = harvest_pubmed(db, "stroke", client_for(replay, [], tmp_path))
        searches = replay.calls("esearch.fcgi")
    assert stats.added == 1 and pmids(db) == ["15929052", "27497862", "35281985"]
    assert {(s["datetype"], s["mindate"]) for s in searches} == {("mdat", "2025/06/01")}


def test_429_with_retry_after_and_500_and_a_timeout_are_retried(db, tmp_path):
    sleeps = []
    with EutilsReplay([SEED, PISCES, BANG]) as replay:
        replay.fail_next("efetch", status=429, headers={"Retry-After": "2"},
                         body=b'{"error":"API rate limit exceeded","count":"4","limit":"3"}')
        replay.fail_next("efetch", status=500, body=b"Internal Server Error")
        replay.fail_next("efetch", delay=1.5)
        stats = harvest_pubmed(db, "stroke", client_for(replay, sleeps, tmp_path, timeout=(5, 0.5)))
    assert stats.added == 3
    assert sleeps[0] == 2.0  # Retry-After honoured
    assert len(sleeps) == 3


def test_a_source_that_keeps_failing_stops_the_run_which_then_resumes(db, tmp_path):
    articles = [with_pmid(SEED, str(30000000 + n)) for n in range(6)]
    with EutilsReplay(articles) as replay:
        client = client_for(replay, [], tmp_path)
        client.client.max_retries = 1
        for _ in range(2):
            replay.fail_next("efetch", status=503, body=b"Service Unavailable", params={"retstart": "2"})
        with pytest.raises(HarvestError, match="after 2 attempt.*HTTP 503"):
            harvest_pubmed(db, "exosome", client)
        loaded_before_failure = db["works"].count
        state = db.execute("select status, state from harvest_runs").fetchone()
        replay.requests.clear()
        harvest_pubmed(db, "exosome", client)
        resumed_from = [f["retstart"] for f in replay.calls("efetch.fcgi")]
    assert state[0] == "running" and '"retstart": 2' in state[1]
    assert loaded_before_failure == 2
    assert resumed_from == ["2", "4"]
    assert db["works"].count == 6
    assert db.execute("select count(*), max(status) from harvest_runs").fetchone() == (1, "done")


def test_an_html_error_page_sent_with_200_is_an_error_and_not_cached(db, tmp_path):
    with EutilsReplay([SEED]) as replay:
        replay.fail_next("efetch", body=b"<html><head><title>Bad Gateway</title></head></html>")
        with pytest.raises(HarvestError, match=r"answered an HTML page \(Bad Gateway\)"):
            harvest_pubmed(db, "seed", client_for(replay, [], tmp_path))
        assert db["works"].count == 0
        harvest_pubmed(db, "seed", client_for(replay, [], tmp_path))
    assert pmids(db) == ["35281985"]


def test_big_result_sets_are_split_into_date_slices_that_together_cover_all(db, tmp_path):
    articles = [with_pmid(BANG, str(20000000 + n), year=1990 + 5 * n) for n in range(5)] + [SEED, PISCES]
    with EutilsReplay(articles) as replay:
        client = client_for(replay, [], tmp_path)
        client.search_limit = 2
        stats = harvest_pubmed(db, "stroke", client)
        slices = {(s["mindate"], s["maxdate"]) for s in replay.calls("esearch.fcgi") if s.get("usehistory")}
    assert stats.added == 7 and db["works"].count == 7
    assert len(slices) >= 4


def test_rate_limiter_spaces_requests_to_one_host_a_little_wider_than_the_rate():
    now = [0.0]
    waits = []
    limiter = http.RateLimiter(3, clock=lambda: now[0], sleep=waits.append)
    for _ in range(4):
        limiter.wait()
    assert waits == pytest.approx([1.1 / 3, 2.2 / 3, 3.3 / 3])


def test_retry_after_accepts_seconds_and_http_dates():
    assert http.retry_after_seconds("7") == 7.0
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    assert 25 < http.retry_after_seconds(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 30
    assert http.retry_after_seconds("soon") is None
