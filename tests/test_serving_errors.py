"""What a server says when it cannot answer: a page's or a search's SQL past the time limit is
a 400 that says so (the search page keeps its form and suggests narrowing the search; a .json
URL answers {"ok": false, "error": ...}, as Datasette's own JSON errors do), never a bare 500;
and `kb serve --immutable` serves the schema it just gave an older KB even while another
connection holds the KB open (an immutable server does not read the write-ahead log)."""

import asyncio
import sqlite3

from bs4 import BeautifulSoup

from kb import serve
from kb.db import open_db


def get(datasette, url):
    async def run():
        await datasette.invoke_startup()
        return await datasette.client.get(url)

    return asyncio.run(run())


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
