"""What a request costs the server. `kb serve`'s Datasette (kb/datasette_app.py) checks an
anonymous visitor's permissions once and reads an immutable KB's schema once (a KB served as
it is, which a load may change, is still asked each time), counts its full-text tables
from their docsize and maps it when `kb serve` read it ahead; a search
(kb.search.find) by relevance counts and ranks in the full-text index, no further than it shows."""

import asyncio
import json

import pytest

from kb import datasette_app, serve
from kb.db import open_db
from kb.search import find


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("overhead") / "regenkb.db"
    open_db(str(path)).close()
    return path


def traced(datasette, *urls):
    """(responses, the SQL each request ran) for requests in turn to an in-process Datasette."""
    from datasette.tracer import capture_traces

    async def run():
        await datasette.invoke_startup()
        answers = []
        for url in urls:
            traces = []
            with capture_traces(traces):
                response = await datasette.client.get(url)
            answers.append((response, [trace["sql"] for trace in traces if "sql" in trace]))
        return answers

    return asyncio.run(run())


def test_an_immutable_kb_answers_a_repeated_table_search_with_the_search_query_alone(kb_path):
    datasette = serve.datasette_for(kb_path, immutable=True)
    url = "/regenkb/works.json?_search=stroke&_shape=array"
    (first, first_sql), (second, second_sql) = traced(datasette, url, url)
    assert first.status_code == second.status_code == 200 and second.json() == first.json() == []
    assert any("schema_version" in sql for sql in first_sql) and any("collate nocase" in sql for sql in first_sql)
    assert len(second_sql) == 1 and "works_fts match" in second_sql[0]  # the search alone


def test_a_kb_served_as_it_is_is_asked_for_its_schema_on_every_request(kb_path):
    datasette = serve.datasette_for(kb_path)
    url = "/regenkb/works.json?_search=stroke&_shape=array"
    answers = traced(datasette, url, url)
    assert all(any("schema_version" in sql for sql in sql_run) for _, sql_run in answers)
    assert not any("collate nocase" in sql for sql in answers[1][1])  # permissions, still once


def test_a_kept_permission_is_the_answer_datasette_gives(kb_path):
    # A table only root may see stays refused to an anonymous visitor when the answer is kept.
    metadata = {"databases": {"regenkb": {"tables": {"works": {"allow": {"id": "root"}}}}}}
    datasette = datasette_app.ServedDatasette(immutables=[str(kb_path)], metadata=metadata)
    answers = traced(datasette, "/regenkb/works.json", "/regenkb/works.json", "/regenkb/trials.json")
    assert [response.status_code for response, _ in answers] == [403, 403, 200]


def test_visitors_naming_many_tables_cannot_grow_the_kept_permissions_without_bound(kb_path, monkeypatch):
    monkeypatch.setattr(datasette_app, "KEPT_ANSWERS", 5)
    datasette = serve.datasette_for(kb_path, immutable=True)
    answers = traced(datasette, *[f"/regenkb/no_such_table_{n}/1.json" for n in range(20)]
                     + [f"/regenkb/no_such_table_{n}.json" for n in range(20)])
    assert all(400 <= response.status_code < 500 for response, _ in answers)
    assert len(datasette.anonymous_permissions) == 5
    assert len(datasette.get_database("regenkb").kept_answers) == 5


def test_an_immutable_kbs_full_text_tables_are_counted_by_their_docsize_and_their_index_blocks_not_at_all(
        tmp_path):
    path = tmp_path / "regenkb.db"
    db = open_db(str(path))
    db.conn.executemany("INSERT INTO works_fts (rowid, title) VALUES (?, ?)", [(n, f"stroke {n}") for n in (1, 2, 3)])
    db.conn.commit()
    db.close()
    datasette = serve.datasette_for(path, immutable=True)
    [(response, sql_run)] = traced(datasette, "/-/versions.json")  # the first request counts every table
    assert response.status_code == 200 and "select count(*) from [works]" in sql_run
    assert not any(f"[works_fts{shadow}]" in sql for sql in sql_run for shadow in ("", "_content", "_data"))
    counts = asyncio.run(datasette.get_database("regenkb").table_counts())
    assert counts["works_fts"] == counts["works_fts_content"] == counts["works_fts_docsize"] == 3
    assert counts["works_fts_data"] is None and counts["trials_fts"] == counts["works"] == 0


def test_kb_serve_maps_an_immutable_kb_it_read_ahead_and_no_other(kb_path, monkeypatch):
    import os

    import uvicorn

    def mapped(**options):
        datasette = serve.datasette_for(kb_path, **options)
        return asyncio.run(datasette.get_database("regenkb").execute_fn(
            lambda conn: conn.execute("PRAGMA mmap_size").fetchone()[0]))

    assert mapped(immutable=True, memory_map=True) > 2**30
    assert mapped(immutable=True) == mapped(memory_map=True) == 0  # a load may truncate a mutable KB under a map
    monkeypatch.setenv(serve.OPTIONS_VARIABLE, "")
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    monkeypatch.setattr(os, "posix_fadvise", lambda *args: None)
    serve.serve(kb_path, "127.0.0.1", 8001, immutable=True)
    assert json.loads(os.environ[serve.OPTIONS_VARIABLE])["memory_map"] is True
    # Too big to read ahead, a KB not in the file cache would be read 8 MB around each page a map touched.
    monkeypatch.setattr(serve, "available_memory", lambda: 4096)
    serve.serve(kb_path, "127.0.0.1", 8001, immutable=True)
    assert json.loads(os.environ[serve.OPTIONS_VARIABLE])["memory_map"] is False


def test_a_search_by_relevance_ranks_no_further_than_its_page_and_sample_and_counts_without_ranking(
        demo_site, monkeypatch):
    from kb import search

    monkeypatch.setattr(search, "FACET_SAMPLE", 5)
    conn = demo_site[0].conn
    statements = []
    conn.set_trace_callback(statements.append)
    try:
        found = find(conn, "stroke", size=3, page=2, widen=False)
    finally:
        conn.set_trace_callback(None)
    matched = [sql for sql in statements if "works_fts MATCH" in sql]
    # FTS5 ranks into a sort that keeps the first six (the second page of three), and counts every match unranked.
    assert [sql for sql in matched if "rank" in sql] == [
        """SELECT rowid, rank FROM works_fts WHERE works_fts MATCH '"stroke"' ORDER BY rank, rowid LIMIT 6"""]
    assert """SELECT count(*) FROM works_fts WHERE works_fts MATCH '"stroke"'""" in matched
    assert not any("MATERIALIZED (SELECT r.id" in sql or "JOIN works" in sql for sql in matched)
    expected = conn.execute("SELECT rowid, rank, snippet(works_fts, -1, char(2), char(3), '…', 24) FROM works_fts "
                            "WHERE works_fts MATCH '\"stroke\"' ORDER BY rank, rowid").fetchall()
    assert found["total"] == len(expected) > 6 and found["facets_over"] == 5
    assert [(hit["id"], hit["rank"], hit["snippet"]) for hit in found["rows"]] == [tuple(row) for row in expected[3:6]]


def test_the_json_renderer_gives_list_columns_as_datasettes_own_json_switch_does(kb_path):
    from datasette.renderer import json_renderer
    from datasette.utils import MultiParams

    serve.datasette_for(kb_path)  # kb serve's renderer, as it is registered
    columns = ["id", "pub_types", "keywords", "blob"]
    rows = [(1, '["Review", "RCT"]', None, b'["x"]'), (2, "not json", "[]", None), (3, 7, '{"a": [1]}', b"\xff")]
    for query in ["_json=pub_types&_json=keywords&_json=blob&_shape=array", "_json=pub_types", "_shape=arrays",
                  "_json=title&_shape=objects", "_json=id&_json=keywords&_nl=on&_shape=array"]:
        args = MultiParams([pair.split("=") for pair in query.split("&")])
        ours = datasette_app.json_with_lists(args, {"columns": columns, "rows": list(rows)}, "table")
        theirs = json_renderer(args, {"columns": columns, "rows": list(rows)}, "table")
        assert (ours.body, ours.status, ours.headers) == (theirs.body, theirs.status, theirs.headers), query


def test_a_request_reads_its_arguments_once_for_its_query_string(kb_path):
    from datasette.utils.asgi import Request

    serve.datasette_for(kb_path)
    request = Request.fake("/regenkb/works.json?_search=stroke&_json=pub_types&_json=keywords")
    assert request.args is request.args and request.args.getlist("_json") == ["pub_types", "keywords"]
    request.scope = dict(request.scope, query_string=b"_search=exosome")
    assert request.args["_search"] == "exosome" and "_json" not in request.args


def test_kb_serve_runs_uvicorn_on_httptools_and_uvloop_without_an_access_log(kb_path, monkeypatch):
    import uvicorn
    import uvloop
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    asked = {}
    monkeypatch.setenv(serve.OPTIONS_VARIABLE, "")  # serve() sets it for uvicorn's workers; put back after
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: asked.update(options))
    serve.serve(kb_path, "127.0.0.1", 8001, workers=2)
    assert asked["access_log"] is False and asked["workers"] == 2
    assert asked.get("http", "auto") == asked.get("loop", "auto") == "auto"  # uvicorn picks what is installed:
    assert AutoHTTPProtocol.__name__ == "HttpToolsProtocol"
    loop = auto_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_kb_serve_has_the_os_read_a_kb_that_fits_in_half_the_available_memory_in_order_and_no_bigger_one(
        kb_path, monkeypatch):
    import os

    asked = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, length, advice: asked.append((offset, length, advice)))
    monkeypatch.setattr(serve, "READ_AHEAD_STEP", 4096)
    serve.read_ahead(kb_path).join()
    size = kb_path.stat().st_size
    assert asked == [(offset, 4096, os.POSIX_FADV_WILLNEED) for offset in range(0, size, 4096)] and len(asked) > 2
    monkeypatch.setattr(serve, "available_memory", lambda: 2 * size - 2)
    assert serve.read_ahead(kb_path) is None


def test_a_pages_snippets_come_from_one_statement_that_walks_a_prefix_query_once(demo_site):
    conn = demo_site[0].conn
    for query, walked in (("exosome*", True), ("stroke", False)):
        statements = []
        conn.set_trace_callback(statements.append)
        try:
            found = find(conn, query, size=10, widen=False)
        finally:
            conn.set_trace_callback(None)
        [snippets] = [sql for sql in statements if "snippet(" in sql]
        assert ("+rowid IN" in snippets) is walked and len(found["rows"]) >= 5, query
        for hit in found["rows"]:  # as FTS5 writes it for that row alone
            assert hit["snippet"] == conn.execute(
                "SELECT snippet(works_fts, -1, char(2), char(3), '…', 24) FROM works_fts WHERE works_fts MATCH ? "
                "AND rowid = ?", [found["match"], hit["id"]]).fetchone()[0]


def test_the_memory_a_kb_must_fit_in_counts_the_file_cache_the_os_may_drop(monkeypatch):
    import io
    import os

    monkeypatch.setattr(serve, "open", lambda path: io.StringIO("MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 60 kB\n"),
                        raising=False)
    assert serve.available_memory() == 60 * 1024
    monkeypatch.setattr(serve, "open", lambda path: io.StringIO(""), raising=False)  # no /proc/meminfo line
    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 3, "SC_PAGE_SIZE": 4096}[name])
    assert serve.available_memory() == 3 * 4096
