"""Atom feeds of new or changed works and trials, read in-process from the demo KB."""

import xml.etree.ElementTree as ET

from conftest import get

ATOM = "{http://www.w3.org/2005/Atom}"


def feed_of(datasette, url):
    """The parsed feed at url, after checking the elements RFC 4287 requires of it and its entries."""
    response = get(datasette, url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert feed.findtext(f"{ATOM}{tag}"), tag
    assert feed.find(f"{ATOM}author/{ATOM}name").text
    for entry in feed.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated"):
            assert entry.findtext(f"{ATOM}{tag}"), tag
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href") == entry.findtext(f"{ATOM}id")
    return feed


def entries(feed):
    return feed.findall(f"{ATOM}entry")


def page_path(entry):
    return entry.findtext(f"{ATOM}id").removeprefix("http://localhost")


def test_the_works_feed_has_every_work_with_its_title_and_the_time_the_kb_last_loaded_it(demo_site):
    db, datasette = demo_site
    feed = feed_of(datasette, "/regenkb/works.atom")
    expected = {f"/-/work/{row['id']}": (row["title"], row["loaded"]) for row in db.query(
        "SELECT w.id, w.title, (SELECT max(retrieved_at) FROM records r WHERE r.work_id = w.id) AS loaded FROM works w")}
    found = {page_path(e): (e.findtext(f"{ATOM}title"), e.findtext(f"{ATOM}updated")) for e in entries(feed)}
    assert found == expected
    assert feed.findtext(f"{ATOM}updated") == max(loaded for _, loaded in expected.values())


def test_since_keeps_only_what_was_loaded_or_changed_from_that_date_on(demo_site):
    db, datasette = demo_site
    loaded_on = db.execute("SELECT min(retrieved_at) FROM records").fetchone()[0][:10]
    assert len(entries(feed_of(datasette, f"/regenkb/works.atom?since={loaded_on}"))) == db["works"].count
    later = feed_of(datasette, "/regenkb/works.atom?since=2999-01-01")
    assert entries(later) == []
    assert later.findtext(f"{ATOM}updated")  # an empty feed is still valid Atom


def test_the_works_feed_says_it_takes_no_table_filters_rather_than_ignoring_them(demo_site):
    _, datasette = demo_site
    response = get(datasette, "/regenkb/works.atom?year=2020")
    assert response.status_code == 400
    assert "year" in response.text


def test_the_trials_feed_links_each_trial_to_its_page_and_says_its_status(demo_site):
    db, datasette = demo_site
    feed = feed_of(datasette, "/regenkb/trials.atom")
    statuses = {row["nct_id"]: row["overall_status"] for row in db.query("SELECT nct_id, overall_status FROM trials")}
    found = {page_path(e): e.findtext(f"{ATOM}summary") for e in entries(feed)}
    assert set(found) == {f"/-/trial/{nct}" for nct in statuses}
    for nct, status in statuses.items():
        assert f"{nct}; {status}" in found[f"/-/trial/{nct}"]
    assert get(datasette, "/-/trial/NCT03384433").status_code == 200


def test_a_search_feed_has_the_works_the_search_finds(demo_site):
    _, datasette = demo_site
    found = get(datasette, "/-/search.json?q=ischaemic+stroke&size=100").json()
    assert found["total"] > 1
    feed = feed_of(datasette, "/-/search.atom?q=ischaemic+stroke")
    assert {page_path(e) for e in entries(feed)} == {f"/-/work/{hit['id']}" for hit in found["rows"]}
    assert "ischaemic stroke" in feed.findtext(f"{ATOM}title")


def test_a_search_feed_of_trials_keeps_the_search_filters(demo_site):
    _, datasette = demo_site
    found = get(datasette, "/-/search.json?q=stroke&kind=trials&phase=2&size=100").json()
    feed = feed_of(datasette, "/-/search.atom?q=stroke&kind=trials&phase=2")
    assert {page_path(e) for e in entries(feed)} == {f"/-/trial/{hit['nct_id']}" for hit in found["rows"]}
    assert len(entries(feed)) < len(entries(feed_of(datasette, "/-/search.atom?q=stroke&kind=trials")))


def test_a_canned_query_of_trials_is_a_feed_of_its_rows(demo_site):
    _, datasette = demo_site
    rows = get(datasette, "/regenkb/search_trials.json?q=stroke&_shape=array").json()
    assert rows
    feed = feed_of(datasette, "/regenkb/search_trials.atom?q=stroke")
    assert {page_path(e) for e in entries(feed)} == {f"/-/trial/{row['nct_id']}" for row in rows}


def test_rows_that_are_not_works_or_trials_and_a_since_that_is_no_date_are_refused(demo_site):
    _, datasette = demo_site
    assert get(datasette, "/regenkb/authors.atom").status_code == 400
    for url in ("/regenkb/works.atom?since=tomorrow", "/-/search.atom?q=stroke&since=2024-13",
                "/regenkb/search_trials.atom?q=stroke&since=x"):
        assert get(datasette, url).status_code == 400, url


def test_a_feed_escapes_what_it_was_asked_for_and_carries_the_server_policy(demo_site):
    _, datasette = demo_site
    response = get(datasette, "/-/search.atom?q=%3Cscript%3E+%26+stroke")
    assert "content-security-policy" in response.headers
    feed = feed_of(datasette, "/-/search.atom?q=%3Cscript%3E+%26+stroke")
    assert "<script> & stroke" in feed.findtext(f"{ATOM}title")
    assert b"<script>" not in response.content
