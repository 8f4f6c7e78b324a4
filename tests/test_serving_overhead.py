"""What `kb serve`'s Datasette asks SQLite per request (kb/datasette_app.py): an anonymous
visitor's permissions are checked once, and an immutable KB's schema is read once, while a
KB served as it is (a load may change it) is still asked each time."""

import asyncio

import pytest

from kb import datasette_app, serve
from kb.db import open_db


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


def test_an_immutable_kb_answers_a_repeated_search_without_schema_or_permission_queries(kb_path):
    datasette = serve.datasette_for(kb_path, immutable=True)
    url = "/regenkb/works.json?_search=stroke&_shape=array"
    (first, first_sql), (second, second_sql) = traced(datasette, url, url)
    assert first.status_code == second.status_code == 200 and second.json() == first.json() == []
    assert any("schema_version" in sql for sql in first_sql) and any("collate nocase" in sql for sql in first_sql)
    assert not any("schema_version" in sql or "collate nocase" in sql for sql in second_sql)
    assert any("works_fts match" in sql for sql in second_sql)


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
    monkeypatch.setattr(datasette_app, "KEPT_PERMISSIONS", 5)
    datasette = serve.datasette_for(kb_path, immutable=True)
    answers = traced(datasette, *[f"/regenkb/no_such_table_{n}/1.json" for n in range(20)])
    assert all(400 <= response.status_code < 500 for response, _ in answers)
    assert len(datasette.anonymous_permissions) == 5
