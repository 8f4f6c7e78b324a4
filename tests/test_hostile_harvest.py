"""Hostile servers and hostile files at the harvesting and command-line edge (issue 20, items
2, 7, 9 and 13): redirects to other hosts, to file:// and round in loops; answers too large
or dripping in; input nested past Python's limits; control bytes meant for the terminal.
Each ends in a clear error naming the URL or file, never a traceback, and fetches nothing
it should not."""

import gzip
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from harvest import ctgov, http, openalex, portal, pubmed
from harvest.errors import HarvestError
from kb import demo
from kb.cli import cli
from kb.ingest import harvest_ctgov, harvest_portal, harvest_pubmed, harvest_works

from conftest import EFETCH
from replay import CtgovReplay, EutilsReplay, PagedReplay, PortalSite

SEED_PAGE = (demo.CORPUS / "portal_seed.html").read_bytes()
PAGE = "/rd/p.aspx?c=1"


def client(name, rate=100, **options):
    return http.Client(name, rate_per_second=rate, cache=False, backoff=0.01, sleep=lambda seconds: None, **options)


def elsewhere(site, path):
    """The address of `path` on `site` under another host name (localhost, not 127.0.0.1)."""
    return site.base_url.replace("127.0.0.1", "localhost") + path


def crawl(db, url):
    """(loaded, quarantined, skipped) of a portal harvest from `url`, and its notes."""
    notes = []
    counts = harvest_portal(db, portal.Crawler(client=client("portal")), url,
                            progress=lambda page, outcome: notes.append(outcome))
    return counts, notes


# ---------------------------------------------------------------- redirects (item 2)

def test_a_portal_crawl_refuses_a_redirect_to_another_host_and_stores_nothing_from_it(db):
    with PortalSite({}) as site, PortalSite({"/secret": SEED_PAGE}) as other:
        site.redirect("/to", elsewhere(other, "/secret"))
        (loaded, quarantined, skipped), notes = crawl(db, site.base_url + "/to")
    assert (loaded, quarantined, skipped) == (0, 0, 1)
    assert "redirects to " + elsewhere(other, "/secret") in notes[0] and "another host" in notes[0]
    assert other.requests == []
    assert db["quarantine"].count == 0 and db["works"].count == 0


def test_a_redirect_within_the_host_is_followed_unless_robots_txt_forbids_its_target(db):
    with PortalSite({PAGE: SEED_PAGE}, robots=b"User-agent: *\nDisallow: /private\n") as site:
        site.redirect("/old", PAGE)
        site.redirect("/moved", "/private/page")
        followed, _ = crawl(db, site.base_url + "/old")
        refused, notes = crawl(db, site.base_url + "/moved")
        paths = [path for path, _ in site.requests]
    assert followed == (1, 0, 0) and db["works"].count >= 1
    assert refused == (0, 0, 1) and "robots.txt disallows it" in notes[0]
    assert "/private/page" not in paths


def test_a_redirect_loop_stops_after_five_redirects_each_through_the_rate_limit(db):
    with CtgovReplay([]) as replay:
        replay.redirect("/api/v2/studies", replay.base_url + "/loop")
        replay.redirect("/api/v2/loop", replay.base_url + "/studies")
        start = time.monotonic()
        with pytest.raises(HarvestError, match=r"ctgov: http://\S+/api/v2/studies redirected more than 5 times"):
            harvest_ctgov(db, ctgov.CtGov(client=client("ctgov", rate=20), base_url=replay.base_url),
                          condition="stroke")
        elapsed = time.monotonic() - start
    assert len(replay.requests) == 6
    assert elapsed >= 5 * http.HEADROOM / 20 and replay.max_per_second() <= 20


def pubmed_run(db, url, session):
    return harvest_pubmed(db, "stroke", pubmed.PubMed(client=session, base_url=url))


def ctgov_run(db, url, session):
    return harvest_ctgov(db, ctgov.CtGov(client=session, base_url=url), condition="stroke")


def openalex_run(db, url, session):
    return harvest_works(db, "openalex", openalex.OpenAlex(client=session, base_url=url), "stroke")


CLIENTS = {"pubmed": (lambda: EutilsReplay([]), "/entrez/eutils/esearch.fcgi", pubmed_run),
           "ctgov": (lambda: CtgovReplay([]), "/api/v2/studies", ctgov_run),
           "openalex": (lambda: PagedReplay("/works", "cursor", {}), "/works", openalex_run)}


@pytest.mark.parametrize("source", CLIENTS)
@pytest.mark.parametrize("where, refusal", [
    ("file:///etc/passwd", "not an http(s) address; not followed"),
    ("another host", "another host"),
    ("a loop", "redirected more than 5 times")])
def test_every_client_ends_a_hostile_redirect_in_a_harvest_error_naming_the_url(db, source, where, refusal):
    replay_of, path, run = CLIENTS[source]
    with replay_of() as replay, PortalSite({}) as other:
        target = {"file:///etc/passwd": "file:///etc/passwd", "another host": elsewhere(other, "/secret"),
                  "a loop": path}[where]
        replay.redirect(path, target)
        with pytest.raises(HarvestError, match=re.escape(refusal)) as raised:
            run(db, replay.base_url, client(source))
    assert path in str(raised.value) and source in str(raised.value)
    assert other.requests == []


def run_cli(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def one_line_error(result):
    """The error a command ended with, checked to be one clean line and no traceback."""
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


@pytest.mark.parametrize("where", ["another host", "file"])
def test_kb_harvest_portal_refuses_a_hostile_redirect_in_one_line(tmp_path, where):
    with PortalSite({}) as site, PortalSite({"/secret": SEED_PAGE}) as other:
        site.redirect("/to", elsewhere(other, "/secret") if where == "another host" else "file:///etc/passwd")
        result = run_cli("harvest", "portal", site.base_url + "/to", "--db", tmp_path / "kb.db")
    assert one_line_error(result) == f"Error: nothing harvested from {site.base_url}/to: 1 page(s) skipped, " \
                                     "for the reason above"
    assert ("another host" if where == "another host" else "not an http(s) address") in result.output
    assert other.requests == []


def test_kb_harvest_portal_of_a_file_url_is_refused_in_one_line(tmp_path):
    result = run_cli("harvest", "portal", "file:///etc/passwd", "--db", tmp_path / "kb.db")
    assert one_line_error(result) == "Error: file:///etc/passwd is not an http(s) address; not fetched"


# ---------------------------------------------------------------- size and time (item 7)

def test_an_answer_announcing_more_than_the_cap_is_refused_at_once_and_never_asked_again(db):
    with CtgovReplay([]) as replay:
        for _ in range(6):
            replay.fail_next("/studies", headers={"Content-Length": str(5 * 10 ** 9)}, body=b'{"studies": []}')
        with pytest.raises(HarvestError) as raised:
            ctgov_run(db, replay.base_url, client("ctgov"))
    assert len(replay.requests) == 1
    assert "announces 5,000,000,000 bytes, more than the 268,435,456 allowed" in str(raised.value)
    assert replay.base_url + "/studies" in str(raised.value)


# A client in a process of its own, its address space capped so that a regression fails
# here (MemoryError) rather than swaps; it prints how it ended and its peak memory.
BOUNDED_CLIENT = """
import re, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 ** 30, 2 ** 30))
from harvest import http
from harvest.errors import HarvestError
try:
    http.Client("ctgov", rate_per_second=100, cache=False, max_retries=0).get(sys.argv[1])
except HarvestError as error:
    print(error)
# VmHWM is this image's own peak; ru_maxrss would count the forked test process's memory too.
print(int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024)
"""


def test_an_endless_answer_is_refused_at_the_sources_cap_within_500_mb():
    with CtgovReplay([]) as replay:
        replay.fail_next("/studies", headers={"X-Endless": "1"}, body=b"0" * 2 ** 16)
        child = subprocess.run([sys.executable, "-c", BOUNDED_CLIENT, replay.base_url + "/studies"],
                               capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    assert child.returncode == 0, child.stderr[-300:]
    refusal, peak_mb = child.stdout.splitlines()
    assert f"refused: the answer passed the {http.MAX_RESPONSE_BYTES['ctgov']:,} bytes allowed" in refusal
    assert int(peak_mb) < 500


def test_the_caps_and_the_deadline_are_set_by_environment_variables():
    stated = subprocess.run(
        [sys.executable, "-c", "from harvest import http; print(http.MAX_RESPONSE_BYTES['pubmed'], "
                               "http.Client('portal', 1, cache=False).session.get_adapter('https://x').max_bytes, "
                               "http.DEADLINE)"],
        capture_output=True, text=True, cwd=Path(__file__).parents[1],
        env={**os.environ, "REGENKB_MAX_RESPONSE_MB": "3", "REGENKB_DEADLINE_SECONDS": "7"})
    assert stated.stdout.split() == [str(3 * 2 ** 20), str(3 * 2 ** 20), "7"], stated.stderr[-300:]


def test_a_compressed_answer_that_expands_past_the_cap_is_refused_as_it_streams(db, tmp_path):
    bomb = gzip.compress(b'{"studies": [], "padding": "' + b"0" * (8 * 2 ** 20) + b'"}')
    assert len(bomb) < 2 ** 20 // 10
    with CtgovReplay([]) as replay:
        for _ in range(6):
            replay.fail_next("/studies", headers={"Content-Encoding": "gzip"}, body=bomb)
        cached = http.Client("ctgov", rate_per_second=100, cache=tmp_path / "cache.sqlite", max_bytes=2 ** 20)
        with pytest.raises(HarvestError, match=r"ctgov: GET http://\S+/studies refused: the answer passed the 1,048,576 "
                                               r"bytes allowed"):
            ctgov_run(db, replay.base_url, cached)
        assert len(replay.requests) == 1
        assert cached.session.cache.responses.keys() == set()


def test_an_answer_dripping_in_past_the_deadline_is_given_up_without_retries(db):
    with CtgovReplay([]) as replay:
        for _ in range(6):
            replay.fail_next("/studies", headers={"X-Drip": "0.05"}, body=b'{"studies": []}' + b" " * 60)
        start = time.monotonic()
        with pytest.raises(HarvestError, match=r"/studies refused: the answer was still coming after 0.5 s"):
            ctgov_run(db, replay.base_url, client("ctgov", deadline=0.5, timeout=(2, 2)))
        elapsed = time.monotonic() - start
    assert elapsed < 1.5 and len(replay.requests) == 1


def test_a_server_silent_past_the_deadline_is_given_up_at_the_deadline_not_the_socket_timeout(db):
    with CtgovReplay([]) as replay:
        replay.fail_next("/studies", headers={"X-Drip": "3"}, body=b"{}")
        start = time.monotonic()
        with pytest.raises(HarvestError, match="still coming after 0.5 s"):
            ctgov_run(db, replay.base_url, client("ctgov", deadline=0.5, timeout=(2, 10)))
    assert time.monotonic() - start < 1.5


def test_an_answer_within_the_caps_still_loads(db):
    with CtgovReplay([]) as replay:
        stats = ctgov_run(db, replay.base_url, client("ctgov", deadline=5, max_bytes=1000))
    assert stats.added == 0 and len(replay.requests) == 1


# ---------------------------------------------------------------- command-line errors (items 9, 13)

@pytest.mark.parametrize("source", ["pubmed", "openalex"])
def test_a_file_nested_past_pythons_limit_is_a_one_line_error_naming_it(tmp_path, source):
    deep = tmp_path / "deep.json"
    deep.write_text('{"a":' + "[" * 100_000)
    result = run_cli("load", source, deep, "--db", tmp_path / "kb.db")
    assert one_line_error(result) == "Error: 1 of 1 file(s) could not be loaded fully"
    assert f"error: {source} {deep}" in result.output or f"error: {deep}" in result.output


def test_a_kb_in_a_missing_folder_is_a_one_line_error_naming_the_folder(tmp_path):
    result = run_cli("load", "pubmed", EFETCH, "--db", tmp_path / "missing" / "kb.db")
    assert one_line_error(result) == (f"Error: Invalid value for '--db': the folder {tmp_path / 'missing'} "
                                      "does not exist; create it first")


def test_the_kb_of_the_environment_in_a_missing_folder_is_refused_too(tmp_path, monkeypatch):
    monkeypatch.setenv("REGENKB_DB", str(tmp_path / "missing" / "kb.db"))
    assert "does not exist" in one_line_error(run_cli("load", "pubmed", EFETCH))


TITLE = b"\x1b]0;owned\x07"  # sets the terminal's title


def test_control_bytes_from_a_file_are_escaped_in_the_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(TITLE + b" not\x00 a payload")
    result = run_cli("load", "pubmed", bad, "--db", tmp_path / "kb.db")
    assert "\x1b" not in result.output and "\x07" not in result.output and "\x00" not in result.output
    assert r"\x1b]0;owned\x07 not\x00 a payload" in result.output


def test_control_bytes_from_a_server_or_an_argument_are_escaped_in_the_error(tmp_path):
    with PortalSite({}) as site:
        site.fail_next(PAGE.split("?")[0], status=404, body=TITLE + b"gone")
        answered = run_cli("harvest", "portal", site.base_url + PAGE, "--db", tmp_path / "kb.db")
    argued = run_cli("harvest", "portal", "file:///" + TITLE.decode(), "--db", tmp_path / "kb.db")
    for result in (answered, argued):
        one_line_error(result)
        assert "\x1b" not in result.output and "\x07" not in result.output
    assert r"HTTP 404: \x1b]0;owned\x07gone" in answered.output
    assert one_line_error(argued) == r"Error: file:///\x1b]0;owned\x07 is not an http(s) address; not fetched"


def test_harvested_control_bytes_are_escaped_in_search_results(tmp_path):
    from harvest.records import new_work
    from kb.db import open_db
    from kb.load import WorkLoader

    db = open_db(str(tmp_path / "kb.db"))
    record = new_work(pmid="99999998", title=TITLE.decode() + " exosomes after stroke", year=2024,
                      abstract="Placenta exosomes \x1b[2J were safe.")
    record["raw"] = b"<PubmedArticle>99999998</PubmedArticle>"
    WorkLoader(db, "pubmed").write_batch([record], "hand-built")
    result = run_cli("search", "exosomes", "--db", tmp_path / "kb.db")
    assert result.exit_code == 0 and "\x1b" not in result.output and "\x07" not in result.output
    assert result.output.startswith("1. \\x1b]0;owned\\x07 exosomes after stroke (2024, None)\n")
    assert "\n   \\x1b]0;owned\\x07 [exosomes] after stroke\n" in result.output  # the highlight survives
