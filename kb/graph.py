"""Networks of the KB, written back as tables Datasette can browse and exported with networkx.

- coauthorship: people, weighted by joint works (full counting: 1 per work; fractional:
  1/(n-1) per pair of a work with n authors, so each author's links from one work sum to 1);
- institutions: institutions (affiliations mapped by kb/institutions.py) that appear on the same
  work, weighted the same way;
- studies: works and trials, with typed edges from the links table (cites, related,
  registered_as, reported_in, background_for, probably_same_study, version_of) plus
  shared authors, bibliographic coupling (shared references) and co-citation.

Edge weights are counted in one vectorised pass over the memberships (not by projecting
a bipartite graph), metrics come from igraph's C core, and everything lands in
`graph_nodes` and `graph_edges`; `load` gives a stored network back as a networkx graph
for the exports.
"""

import json
import math
import random
import re
from collections import Counter, defaultdict
from itertools import chain, combinations, repeat

import igraph
import networkx as nx
import numpy as np
import pycountry

from .db import indexes_rebuilt, insert_rows
from .search import fts_query, register_functions

NETWORKS = ("coauthorship", "institutions", "countries", "studies", "trials")
TEXT_SIMILARITY = 0.3  # TF-IDF cosine from which two works' texts count as similar
PAIRS = ("coauthorship", "institutions", "countries")  # networks whose weights count joint works
MAX_AUTHORS = 50  # hyperauthorship: a 1,000-author paper would add half a million pairs
EVIDENCE_WORKS = 5  # works named in an edge's evidence; the rest are counted
EXACT_BETWEENNESS = 2000
# Above that size betweenness is estimated from this many sampled sources (cost ~ k x edges).
SAMPLED_SOURCES = 32
SEED = 42
LINK_KINDS = ("cites", "related", "registered_as", "reported_in", "background_for", "probably_same_study",
              "version_of")
STOP = set("""a an and are as at be by for from in into is of on or the to with without after before during
between among study trial patients patient effect effects using use based review analysis clinical""".split())
# MeSH check tags: on almost every work, so they describe no community.
CHECK_TAGS = {"Humans", "Animals", "Male", "Female", "Adult", "Aged", "Aged, 80 and over", "Middle Aged",
              "Young Adult", "Adolescent", "Child", "Child, Preschool", "Infant", "Infant, Newborn", "Pregnancy",
              "Mice", "Rats", "Disease Models, Animal"}


def selected_works(db, query=None, years=None, on_topic=False):
    """Ids of the works a network covers: all, or those matching a search, a year range
    and/or the topic (tagged 'on topic' by kb classify)."""
    sql, params = "SELECT id FROM works WHERE 1 = 1", []
    if on_topic:
        sql += " AND id IN (SELECT subject_id FROM tags WHERE subject = 'work' AND tag = 'relevance')"
    if query:
        register_functions(db.conn)
        sql += " AND id IN (SELECT rowid FROM works_fts WHERE works_fts MATCH ?)"
        params.append(fts_query(query))
    if years:
        sql += " AND year BETWEEN ? AND ?"
        params.extend(years)
    return {row[0] for row in db.execute(sql, params)}


class Network:
    """Nodes with their kind and label, and typed, weighted edges (a, b, kind, weight,
    evidence): what `build` computes metrics over and writes to graph_nodes / graph_edges.
    Each relation between two nodes is one edge, so relations of different kinds stay apart."""

    def __init__(self):
        self.nodes = {}
        self.edges = []
        self.edge_at = {}

    def add_node(self, node, kind, label):
        self.nodes.setdefault(node, {"kind": kind, "label": label})

    def add_edge(self, a, b, kind, weight, evidence):
        """Add an edge, or replace the one of this kind between these nodes."""
        a, b = sorted((a, b))
        position = self.edge_at.setdefault((a, b, kind), len(self.edges))
        if position == len(self.edges):
            self.edges.append((a, b, kind, weight, evidence))
        else:
            self.edges[position] = (a, b, kind, weight, evidence)

    def number_of_nodes(self):
        return len(self.nodes)

    def number_of_edges(self):
        return len(self.edges)


def memberships(db, sql, works=None):
    """Distinct (work id, member id) pairs from SQL returning integer pairs (-1 for no
    member), as two numpy arrays sorted by work then member; only the given works, when given."""
    rows = np.array(db.execute(sql).fetchall(), dtype=np.int64).reshape(-1, 2)
    rows = rows[rows[:, 1] >= 0]
    if works is not None:
        rows = rows[np.isin(rows[:, 0], np.fromiter(works, np.int64, len(works)))]
    # Ids are 63-bit hashes: pairs are keyed by their dense ranks, which cannot overflow.
    work_ids, work_rank = np.unique(rows[:, 0], return_inverse=True)
    member_ids, member_rank = np.unique(rows[:, 1], return_inverse=True)
    keys = np.unique(work_rank * len(member_ids) + member_rank)
    return work_ids[keys // len(member_ids)], member_ids[keys % len(member_ids)]


class Pairs:
    """Every pair of members that share a work, with its weight and its works.

    Pairs are enumerated per group size with numpy (a work with k members gives the
    k(k-1)/2 upper-triangle pairs of its row), sorted, and summed per pair: one pass over
    the memberships, never a bipartite projection. Full counting adds 1 per joint work,
    fractional 1/(k-1) per pair of a k-member work."""

    def __init__(self, work, member, counting="full"):
        starts = np.flatnonzero(np.r_[True, work[1:] != work[:-1]])
        sizes = np.diff(np.r_[starts, len(work)])
        firsts, seconds, works, shares = [], [], [], []
        for size in np.unique(sizes[(sizes >= 2) & (sizes <= MAX_AUTHORS)]).tolist():
            rows = starts[sizes == size][:, None] + np.arange(size)
            upper, lower = np.triu_indices(size, 1)
            firsts.append(member[rows[:, upper]].ravel())
            seconds.append(member[rows[:, lower]].ravel())
            works.append(np.repeat(work[rows[:, 0]], len(upper)))
            shares.append(np.full(len(rows) * len(upper), 1.0 / (size - 1) if counting == "fractional" else 1.0))
        if not firsts:
            firsts = seconds = works = [np.empty(0, np.int64)]
            shares = [np.empty(0)]
        first, second, work, share = (np.concatenate(parts) for parts in (firsts, seconds, works, shares))
        order = np.lexsort((work, second, first))
        first, second = first[order], second[order]
        new_pair = np.r_[True, (first[1:] != first[:-1]) | (second[1:] != second[:-1])]
        self.starts = np.flatnonzero(new_pair) if len(first) else np.empty(0, np.int64)
        self.counts = np.diff(np.r_[self.starts, len(first)])
        self.a, self.b = first[self.starts], second[self.starts]
        self.weight = np.round(np.add.reduceat(share[order], self.starts), 6) if len(first) else np.empty(0)
        self.works = work[order]  # each pair's works, from its start, in order

    def evidence(self):
        """'works 3, 8, 12, 20, 31 and 4 more' for each pair: the first EVIDENCE_WORKS works, counted after."""
        shown = np.minimum(self.counts, EVIDENCE_WORKS)
        rank = np.arange(len(self.works)) - np.repeat(self.starts, self.counts)
        names = self.works[rank < EVIDENCE_WORKS].astype(str).tolist()
        at = np.r_[0, np.cumsum(shown)[:-1]].tolist()
        return ["works " + ", ".join(names[i:i + k]) + (f" and {c - k} more" if c > k else "")
                for i, k, c in zip(at, shown.tolist(), self.counts.tolist())]


def network_of(work, member, counting, kind, edge_kind, label, key=str):
    """A network of `kind` nodes weighted by the works they share; `key` names a member's node."""
    pairs = Pairs(work, member, counting)
    network = Network()
    firsts, seconds = pairs.a.tolist(), pairs.b.tolist()
    node = {m: f"{kind}:{key(m)}" for m in set(firsts) | set(seconds)}
    for m, name in node.items():
        network.add_node(name, kind, label(m))
    # Pairs are unique by construction, so the edges go in without add_edge's bookkeeping.
    network.edges = list(zip(map(node.get, firsts), map(node.get, seconds), repeat(edge_kind),
                             pairs.weight.tolist(), pairs.evidence()))
    return network


def coauthorship(db, works, counting="full"):
    names = dict(db.execute("SELECT id, name FROM authors"))
    return network_of(*memberships(db, "SELECT work_id, coalesce(author_id, -1) FROM work_authors", works), counting,
                      "author", "coauthorship", names.get)


def institutions(db, works, counting="full"):
    names = dict(db.execute("SELECT id, name FROM institutions"))
    return network_of(*memberships(db, "SELECT waa.work_id, coalesce(af.institution_id, -1) FROM work_author_affiliations "
                                   "waa JOIN affiliations af ON af.id = waa.affiliation_id", works),
                      counting, "institution", "collaboration", names.get)


def countries(db, works, counting="full"):
    """Countries whose affiliations appear on the same work (each country once per work)."""
    codes = [row[0] for row in db.execute("SELECT DISTINCT country FROM affiliations WHERE country IS NOT NULL "
                                          "ORDER BY country")]
    number = {code: i for i, code in enumerate(codes)}
    db.conn.create_function("country_number", 1, lambda code: number.get(code, -1), deterministic=True)
    work, member = memberships(db, "SELECT waa.work_id, country_number(af.country) FROM work_author_affiliations waa "
                               "JOIN affiliations af ON af.id = waa.affiliation_id", works)
    return network_of(work, member, counting, "country", "collaboration",
                      lambda i: pycountry.countries.get(alpha_2=codes[i]).name, key=codes.__getitem__)


def studies(db, works):
    """Works and trials; each kind of relation is its own edge kind (a MultiGraph keeps them apart)."""
    graph = Network()
    marks = ", ".join("?" for _ in LINK_KINDS)
    for relation, fw, tw, ft, tt, evidence, score in db.execute(
            f"SELECT relation, from_work_id, to_work_id, from_trial_id, to_trial_id, evidence, score FROM links "
            f"WHERE relation IN ({marks})", LINK_KINDS):
        ends = [f"work:{w}" for w in (fw, tw) if w is not None] + [f"trial:{t}" for t in (ft, tt) if t is not None]
        if len(ends) != 2 or ends[0] == ends[1]:
            continue
        if any(e.startswith("work:") and int(e[5:]) not in works for e in ends):
            continue
        graph.add_edge(*ends, relation, score or 1.0, evidence or "")
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
    add_text_similarity(db, graph, works)
    labels = {"work": dict(db.execute("SELECT id, title FROM works")),
              "trial": dict(db.execute("SELECT id, coalesce(acronym || ': ', '') || brief_title FROM trials"))}
    for a, b, *_ in graph.edges:
        for node in (a, b):
            kind, key = node.split(":")
            graph.add_node(node, kind, labels[kind].get(int(key)))
    return graph


def add_co_occurrence(graph, groups, kind, phrase):
    """An edge between every two works sharing a member of a group, weighted by how many they share."""
    weights = Counter()
    for members in groups.values():
        if 2 <= len(members) <= MAX_AUTHORS:
            for a, b in combinations(sorted(members), 2):
                weights[(a, b)] += 1
    for (a, b), weight in weights.items():
        graph.add_edge(f"work:{a}", f"work:{b}", kind, float(weight), f"{weight} {phrase}")


def add_text_similarity(db, graph, works, threshold=TEXT_SIMILARITY):
    """Edges between works whose title + abstract + MeSH are similar (TF-IDF cosine).

    Only pairs that share at least two informative terms are compared (an inverted index
    over terms no more common than 1 in 20 works), never all pairs."""
    terms = {}
    for work_id, title, abstract, mesh in db.execute(
            "SELECT w.id, w.title, w.abstract, (SELECT group_concat(m.name, ' ') FROM work_mesh wm "
            "JOIN mesh_terms m ON m.id = wm.mesh_id WHERE wm.work_id = w.id) FROM works w"):
        if work_id in works:
            words = [w for w in re.findall(r"[a-z][a-z0-9-]{2,}", " ".join(filter(None, (title, abstract, mesh))).lower())
                     if w not in STOP]
            terms[work_id] = Counter(words)
    frequency = Counter(term for counts in terms.values() for term in counts)
    total = len(terms)
    idf = {term: math.log(total / count) for term, count in frequency.items()}
    vectors = {}
    for work_id, counts in terms.items():
        vector = {term: count * idf[term] for term, count in counts.items() if idf[term] > 0}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors[work_id] = {term: v / norm for term, v in vector.items()}
    index = defaultdict(set)
    common = max(2, total // 20)
    for work_id, vector in vectors.items():
        for term in vector:
            if frequency[term] <= common:
                index[term].add(work_id)
    shared = Counter()
    for members in index.values():
        for a, b in combinations(sorted(members), 2):
            shared[(a, b)] += 1
    for (a, b), count in shared.items():
        if count < 2:
            continue
        cosine = sum(value * vectors[b].get(term, 0.0) for term, value in vectors[a].items())
        if cosine >= threshold:
            graph.add_edge(f"work:{a}", f"work:{b}", "text_similarity", round(cosine, 4), f"TF-IDF cosine {cosine:.2f}")


def trial_network(db, works, counting="full"):
    """Trials with the people (officials, investigators) and organisations (sponsors,
    collaborators, sites, officials' affiliations) behind them; edges typed by role."""
    from .text import fold

    graph = Network()
    labels = dict(db.execute("SELECT id, coalesce(acronym || ': ', '') || brief_title FROM trials"))

    def attach(trial_id, kind, name, role):
        if name:
            node = f"{kind}:{fold(name)}"
            graph.add_node(node, kind, name)
            graph.add_node(f"trial:{trial_id}", "trial", labels.get(trial_id))
            graph.add_edge(f"trial:{trial_id}", node, role, 1.0, role)

    for trial_id, sponsor, collaborators in db.execute("SELECT id, lead_sponsor, collaborators FROM trials"):
        attach(trial_id, "organisation", sponsor, "sponsor")
        for name in json.loads(collaborators or "[]"):
            attach(trial_id, "organisation", name, "collaborator")
    for trial_id, facility in db.execute("SELECT trial_id, facility FROM trial_sites WHERE facility IS NOT NULL"):
        attach(trial_id, "organisation", facility, "site")
    for trial_id, name, role, affiliation in db.execute(
            "SELECT p.trial_id, p.name, p.role, coalesce(i.name, a.name) FROM trial_people p "
            "LEFT JOIN affiliations a ON a.id = p.affiliation_id LEFT JOIN institutions i ON i.id = a.institution_id"):
        attach(trial_id, "person", name, (role or "official").lower())
        attach(trial_id, "organisation", affiliation, "official's affiliation")
    return graph


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


def metrics(network):
    """Per-node degree, weighted degree, PageRank, betweenness, component and community.

    Computed by igraph's C core (Louvain is its multilevel method) on the network with
    each pair's edges of all kinds summed into one weight; this is what keeps a
    100,000-work KB's networks within seconds. A fixed seed makes communities and sampled
    betweenness repeatable."""
    nodes = list(network.nodes)
    if not nodes:
        return {}
    index = {node: number for number, node in enumerate(nodes)}
    net = igraph.Graph(n=len(nodes), edges=[(index[a], index[b]) for a, b, *_ in network.edges],
                       edge_attrs={"weight": [edge[3] for edge in network.edges]})
    net.simplify(multiple=True, loops=True, combine_edges={"weight": "sum"})
    igraph.set_random_number_generator(random.Random(SEED))
    pagerank = net.pagerank(weights="weight")
    n = len(nodes)
    if n <= EXACT_BETWEENNESS:
        raw, scale = net.betweenness(), 1.0
    else:
        sources = random.Random(SEED).sample(range(n), SAMPLED_SOURCES)
        raw, scale = net.betweenness(sources=sources), n / SAMPLED_SOURCES
    normaliser = 2.0 / ((n - 1) * (n - 2)) if n > 2 else 1.0
    components = numbered(net.connected_components())
    communities = numbered(net.community_multilevel(weights="weight"))
    strength = net.strength(weights="weight")
    return {node: {"degree": net.degree(i), "weighted_degree": round(strength[i], 4), "pagerank": pagerank[i],
                   "betweenness": raw[i] * scale * normaliser, "component": components[i],
                   "community": communities[i]} for node, i in index.items()}


def numbered(clusters):
    """{vertex: 1-based cluster number}, the largest cluster first (ties by lowest vertex)."""
    ordered = sorted((sorted(members) for members in clusters), key=lambda m: (-len(m), m[0]))
    return {vertex: number for number, members in enumerate(ordered, 1) for vertex in members}


def community_labels(db, graph, measures, top=3):
    """Each community's most distinctive terms (TF-IDF against the whole KB) over the works
    behind it. A work's terms are its MeSH descriptors and keywords, and the KB's own MeSH and
    keyword vocabulary found in its title, so works without indexing still count; check tags,
    acronyms and stop words are never terms (the acronym of one trial is not a topic)."""
    members = {"author": "SELECT author_id, work_id FROM work_authors",
               "institution": "SELECT af.institution_id, waa.work_id FROM work_author_affiliations waa "
                              "JOIN affiliations af ON af.id = waa.affiliation_id"}
    works_of = defaultdict(set)
    for node in graph.nodes:
        if node.startswith("work:"):
            works_of[measures[node]["community"]].add(int(node[5:]))
    for kind in {data["kind"] for data in graph.nodes.values()} & members.keys():
        for key, work_id in db.execute(members[kind]):
            node = f"{kind}:{key}"
            if node in measures:
                works_of[measures[node]["community"]].add(work_id)
    terms_of = defaultdict(set)
    mesh = "SELECT wm.work_id, m.name FROM work_mesh wm JOIN mesh_terms m ON m.id = wm.mesh_id"
    for work_id, name in db.execute(mesh):
        if name not in CHECK_TAGS:
            terms_of[work_id].add(name.lower())
    for work_id, keywords in db.execute("SELECT id, keywords FROM works WHERE keywords IS NOT NULL"):
        terms_of[work_id].update(term for term in map(str.strip, json.loads(keywords) if keywords.startswith("[")
                                                      else keywords.split(";")) if is_topic_term(term))
        terms_of[work_id] = {term.lower() for term in terms_of[work_id]}
    vocabulary = set(chain.from_iterable(terms_of.values()))
    found_in = re.compile(r"\b(" + "|".join(sorted(map(re.escape, vocabulary), key=len, reverse=True)) + r")\b") \
        if vocabulary else None
    for work_id, title in db.execute("SELECT id, title FROM works"):
        if found_in:
            terms_of[work_id].update(found_in.findall((title or "").lower()))
    overall = Counter(chain.from_iterable(terms_of.values()))
    total = max(1, len(terms_of))
    labels = {}
    for community, work_ids in works_of.items():
        counts = Counter(chain.from_iterable(terms_of.get(work_id, ()) for work_id in work_ids))
        # A term on more than half the KB's works ("stroke" here) tells one community from no other.
        scored = sorted((t for t in counts if overall[t] <= total / 2),
                        key=lambda t: (-counts[t] * math.log(total / overall[t]), t))
        labels[community] = "; ".join(scored[:top]) or None
    return labels


def is_topic_term(term):
    """A keyword that names a topic: not a stop word, not an acronym (MSCs, TREASURE), not a check tag."""
    return (len(term) > 2 and term.lower() not in STOP and term not in CHECK_TAGS
            and not re.fullmatch(r"[A-Z0-9-]+s?", term))


BUILDERS = {"coauthorship": coauthorship, "institutions": institutions, "countries": countries, "studies": studies,
            "trials": trial_network}


def build(db, network, counting="full", query=None, years=None, on_topic=False):
    """Build one network, compute its metrics and write it to graph_nodes / graph_edges."""
    works = selected_works(db, query, years, on_topic)
    builder = BUILDERS[network]
    graph = builder(db, works) if network == "studies" else builder(db, works, counting)
    measures = metrics(graph)
    labels = community_labels(db, graph, measures)
    years_of = node_years(db, graph)
    nodes = [{"network": network, "node": node, "kind": data["kind"], "label": data["label"],
              **measures[node], "community_label": labels.get(measures[node]["community"]),
              "first_year": years_of.get(node, (None, None))[0], "last_year": years_of.get(node, (None, None))[1]}
             for node, data in graph.nodes.items()]
    edges = [(network, *edge) for edge in graph.edges]
    with db.atomic(), indexes_rebuilt(db, "graph_edges"):
        db.execute("DELETE FROM graph_nodes WHERE network = ?", [network])
        db.execute("DELETE FROM graph_edges WHERE network = ?", [network])
        insert_rows(db, "graph_nodes", nodes)
        db.conn.executemany("INSERT INTO graph_edges (network, source, target, kind, weight, evidence) "
                            "VALUES (?, ?, ?, ?, ?, ?)", edges)
        db["graph_runs"].insert({"network": network, "counting": counting if network in PAIRS else None,
                                 "query": query, "years": json.dumps(years) if years else None,
                                 "on_topic": int(on_topic),
                                 "nodes": len(nodes), "edges": len(edges)}, replace=True)
    return graph


def node_years(db, graph):
    """(first, last) publication year of the works behind each author or institution node."""
    years = {}
    queries = {"author": "SELECT wa.author_id, min(w.year), max(w.year) FROM work_authors wa "
                         "JOIN works w ON w.id = wa.work_id GROUP BY wa.author_id",
               "institution": "SELECT af.institution_id, min(w.year), max(w.year) FROM work_author_affiliations waa "
                              "JOIN affiliations af ON af.id = waa.affiliation_id "
                              "JOIN works w ON w.id = waa.work_id GROUP BY af.institution_id",
               "work": "SELECT id, year, year FROM works"}
    kinds = {data["kind"] for data in graph.nodes.values()}
    for kind in kinds & queries.keys():
        for key, first, last in db.execute(queries[kind]):
            years[f"{kind}:{key}"] = (first, last)
    return years


def load(db, network):
    """A built network back from graph_nodes / graph_edges, with every node attribute."""
    graph = nx.MultiGraph() if network in ("studies", "trials") else nx.Graph()
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
