"""What a server says when it cannot answer: a page's or a search's SQL past the time limit is
a 400 that says so (the search page keeps its form and suggests narrowing the search; a .json
URL answers {"ok": false, "error": ...}, as Datasette's own JSON errors do), never a bare 500;
and `kb serve --immutable` serves the schema it just gave an older KB even while another
connection holds the KB open (an immutable server does not read the write-ahead log)."""

import sqlite3

from bs4 import BeautifulSoup
from conftest import get

from kb import serve
from kb.db import open_db

# A time limit already past when a query starts: Datasette's progress handler stops it at its first step.
NO_TIME = 0


def test_a_search_past_the_time_limit_is_a_400_page_that_says_so_and_keeps_its_form(demo_site, monkeypatch):
    datasette = demo_site[1]
    monkeypatch.setitem(datasette._settings, "sql_time_limit_ms", NO_TIME)
    response = get(datasette, "/-/search?q=exosome+stroke")
    page = BeautifulSoup(response.text, "html.parser")
    assert response.status_code == 400
    assert "took longer than the server's time limit" in page.select_one(".message-error").text
    assert "Narrow it" in page.select_one(".message-error").text
    assert page.select_one("form input[name=q]")["value"] == "exosome stroke"


def test_a_search_past_the_time_limit_answers_json_with_ok_false_and_why(demo_site, monkeypatch):
    datasette = demo_site[1]
    monkeypatch.setitem(datasette._settings, "sql_time_limit_ms", NO_TIME)
    response = get(datasette, "/-/search.json?q=exosome+stroke")
    assert response.status_code == 400 and response.json()["ok"] is False
    assert "took longer than the server's time limit for SQL (0 s)" in response.json()["error"]


def test_every_page_of_ours_past_the_time_limit_is_a_400_that_says_so_in_html_and_json(demo_site, monkeypatch):
    db, datasette = demo_site
    work = db.execute("SELECT id FROM works LIMIT 1").fetchone()[0]
    nct = db.execute("SELECT nct_id FROM trials LIMIT 1").fetchone()[0]
    author = db.execute("SELECT id FROM authors LIMIT 1").fetchone()[0]
    institution = db.execute("SELECT id FROM institutions LIMIT 1").fetchone()[0]
    monkeypatch.setitem(datasette._settings, "sql_time_limit_ms", NO_TIME)
    for path in ["/", f"/-/work/{work}", f"/-/trial/{nct}", f"/-/author/{author}", f"/-/institution/{institution}",
                 "/-/gap-map", "/-/synthesis"]:
        page = get(datasette, path)
        assert page.status_code == 400 and "Query took too long" in page.text and "time limit" in page.text, path
        answer = get(datasette, path.rstrip("/") + (".json" if path != "/" else "/-/home.json"))
        assert answer.status_code == 400, path
        assert answer.json()["ok"] is False and "took longer than the server's time limit" in answer.json()["error"]
    for feed in ("/-/search.atom?q=stroke", "/regenkb/works.atom"):
        assert get(datasette, feed).status_code == 400 and "time limit" in get(datasette, feed).text, feed


def test_kb_serve_immutable_serves_the_schema_it_gave_an_older_kb_another_connection_holds_open(tmp_path):
    path = tmp_path / "regenkb.db"
    db = open_db(str(path))
    db.execute("DROP TABLE authors_fts")  # a KB an older regenkb made, without the name indexes
    db.close()
    other = sqlite3.connect(path)  # a benchmark's or a sqlite3 shell's, idle
    other.execute("SELECT count(*) FROM works").fetchall()
    serve.upgrade(path, immutable=True)
    response = get(serve.datasette_for(path, immutable=True), "/-/search.json?q=stroke")
    assert response.status_code == 200 and response.json()["people"] == []
    other.close()
