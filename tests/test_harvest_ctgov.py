import copy
import json

import pytest

from harvest import ctgov, http
from harvest.errors import HarvestError
from kb.ingest import fetch_ctgov_studies, harvest_ctgov

from conftest import FIXTURES
from replay import CtgovReplay

STUDIES = (json.loads((FIXTURES / "ctgov" / "v2_studies_page1.json").read_text())["studies"]
           + json.loads((FIXTURES / "ctgov" / "v2_studies_page2.json").read_text())["studies"])


def client_for(replay, tmp_path, sleeps=None):
    session = http.Client("ctgov", rate_per_second=100, cache=tmp_path / "cache.sqlite",
                          uncached=(r"/studies\?",), backoff=0.01, sleep=(sleeps if sleeps is not None else []).append)
    return ctgov.CtGov(client=session, base_url=replay.base_url, page_size=2)


def nct_ids(db):
    return sorted(r[0] for r in db.execute("select nct_id from trials"))


def test_harvest_follows_page_tokens_and_asks_for_the_total_once(db, tmp_path):
    with CtgovReplay(STUDIES) as replay:
        stats = harvest_ctgov(db, client_for(replay, tmp_path), condition="stroke",
                              intervention="mesenchymal OR exosome OR stem cell")
        calls = replay.calls("/studies")
    assert stats.added == 3 and nct_ids(db) == ["NCT01151124", "NCT02961504", "NCT03384433"]
    assert [c.get("pageToken") for c in calls] == [None, "tok2"]
    assert calls[0]["countTotal"] == "true" and "countTotal" not in calls[1]
    assert calls[0]["query.cond"] == "stroke" and calls[0]["query.intr"] == "mesenchymal OR exosome OR stem cell"


def test_a_second_run_asks_only_for_studies_updated_since_the_first(db, tmp_path):
    with CtgovReplay(STUDIES) as replay:
        harvest_ctgov(db, client_for(replay, tmp_path), condition="stroke")
        db.execute("update harvest_runs set started_at = '2024-06-01T00:00:00+00:00'")
        updated = copy.deepcopy(STUDIES[0])
        updated["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
        updated["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2024-07-01"}
        replay.studies[0] = updated
        replay.requests.clear()
        stats = harvest_ctgov(db, client_for(replay, tmp_path), condition="stroke")
        calls = replay.calls("/studies")
    assert calls[0]["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2024-06-01,MAX]"
    assert (stats.added, stats.updated) == (0, 1)
    assert db.execute("select overall_status from trials where nct_id = 'NCT03384433'").fetchone()[0] == "COMPLETED"


def test_a_failing_page_stops_the_run_and_the_next_run_resumes_from_its_token(db, tmp_path):
    with CtgovReplay(STUDIES) as replay:
        client = client_for(replay, tmp_path)
        client.client.max_retries = 0
        replay.fail_next("/studies", status=503, body=b"Service Unavailable", params={"pageToken": "tok2"})
        with pytest.raises(HarvestError, match="HTTP 503"):
            harvest_ctgov(db, client, condition="stroke")
        assert db["trials"].count == 2
        replay.requests.clear()
        harvest_ctgov(db, client, condition="stroke")
        tokens = [c.get("pageToken") for c in replay.calls("/studies")]
    assert tokens == ["tok2"] and db["trials"].count == 3


def test_a_repeated_page_token_stops_the_harvest_resumably_instead_of_looping(db, tmp_path):
    with CtgovReplay(STUDIES) as replay:
        original = replay.answer

        def always_the_same_token(path, params):
            status, headers, body = original(path, params)
            page = json.loads(body)
            page["nextPageToken"] = "tok2"
            return status, headers, json.dumps(page).encode()

        replay.answer = always_the_same_token
        with pytest.raises(HarvestError, match="repeated the page token 'tok2'"):
            harvest_ctgov(db, client_for(replay, tmp_path), term="exosome")
        assert len(replay.calls("/studies")) == 2  # the token came back: stop, do not loop
    assert db["trials"].count == 3  # both pages' studies are kept
    assert db.execute("select status from harvest_runs").fetchone()[0] == "running"  # the next run resumes


def test_an_error_body_is_an_error_naming_the_request(db, tmp_path):
    with CtgovReplay(STUDIES) as replay:
        replay.fail_next("/studies", body=b"<html><body>Maintenance</body></html>")
        with pytest.raises(HarvestError, match="ctgov /studies .* answered"):
            harvest_ctgov(db, client_for(replay, tmp_path), condition="stroke")


def test_single_studies_are_fetched_by_nct_number(db, tmp_path):
    with CtgovReplay(STUDIES) as replay:
        original = replay.answer

        def one_study(path, params):
            if "/studies/" in path:
                nct_id = path.rsplit("/", 1)[-1]
                study = next(s for s in STUDIES if s["protocolSection"]["identificationModule"]["nctId"] == nct_id)
                return 200, {"Content-Type": "application/json"}, json.dumps(study).encode()
            return original(path, params)

        replay.answer = one_study
        stats = fetch_ctgov_studies(db, client_for(replay, tmp_path), ["NCT02961504"])
    assert stats.added == 1 and nct_ids(db) == ["NCT02961504"]
