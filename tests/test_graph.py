import asyncio
import json

import networkx as nx
import pytest

from harvest.records import new_author, new_work
from kb import graph, serve
from kb.ingest import refresh
from kb.load import WorkLoader

# Four works: A, B, C wrote W1; A, B wrote W2; C, D wrote W3; D, E wrote W4.
WORKS = {"1": ["Alpha", "Beta", "Gamma"], "2": ["Alpha", "Beta"], "3": ["Gamma", "Delta"], "4": ["Delta", "Epsilon"]}


@pytest.fixture
def small_kb(db):
    records = []
    for pmid, names in WORKS.items():
        authors = [new_author(i, last_name=name, fore_name="Ann", initials="A",
                              affiliations=[{"name": f"{name} Institute, Tehran, Iran", "identifiers": {}}])
                   for i, name in enumerate(names, 1)]
        record = new_work(pmid=pmid, title=f"Exosome stroke study number {pmid}", year=2020 + int(pmid),
                          authors=authors)
        record["raw"] = f"<PubmedArticle>{pmid}</PubmedArticle>".encode()
        records.append(record)
    WorkLoader(db, "pubmed").write_batch(records, "hand-built")
    refresh(db)
    return db


def weights(db, network="coauthorship"):
    labels = dict(db.execute("select node, label from graph_nodes where network = ?", [network]))
    return {tuple(sorted((labels[s].split()[-1], labels[t].split()[-1]))): w for s, t, w in db.execute(
        "select source, target, weight from graph_edges where network = ?", [network])}


def test_full_counting_weighs_joint_works(small_kb):
    graph.build(small_kb, "coauthorship", "full")
    assert weights(small_kb) == {("Alpha", "Beta"): 2, ("Alpha", "Gamma"): 1, ("Beta", "Gamma"): 1,
                                 ("Delta", "Gamma"): 1, ("Delta", "Epsilon"): 1}


def test_fractional_counting_gives_each_pair_of_an_n_author_work_one_over_n_minus_one(small_kb):
    graph.build(small_kb, "coauthorship", "fractional")
    assert weights(small_kb) == {("Alpha", "Beta"): 1.5, ("Alpha", "Gamma"): 0.5, ("Beta", "Gamma"): 0.5,
                                 ("Delta", "Gamma"): 1, ("Delta", "Epsilon"): 1}
    degrees = dict(small_kb.execute("select label, weighted_degree from graph_nodes"))
    assert degrees["Ann Alpha"] == 2.0  # one unit per work Alpha co-wrote


def test_metrics_and_communities_repeat_under_the_fixed_seed(small_kb):
    graph.build(small_kb, "coauthorship")
    first = list(small_kb.query("select node, community, pagerank from graph_nodes order by node"))
    graph.build(small_kb, "coauthorship")
    assert list(small_kb.query("select node, community, pagerank from graph_nodes order by node")) == first
    assert {r["component"] for r in small_kb.query("select component from graph_nodes")} == {1}
    assert small_kb.execute("select count(distinct community) from graph_nodes").fetchone()[0] >= 2


def test_institutions_collaborate_through_shared_works(small_kb):
    graph.build(small_kb, "institutions")
    assert ("Alpha", "Beta") in {tuple(sorted((a.split()[0], b.split()[0]))) for a, b in small_kb.execute(
        "select s.label, t.label from graph_edges e join graph_nodes s on s.node = e.source "
        "join graph_nodes t on t.node = e.target where e.network = 'institutions'")}


def test_search_restricts_the_network(small_kb):
    graph.build(small_kb, "coauthorship", query="number 4")
    assert weights(small_kb) == {("Delta", "Epsilon"): 1}


def test_canned_queries_find_the_collaboration_path_and_the_ego_network(small_kb):
    graph.build(small_kb, "coauthorship")
    path = small_kb.conn.execute("pragma database_list").fetchone()[2]
    datasette = serve.datasette_for(path)

    def get(url):
        return asyncio.run(datasette.client.get(url)).json()

    chain = get("/kb/collaboration_path.json?network=coauthorship&a=Alpha&b=Epsilon&_shape=array")
    assert chain[0]["steps"] == 3
    ego = get("/kb/ego_network.json?network=coauthorship&node=Gamma&depth=1&_shape=array")
    assert {row["label"] for row in ego} == {"Ann Gamma", "Ann Alpha", "Ann Beta", "Ann Delta"}
    top = get("/kb/top_central.json?network=coauthorship&_shape=array")
    assert len(top) == 5


@pytest.mark.parametrize("fmt,reader", [("graphml", nx.read_graphml), ("gexf", nx.read_gexf)])
def test_exports_round_trip_through_networkx(small_kb, tmp_path, fmt, reader):
    graph.build(small_kb, "coauthorship")
    path = tmp_path / f"net.{fmt}"
    graph.export(graph.load(small_kb, "coauthorship"), fmt, str(path))
    back = reader(path)
    assert back.number_of_nodes() == 5 and back.number_of_edges() == 5
    node = next(n for n, d in back.nodes(data=True) if d["label"] == "Ann Alpha")
    assert {"kind", "pagerank", "community", "first_year"} <= set(back.nodes[node])


def test_json_and_vosviewer_exports(small_kb, tmp_path):
    graph.build(small_kb, "coauthorship")
    network = graph.load(small_kb, "coauthorship")
    graph.export(network, "json", str(tmp_path / "net.json"))
    data = json.loads((tmp_path / "net.json").read_text())
    assert len(data["nodes"]) == 5 and len(data["links"]) == 5
    graph.export(network, "vosviewer", str(tmp_path / "net"))
    lines = (tmp_path / "net.map.txt").read_text().splitlines()
    assert lines[0].split("\t") == ["id", "label", "cluster", "weight<Links>", "weight<Total link strength>",
                                    "score<PageRank>"]
    assert len(lines) == 6
    network_lines = (tmp_path / "net.network.txt").read_text().splitlines()
    assert len(network_lines) == 5 and all(len(line.split("\t")) == 3 for line in network_lines)


def test_the_demo_study_network_types_its_edges(db):
    from kb import demo

    demo.build(db)
    graph.build(db, "studies")
    kinds = {row[0] for row in db.execute("select distinct kind from graph_edges where network = 'studies'")}
    assert {"reported_in", "probably_same_study", "related", "shared_authors"} <= kinds


def test_countries_collaborate_once_per_work(db):
    records = []
    for pmid, places in {"1": ["Tehran, Iran", "Tehran, Iran", "Glasgow, UK"], "2": ["Isfahan, Iran", "Glasgow, UK"],
                         "3": ["Seoul, Republic of Korea", "Tehran, Iran"]}.items():
        authors = [new_author(i, last_name=f"Person{pmid}{i}", fore_name="B", initials="B",
                              affiliations=[{"name": f"Hospital {i}, {place}", "identifiers": {}}])
                   for i, place in enumerate(places, 1)]
        record = new_work(pmid=pmid, title=f"Cell therapy trial {pmid}", year=2020, authors=authors)
        record["raw"] = f"<PubmedArticle>{pmid}</PubmedArticle>".encode()
        records.append(record)
    WorkLoader(db, "pubmed").write_batch(records, "hand-built")
    refresh(db)
    graph.build(db, "countries")
    pairs = {tuple(sorted((s[8:], t[8:]))): w for s, t, w in db.execute(
        "select source, target, weight from graph_edges where network = 'countries'")}
    assert pairs == {("GB", "IR"): 2, ("IR", "KR"): 1}


def test_a_network_can_be_restricted_to_the_topic(db):
    from kb import demo

    demo.build(db)
    everything = graph.build(db, "coauthorship")
    topical = graph.build(db, "coauthorship", on_topic=True)
    on_topic = {row[0] for row in db.execute("select subject_id from tags where tag = 'relevance'")}
    assert 0 < topical.number_of_nodes() < everything.number_of_nodes()
    authors_on_topic = {f"author:{row[0]}" for row in db.execute(
        "select author_id from work_authors where work_id in (%s)" % ",".join(map(str, on_topic)))}
    assert set(topical.nodes) <= authors_on_topic
    assert db["graph_runs"].get("coauthorship")["on_topic"] == 1
