"""The ego network on author and institution pages: a seeded layout, a cap on nodes drawn, a
legend, and community labels that are the topic terms of the community's works."""

import asyncio
import json
import re

import pytest
from conftest import get

from kb import graph, serve
from kb.datasette_plugin.network import EGO_DRAWN
from kb.db import open_db


@pytest.fixture(scope="module")
def networked(demo_site, tmp_path_factory):
    """A copy of the demo KB with its coauthorship and institution networks built (the shared
    demo KB stays as it is), and its Datasette."""
    path = tmp_path_factory.mktemp("network-page") / "regenkb.db"
    demo_site[0].execute("VACUUM INTO ?", [str(path)])
    db = open_db(str(path))
    graph.build(db, "coauthorship")
    graph.build(db, "institutions")
    datasette = serve.datasette_for(path)
    asyncio.run(datasette.invoke_startup())
    return db, datasette


def busiest_author(db):
    return db.execute("SELECT author_id FROM work_authors GROUP BY author_id ORDER BY count(*) DESC, author_id"
                      ).fetchone()[0]


def network_of(datasette, url):
    page = get(datasette, url)
    assert page.status_code == 200
    block = re.search(r'<script type="application/json" id="regenkb-network-elements">(.*?)</script>',
                      page.text, re.DOTALL)
    return page.text, json.loads(block.group(1)), get(datasette, url + ".json").json()["network"]


def test_the_ego_network_has_the_same_positions_on_every_load(networked):
    db, datasette = networked
    url = f"/-/author/{busiest_author(db)}"
    _, first, _ = network_of(datasette, url)
    _, second, _ = network_of(datasette, url)
    positions = [(e["data"]["id"], e["position"]) for e in first if "position" in e]
    assert len(positions) > 5
    assert positions == [(e["data"]["id"], e["position"]) for e in second if "position" in e]
    assert len({(p["x"], p["y"]) for _, p in positions}) == len(positions)


def test_the_network_draws_at_most_the_strongest_partners_and_counts_the_rest(networked):
    db, datasette = networked
    author = busiest_author(db)
    text, elements, network = network_of(datasette, f"/-/author/{author}")
    partners = get(datasette, f"/-/author/{author}.json").json()["partners"]
    nodes = [e["data"] for e in elements if "source" not in e["data"]]
    assert len(nodes) == min(len(partners), EGO_DRAWN) + 1 == network["nodes"]
    assert network["more"] == len(partners) - len(nodes) + 1
    assert [n["id"] for n in nodes[1:]] == [str(p["id"]) for p in partners[:EGO_DRAWN]]
    if network["more"]:
        assert f"({network['more']} more in the list below)" in text
    sizes = [n["size"] for n in nodes[1:]]
    assert sizes == sorted(sizes, reverse=True) and nodes[0]["size"] > sizes[0]


def test_the_legend_names_each_drawn_community_by_its_label_and_colour(networked):
    db, datasette = networked
    text, elements, network = network_of(datasette, f"/-/author/{busiest_author(db)}")
    drawn = {e["data"]["community"]: e["data"]["colour"] for e in elements if "colour" in e["data"]}
    assert {c["community"]: c["colour"] for c in network["legend"]} == drawn
    labels = dict(db.execute("SELECT community, community_label FROM graph_nodes WHERE network = 'coauthorship'"))
    for entry in network["legend"]:
        assert entry["label"] == labels[entry["community"]]
        assert f"Community {entry['community']}" in text
    assert "fewer → more joint works" in text


def test_without_a_built_network_the_legend_says_so(demo_site):
    db, datasette = demo_site
    text, _, network = network_of(datasette, f"/-/author/{busiest_author(db)}")
    assert [c["community"] for c in network["legend"]] == [0] and "No community (network not built)" in text


def test_community_labels_are_keywords_or_mesh_terms_of_the_communitys_works(networked):
    db, _ = networked
    vocabulary, acronyms = set(), {a.lower() for (a,) in db.execute("SELECT acronym FROM trials WHERE acronym != ''")}
    for (keywords,) in db.execute("SELECT keywords FROM works WHERE keywords IS NOT NULL"):
        vocabulary.update(k.lower() for k in json.loads(keywords))
        acronyms.update(k.lower() for k in json.loads(keywords) if re.fullmatch(r"[A-Z0-9-]+s?", k))
    vocabulary.update(name.lower() for (name,) in db.execute(
        "SELECT m.name FROM mesh_terms m JOIN work_mesh wm ON wm.mesh_id = m.id"))
    rows = db.execute("SELECT DISTINCT network, community, community_label FROM graph_nodes "
                      "WHERE community_label IS NOT NULL").fetchall()
    assert len(rows) >= 10
    for _, _, label in rows:
        terms = label.split("; ")
        assert 1 <= len(terms) <= 3
        for term in terms:
            assert term in vocabulary, term
            assert term not in graph.STOP and term.title() not in graph.CHECK_TAGS
            assert term not in acronyms, term
    words = " ".join(label for _, _, label in rows)
    for title_noise in ("treasure", "pisces", "first", "design", "considered", "minimal"):
        assert title_noise not in words.split()


def test_a_mesh_heading_the_communitys_works_hold_labels_it_and_check_tags_never_do(demo_site, tmp_path):
    path = tmp_path / "regenkb.db"
    demo_site[0].execute("VACUUM INTO ?", [str(path)])
    db = open_db(str(path))
    author = busiest_author(db)
    db["mesh_terms"].insert_all([{"id": "D058953", "name": "Neural Stem Cells"}, {"id": "D006801", "name": "Humans"}])
    works = [w for (w,) in db.execute("SELECT work_id FROM work_authors WHERE author_id = ?", [author])]
    # Humans on the same works: as distinctive as the heading by count, but a check tag.
    db["work_mesh"].insert_all([{"work_id": w, "mesh_id": mesh} for w in works for mesh in ("D058953", "D006801")])
    graph.build(db, "coauthorship")
    label = db.execute("SELECT community_label FROM graph_nodes WHERE network = 'coauthorship' AND node = ?",
                       [f"author:{author}"]).fetchone()[0]
    assert "neural stem cells" in label.split("; ")
    assert not any("humans" in row[0] for row in db.execute(
        "SELECT community_label FROM graph_nodes WHERE community_label IS NOT NULL"))
