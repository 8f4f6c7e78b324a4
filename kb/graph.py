"""Networks of the KB, built with networkx and written back as tables Datasette can browse.

- coauthorship: people, weighted by joint works (full counting: 1 per work; fractional:
  1/(n-1) per pair of a work with n authors, so each author's links from one work sum to 1);
- institutions: affiliations that appear on the same work, weighted the same way;
- studies: works and trials, with typed edges from the links table (cites, related,
  registered_as, reported_in, background_for, probably_same_study, version_of) plus
  shared authors, bibliographic coupling (shared references) and co-citation.

Edge weights are counted in one pass over each work's authorship list (not by projecting
a bipartite graph), metrics are computed once per build, and everything lands in
`graph_nodes` and `graph_edges`.
"""

import json
import math
import re
from collections import Counter, defaultdict
from itertools import combinations

import networkx as nx

from .db import insert_rows
from .search import fts_query, register_functions

NETWORKS = ("coauthorship", "institutions", "studies")
MAX_AUTHORS = 50  # hyperauthorship: a 1,000-author paper would add half a million pairs
EXACT_BETWEENNESS = 2000
SEED = 42
LINK_KINDS = ("cites", "related", "registered_as", "reported_in", "background_for", "probably_same_study",
              "version_of")
STOP = set("""a an and are as at be by for from in into is of on or the to with without after before during
between among study trial patients patient effect effects using use based review analysis clinical""".split())


def selected_works(db, query=None, years=None):
    """Ids of the works a network covers: all, or those matching a search and/or a year range."""
    sql, params = "SELECT id FROM works WHERE 1 = 1", []
    if query:
        register_functions(db.conn)
        sql += " AND id IN (SELECT rowid FROM works_fts WHERE works_fts MATCH ?)"
        params.append(fts_query(query))
    if years:
        sql += " AND year BETWEEN ? AND ?"
        params.extend(years)
    return {row[0] for row in db.execute(sql, params)}


def pair_weights(groups, counting):
    """{(a, b): weight} from groups of co-occurring members (authors of one work, ...)."""
    weights, evidence = Counter(), defaultdict(list)
    for key, members in groups.items():
        members = sorted(set(members))
        if len(members) < 2 or len(members) > MAX_AUTHORS:
            continue
        share = 1.0 / (len(members) - 1) if counting == "fractional" else 1.0
        for pair in combinations(members, 2):
            weights[pair] += share
            evidence[pair].append(key)
    return weights, evidence


def coauthorship(db, works, counting="full"):
    groups = defaultdict(list)
    for work_id, author_id in db.execute("SELECT work_id, author_id FROM work_authors"):
        if work_id in works:
            groups[work_id].append(author_id)
    weights, evidence = pair_weights(groups, counting)
    labels = dict(db.execute("SELECT id, name FROM authors"))
    graph = nx.Graph()
    for (a, b), weight in weights.items():
        graph.add_edge(f"author:{a}", f"author:{b}", weight=round(weight, 6), kind="coauthorship",
                       evidence=works_evidence(evidence[(a, b)]))
    for node in graph:
        graph.nodes[node].update(kind="author", label=labels.get(int(node.split(":")[1])))
    return graph


def institutions(db, works, counting="full"):
    groups = defaultdict(list)
    for work_id, affiliation_id in db.execute("SELECT DISTINCT work_id, affiliation_id FROM work_author_affiliations"):
        if work_id in works:
            groups[work_id].append(affiliation_id)
    weights, evidence = pair_weights(groups, counting)
    labels = dict(db.execute("SELECT id, name FROM affiliations"))
    graph = nx.Graph()
    for (a, b), weight in weights.items():
        graph.add_edge(f"affiliation:{a}", f"affiliation:{b}", weight=round(weight, 6), kind="collaboration",
                       evidence=works_evidence(evidence[(a, b)]))
    for node in graph:
        graph.nodes[node].update(kind="affiliation", label=labels.get(int(node.split(":")[1])))
    return graph


def works_evidence(work_ids, shown=5):
    listed = ", ".join(str(w) for w in sorted(work_ids)[:shown])
    more = f" and {len(work_ids) - shown} more" if len(work_ids) > shown else ""
    return f"works {listed}{more}"


def studies(db, works):
    """Works and trials; each kind of relation is its own edge kind (a MultiGraph keeps them apart)."""
    graph = nx.MultiGraph()
    marks = ", ".join("?" for _ in LINK_KINDS)
    for relation, fw, tw, ft, tt, evidence, score in db.execute(
            f"SELECT relation, from_work_id, to_work_id, from_trial_id, to_trial_id, evidence, score FROM links "
            f"WHERE relation IN ({marks})", LINK_KINDS):
        ends = [f"work:{w}" for w in (fw, tw) if w is not None] + [f"trial:{t}" for t in (ft, tt) if t is not None]
        if len(ends) != 2 or ends[0] == ends[1]:
            continue
        if any(e.startswith("work:") and int(e[5:]) not in works for e in ends):
            continue
        graph.add_edge(*ends, key=relation, kind=relation, weight=score or 1.0, evidence=evidence or "")
    shared = defaultdict(set)
    for work_id, author_id in db.execute("SELECT work_id, author_id FROM work_authors"):
        if work_id in works:
            shared[author_id].add(work_id)
    add_co_occurrence(graph, shared, "shared_authors", "authors in common")
    cited_by = defaultdict(set)
    cites_of = defaultdict(set)
    for source, target_scheme, target in db.execute(
            "SELECT from_work_id, to_scheme, to_id FROM links WHERE relation = 'cites' AND from_work_id IS NOT NULL"):
        if source in works:
            cited_by[(target_scheme, target)].add(source)
            cites_of[source].add((target_scheme, target))
    add_co_occurrence(graph, cited_by, "bibliographic_coupling", "references in common")
    cited_together = defaultdict(set)
    for source, target in db.execute("SELECT from_work_id, to_work_id FROM links WHERE relation = 'cites' "
                                     "AND from_work_id IS NOT NULL AND to_work_id IS NOT NULL"):
        if target in works:
            cited_together[source].add(target)
    add_co_occurrence(graph, cited_together, "co_citation", "cited together by")
    labels = dict(db.execute("SELECT id, title FROM works"))
    trial_labels = dict(db.execute("SELECT id, coalesce(acronym || ': ', '') || brief_title FROM trials"))
    for node in graph:
        kind, key = node.split(":")
        graph.nodes[node].update(kind=kind, label=(labels if kind == "work" else trial_labels).get(int(key)))
    return graph


def add_co_occurrence(graph, groups, kind, phrase):
    """An edge between every two works sharing a member of a group, weighted by how many they share."""
    weights = Counter()
    for members in groups.values():
        if 2 <= len(members) <= MAX_AUTHORS:
            for a, b in combinations(sorted(members), 2):
                weights[(a, b)] += 1
    for (a, b), weight in weights.items():
        graph.add_edge(f"work:{a}", f"work:{b}", key=kind, kind=kind, weight=float(weight),
                       evidence=f"{weight} {phrase}")


def simple(graph):
    """A weighted simple graph of a (multi)graph: parallel edges' weights summed."""
    if not graph.is_multigraph():
        return graph
    result = nx.Graph()
    result.add_nodes_from(graph.nodes(data=True))
    for a, b, data in graph.edges(data=True):
        weight = result[a][b]["weight"] + data["weight"] if result.has_edge(a, b) else data["weight"]
        result.add_edge(a, b, weight=weight)
    return result


def metrics(graph):
    """Per-node degree, weighted degree, PageRank, betweenness, component and community."""
    flat = simple(graph)
    if not flat.number_of_nodes():
        return {}
    pagerank = nx.pagerank(flat, weight="weight")
    sample = None if flat.number_of_nodes() <= EXACT_BETWEENNESS else 200
    betweenness = nx.betweenness_centrality(flat, k=sample, seed=SEED if sample else None)
    components = {node: number for number, nodes in enumerate(
        sorted(nx.connected_components(flat), key=lambda c: (-len(c), min(c))), 1) for node in nodes}
    communities = {node: number for number, nodes in enumerate(
        sorted(nx.community.louvain_communities(flat, weight="weight", seed=SEED), key=lambda c: (-len(c), min(c))), 1)
        for node in nodes}
    return {node: {"degree": flat.degree(node), "weighted_degree": round(flat.degree(node, weight="weight"), 4),
                   "pagerank": pagerank[node], "betweenness": betweenness[node], "component": components[node],
                   "community": communities[node]} for node in flat}


def community_labels(db, graph, measures, top=3):
    """Each community's most distinctive MeSH terms (else title words) over the works behind it."""
    members = {"author": "SELECT author_id, work_id FROM work_authors",
               "affiliation": "SELECT affiliation_id, work_id FROM work_author_affiliations"}
    works_of = defaultdict(set)
    for node in graph:
        if node.startswith("work:"):
            works_of[measures[node]["community"]].add(int(node[5:]))
    for kind in {node.split(":")[0] for node in graph} & members.keys():
        for key, work_id in db.execute(members[kind]):
            node = f"{kind}:{key}"
            if node in measures:
                works_of[measures[node]["community"]].add(work_id)
    terms_of = defaultdict(Counter)
    for work_id, name in db.execute("SELECT wm.work_id, m.name FROM work_mesh wm JOIN mesh_terms m ON m.id = wm.mesh_id "
                                    "WHERE m.name NOT IN ('Humans', 'Animals', 'Male', 'Female')"):
        terms_of[work_id][name] += 1
    for work_id, title in db.execute("SELECT id, title FROM works"):
        if not terms_of.get(work_id):
            terms_of[work_id].update(w for w in re.findall(r"[a-z]{4,}", (title or "").lower()) if w not in STOP)
    overall = Counter()
    for counter in terms_of.values():
        overall.update(counter.keys())
    total = max(1, len(terms_of))
    labels = {}
    for community, work_ids in works_of.items():
        counts = Counter()
        for work_id in work_ids:
            counts.update(terms_of.get(work_id, {}).keys())
        scored = sorted(counts, key=lambda t: (-counts[t] * math.log(total / overall[t] + 1), t))
        labels[community] = "; ".join(scored[:top]) or None
    return labels


BUILDERS = {"coauthorship": coauthorship, "institutions": institutions, "studies": studies}


def build(db, network, counting="full", query=None, years=None):
    """Build one network, compute its metrics and write it to graph_nodes / graph_edges."""
    works = selected_works(db, query, years)
    builder = BUILDERS[network]
    graph = builder(db, works) if network == "studies" else builder(db, works, counting)
    measures = metrics(graph)
    labels = community_labels(db, graph, measures)
    years_of = node_years(db, graph)
    nodes = [{"network": network, "node": node, "kind": data["kind"], "label": data.get("label"),
              **measures[node], "community_label": labels.get(measures[node]["community"]),
              "first_year": years_of.get(node, (None, None))[0], "last_year": years_of.get(node, (None, None))[1]}
             for node, data in graph.nodes(data=True)]
    edges = [{"id": None, "network": network, "source": a, "target": b, "kind": data["kind"],
              "weight": data["weight"], "evidence": data.get("evidence")} for a, b, data in graph.edges(data=True)]
    with db.atomic():
        db.execute("DELETE FROM graph_nodes WHERE network = ?", [network])
        db.execute("DELETE FROM graph_edges WHERE network = ?", [network])
        insert_rows(db, "graph_nodes", nodes)
        insert_rows(db, "graph_edges", edges)
        db["graph_runs"].insert({"network": network, "counting": counting if network != "studies" else None,
                                 "query": query, "years": json.dumps(years) if years else None,
                                 "nodes": len(nodes), "edges": len(edges)}, replace=True)
    for node, data in graph.nodes(data=True):
        data.update(measures[node], community_label=labels.get(measures[node]["community"]))
    return graph


def node_years(db, graph):
    """(first, last) publication year of the works behind each author or affiliation node."""
    years = {}
    queries = {"author": "SELECT wa.author_id, min(w.year), max(w.year) FROM work_authors wa "
                         "JOIN works w ON w.id = wa.work_id GROUP BY wa.author_id",
               "affiliation": "SELECT waa.affiliation_id, min(w.year), max(w.year) FROM work_author_affiliations waa "
                              "JOIN works w ON w.id = waa.work_id GROUP BY waa.affiliation_id",
               "work": "SELECT id, year, year FROM works"}
    kinds = {node.split(":")[0] for node in graph}
    for kind in kinds & queries.keys():
        for key, first, last in db.execute(queries[kind]):
            years[f"{kind}:{key}"] = (first, last)
    return years


def load(db, network):
    """A built network back from graph_nodes / graph_edges, with every node attribute."""
    graph = nx.MultiGraph() if network == "studies" else nx.Graph()
    for row in db.query("SELECT * FROM graph_nodes WHERE network = ?", [network]):
        node = row.pop("node")
        graph.add_node(node, **{k: v for k, v in row.items() if k != "network" and v is not None})
    for row in db.query("SELECT * FROM graph_edges WHERE network = ?", [network]):
        graph.add_edge(row["source"], row["target"], kind=row["kind"], weight=row["weight"],
                       evidence=row["evidence"] or "")
    return graph


def export(graph, fmt, path):
    """Write a network for Gephi / Cytoscape (graphml, gexf), web pages (json), VOSviewer, Pajek."""
    flat = simple(graph) if fmt in ("vosviewer", "pajek") else graph
    if fmt == "graphml":
        nx.write_graphml(graph, path)
    elif fmt == "gexf":
        nx.write_gexf(graph, path)
    elif fmt == "json":
        with open(path, "w") as out:
            json.dump(nx.node_link_data(graph, edges="links"), out, ensure_ascii=False, indent=1)
    elif fmt == "pajek":
        labels = Counter(graph.nodes[n].get("label") for n in flat)
        names = {n: str(graph.nodes[n].get("label") or n) if labels[graph.nodes[n].get("label")] == 1
                 else f"{graph.nodes[n].get('label')} ({n})" for n in flat}
        bare = nx.Graph()
        bare.add_weighted_edges_from((names[a], names[b], data["weight"]) for a, b, data in flat.edges(data=True))
        nx.write_pajek(bare, path)
    elif fmt == "vosviewer":
        write_vosviewer(flat, graph, path)
    else:
        raise ValueError(f"unknown format {fmt!r}: graphml, gexf, json, vosviewer or pajek")


def write_vosviewer(flat, graph, path):
    """VOSviewer map and network files: PATH.map.txt (id, label, cluster, weights) and
    PATH.network.txt (id, id, strength), tab-separated as VOSviewer documents them."""
    ids = {node: number for number, node in enumerate(sorted(flat), 1)}
    with open(f"{path}.map.txt", "w") as out:
        out.write("id\tlabel\tcluster\tweight<Links>\tweight<Total link strength>\tscore<PageRank>\n")
        for node, number in ids.items():
            data = graph.nodes[node]
            label = str(data.get("label") or node).replace("\t", " ")
            out.write(f"{number}\t{label}\t{data.get('community', 1)}\t{flat.degree(node)}\t"
                      f"{flat.degree(node, weight='weight'):g}\t{data.get('pagerank', 0):.6f}\n")
    with open(f"{path}.network.txt", "w") as out:
        for a, b, data in flat.edges(data=True):
            out.write(f"{ids[a]}\t{ids[b]}\t{data['weight']:g}\n")
