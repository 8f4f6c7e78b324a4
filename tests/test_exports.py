"""Exports give every row their URL asks for (not Datasette's page of 50 or 1,000), say so when
they stop at their maximum, and refuse rows they cannot export with a 4xx."""

import asyncio
import json
import re
from collections import Counter
from urllib.parse import urlencode

import networkx as nx
import pytest
from click.testing import CliRunner
from conftest import get

from kb import graph, serve
from kb.cli import cli
from kb.datasette_plugin import exports
from kb.db import open_db


def db_path(datasette):
    return next(database.path for database in datasette.databases.values() if database.path)


@pytest.fixture(scope="module")
def networked(demo_site, tmp_path_factory):
    """A copy of the demo KB with its coauthorship network built (the shared demo KB stays as it
    is), and its Datasette."""
    path = tmp_path_factory.mktemp("networked") / "regenkb.db"
    demo_site[0].execute("VACUUM INTO ?", [str(path)])
    db = open_db(str(path))
    graph.build(db, "coauthorship")
    datasette = serve.datasette_for(path)
    asyncio.run(datasette.invoke_startup())
    return db, datasette


def expected_keys(db):
    """Each demo work's citation key, as the exports name it, counted from the works table."""
    keys = []
    for pmid, doi, work_id in db.execute("select pmid, doi, id from works"):
        keys.append(f"pmid{pmid}" if pmid else "doi" + re.sub(r"\W+", "_", doi).strip("_") if doi else f"work{work_id}")
    return Counter(keys)


def test_the_works_bibtex_ris_and_csl_json_exports_hold_every_demo_work_not_a_page_of_them(demo_site):
    db, datasette = demo_site
    total = db["works"].count
    assert total > 50  # more than Datasette's page: the export must read past it
    bib = get(datasette, "/regenkb/works.bibtex")
    assert bib.status_code == 200 and exports.EXPORT_CUT not in bib.headers
    assert Counter(re.findall(r"^@article\{([^,]+),", bib.text, re.M)) == expected_keys(db)
    ris = get(datasette, "/regenkb/works.ris").text
    assert ris.count("TY  - JOUR") == ris.count("ER  - ") == total
    assert Counter(re.findall(r"^AN  - (\d+)", ris, re.M)) == Counter(
        row[0] for row in db.execute("select pmid from works where pmid is not null"))
    csl = json.loads(get(datasette, "/regenkb/works.csljson").text)
    assert Counter(item["id"] for item in csl) == expected_keys(db)


def test_a_filtered_table_export_keeps_its_filter_and_order_past_the_first_page(demo_site):
    db, datasette = demo_site
    query = "pmid__notblank=1&_sort_desc=year"
    shown = get(datasette, f"/regenkb/works.json?{query}&_size=max&_shape=array").json()
    assert len(shown) == db.execute("select count(*) from works where pmid != ''").fetchone()[0] > 10
    ris = get(datasette, f"/regenkb/works.ris?{query}&_size=10").text
    assert re.findall(r"^AN  - (\d+)", ris, re.M) == [row["pmid"] for row in shown]


def test_a_query_export_reads_past_the_page_datasette_hands_the_renderer(demo_site):
    db, datasette = demo_site
    total = db["works"].count
    bib = get(datasette, "/regenkb.bibtex?sql=select+id+as+work_id+from+works&_size=10")
    assert bib.status_code == 200 and len(re.findall(r"^@article\{", bib.text, re.M)) == total


def test_a_canned_query_export_keeps_its_parameters_past_the_page(demo_site, monkeypatch):
    db, datasette = demo_site
    monkeypatch.setitem(datasette._settings, "max_returned_rows", 5)
    expected = db.execute("select count(distinct wa.work_id) from authors a join work_authors wa "
                          "on wa.author_id = a.id where a.name like '%a%' or a.name_forms like '%a%'").fetchone()[0]
    assert expected > 5
    bib = get(datasette, "/regenkb/works_by_author.bibtex?name=a")
    assert len(re.findall(r"^@article\{", bib.text, re.M)) == expected


def test_an_export_past_its_maximum_says_it_was_cut_in_a_header_and_in_the_file(demo_site, monkeypatch):
    db, datasette = demo_site
    monkeypatch.setattr(exports, "MAX_ROWS", 7)
    bib = get(datasette, "/regenkb/works.bibtex")
    assert len(re.findall(r"^@article\{", bib.text, re.M)) == 7
    assert "7" in bib.headers[exports.EXPORT_CUT]
    assert bib.text.startswith("@comment{Export cut at 7 rows")
    ris = get(datasette, "/regenkb/works.ris")
    assert ris.text.count("TY  - JOUR") == 7 and ris.text.startswith("Export cut at 7 rows")
    csl = get(datasette, "/regenkb/works.csljson")
    assert len(json.loads(csl.text)) == 7 and exports.EXPORT_CUT in csl.headers


def test_the_graphml_export_of_graph_edges_holds_every_edge_of_the_network(networked, tmp_path):
    db, datasette = networked
    edges = Counter(tuple(sorted(row)) for row in db.execute(
        "select source, target from graph_edges where network = 'coauthorship'"))
    assert sum(edges.values()) > 1000  # more than a query page
    response = get(datasette, "/regenkb/graph_edges.graphml?network=coauthorship")
    assert response.status_code == 200 and exports.EXPORT_CUT not in response.headers
    (tmp_path / "net.graphml").write_text(response.text)
    back = nx.read_graphml(tmp_path / "net.graphml")
    assert Counter(tuple(sorted(edge)) for edge in back.edges()) == edges
    labels = dict(db.execute("select node, label from graph_nodes where network = 'coauthorship'").fetchall())
    assert {node: data.get("label") for node, data in back.nodes(data=True)} == {
        node: labels[node] for node in {n for edge in edges for n in edge}}


def test_a_cut_graphml_export_is_still_a_network_file_with_a_comment_saying_so(networked, tmp_path, monkeypatch):
    db, datasette = networked
    monkeypatch.setattr(exports, "MAX_ROWS", 5)
    response = get(datasette, "/regenkb/graph_edges.graphml?network=coauthorship")
    assert exports.EXPORT_CUT in response.headers and "<!-- Export cut at 5 rows" in response.text
    (tmp_path / "cut.graphml").write_text(response.text)
    assert nx.read_graphml(tmp_path / "cut.graphml").number_of_edges() == 5


def test_the_ego_network_query_exports_as_the_network_it_is(networked, tmp_path):
    db, datasette = networked
    centre = db.execute("select node, label from graph_nodes where network = 'coauthorship' "
                        "order by degree desc limit 1").fetchone()
    query = f"network=coauthorship&node={centre[0]}&depth=1"
    rows = get(datasette, f"/regenkb/ego_network.json?{query}&_shape=array").json()
    response = get(datasette, f"/regenkb/ego_network.graphml?{query}")
    assert response.status_code == 200, response.text
    (tmp_path / "ego.graphml").write_text(response.text)
    back = nx.read_graphml(tmp_path / "ego.graphml")
    assert set(back.nodes()) == {row["node"] for row in rows}
    assert Counter(tuple(sorted(edge)) for edge in back.edges()) == Counter(
        tuple(sorted((row["via"], row["node"]))) for row in rows if row["via"] is not None)
    assert back.nodes[centre[0]]["label"] == centre[1]


def test_a_query_that_is_not_works_or_a_network_is_refused_with_a_400(demo_site):
    # trials_for_work (the canned query once named related_trials, like the table) answered such a
    # refusal with a 200: Datasette's query view sets its own status on a renderer's Response.
    db, datasette = demo_site
    seed = db.execute("select w.pmid from related_trials r join works w on w.id = r.work_id "
                      "where w.pmid is not null limit 1").fetchone()[0]
    assert get(datasette, f"/regenkb/trials_for_work.json?work={seed}&_shape=array").json()  # the rows exist
    bib = get(datasette, f"/regenkb/trials_for_work.bibtex?work={seed}")
    assert bib.status_code == 400 and "not works" in bib.text
    graphml = get(datasette, f"/regenkb/trials_for_work.graphml?work={seed}")
    assert graphml.status_code == 400 and "not a network" in graphml.text
    assert get(datasette, "/regenkb/works.graphml").status_code == 400


def test_kb_related_tells_an_unknown_work_from_a_known_work_without_trials(demo_site):
    db, datasette = demo_site
    path = db_path(datasette)
    unknown = CliRunner().invoke(cli, ["related", "99999998", "--db", path])
    assert unknown.exit_code == 1 and "no such work" in unknown.output
    assert CliRunner().invoke(cli, ["related", "99999998", "--json", "--db", path]).exit_code == 1
    lonely = db.execute("select pmid from works where pmid is not null and id not in "
                        "(select work_id from related_trials) limit 1").fetchone()[0]
    known = CliRunner().invoke(cli, ["related", lonely, "--db", path])
    assert known.exit_code == 1 and "no such work" not in known.output and "has no related trials" in known.output
    page = get(datasette, "/-/work/99999998")  # the work page tells an unknown work apart too
    assert page.status_code == 404 and "There is no work 99999998" in page.text
    assert json.loads(CliRunner().invoke(cli, ["related", lonely, "--json", "--db", path]).output) == []


def test_an_export_whose_full_query_outruns_the_time_limit_is_a_400_that_says_to_narrow_it(demo_site, monkeypatch):
    db, datasette = demo_site
    monkeypatch.setitem(datasette._settings, "sql_time_limit_ms", 100)
    # A page of 1,000 of these rows takes milliseconds; the 100,000 an export reads take longer.
    sql = ("with recursive c(x) as (select 1 union all select x + 1 from c limit 200000) "
           "select x as work_id from c where length(hex(randomblob(300))) > 0")
    response = get(datasette, "/regenkb.bibtex?" + urlencode({"sql": sql}))
    assert response.status_code == 400 and "Narrow it" in response.text
