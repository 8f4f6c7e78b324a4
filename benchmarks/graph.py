"""Graph benchmark: co-authorship and institution networks of a synthetic KB of WORKS works
(about 5 authorships each, written mostly inside research groups), with metrics, against the networkx bipartite-projection baseline.

    python benchmarks/graph.py [WORKS]        (default 100000)

Prints the time to build both networks with their metrics, peak RSS, and the ratio of the
one-pass co-authorship build to `bipartite.weighted_projected_graph` on the same data.
"""

import multiprocessing
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
from networkx.algorithms import bipartite

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harvest.records import new_author, new_work  # noqa: E402
from kb import graph  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.ingest import refresh  # noqa: E402
from kb.load import WorkLoader  # noqa: E402


def letters(number):
    """A surname per person ('Bcd'): names with digits would fold to one name."""
    word = ""
    while True:
        number, digit = divmod(number, 26)
        word += "abcdefghijklmnopqrstuvwxyz"[digit]
        if not number:
            return "Q" + word


def synthetic_kb(db, n, rng):
    """n works written mostly inside research groups, as co-authorship is: each work takes
    2 to 8 authors from one group of 15 (groups differ in output by a long tail), and one
    work in three adds a collaborator from another group. Groups belong to institutions.
    (Authors drawn from one global pool would give a structureless random graph, which is
    neither what the KB holds nor what Louvain is for, and is its slowest case.)"""
    groups, group_size = max(1, n // 25), 15
    loader = WorkLoader(db, "pubmed")
    batch = []
    for i in range(n):
        group = min(groups - 1, int(rng.paretovariate(1.2)) - 1 + rng.randrange(groups) // 2 * 2)
        chosen = {group * group_size + member for member in rng.sample(range(group_size), rng.randint(2, 8))}
        if rng.random() < 1 / 3:
            chosen.add(rng.randrange(groups * group_size))
        authors = [new_author(position, last_name=letters(a), fore_name="A", initials="A",
                              affiliations=[{"name": f"Institute {a // group_size % 2000}", "identifiers": {}}])
                   for position, a in enumerate(sorted(chosen), 1)]
        record = new_work(pmid=str(70_000_000 + i), title=f"Synthetic work {i}", year=2000 + i % 25, authors=authors)
        record["raw"] = b"<PubmedArticle/>"
        batch.append(record)
        if len(batch) == 5000:
            loader.write_batch(batch, "synthetic")
            batch = []
    if batch:
        loader.write_batch(batch, "synthetic")


def prepare(path, n, rng):
    db = open_db(path)
    synthetic_kb(db, n, rng)
    started = time.perf_counter()
    refresh(db)  # people and institutions, which the networks are made of
    print(f"(authors and institutions resolved in {time.perf_counter() - started:.1f} s)")


def main(n):
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "graph.db")
        # The KB, its people and institutions are made in a child process, so the peak
        # RSS printed below is the graph step's own.
        child = multiprocessing.get_context("fork").Process(target=prepare, args=(path, n, rng))
        child.start()
        child.join()
        db = open_db(path)
        authorships = db["work_authors"].count
        started = time.perf_counter()
        works = graph.selected_works(db)
        pairs = graph.Pairs(*graph.memberships(db, "SELECT work_id, author_id FROM work_authors", works))
        one_pass = time.perf_counter() - started
        started = time.perf_counter()
        coauthors = graph.coauthorship(db, works)
        labelled = time.perf_counter() - started
        started = time.perf_counter()
        bipartite_graph = nx.Graph()
        for work_id, author_id in db.execute("SELECT work_id, author_id FROM work_authors"):
            bipartite_graph.add_edge(f"w{work_id}", f"a{author_id}")
        authors = [node for node in bipartite_graph if node.startswith("a")]
        projected = bipartite.weighted_projected_graph(bipartite_graph, authors)
        baseline = time.perf_counter() - started
        assert projected.size(weight="weight") == pairs.weight.sum(), "one pass and projection disagree"
        started = time.perf_counter()
        for network in ("coauthorship", "institutions"):
            graph.build(db, network)
        with_metrics = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"works: {n:,}; authorships: {authorships:,}; co-authorship edges: {coauthors.number_of_edges():,} "
          f"(one pass: {len(pairs.weight):,}; projection: {projected.number_of_edges():,})")
    print(f"co-authorship edge weights, one pass: {one_pass:.1f} s")
    print(f"  the same with labels and evidence:  {labelled:.1f} s")
    print(f"bipartite projection baseline:        {baseline:.1f} s  ({baseline / one_pass:.1f}x slower; target >= 5x)")
    print(f"both networks with metrics, stored:   {with_metrics:.1f} s  (target < 30 s)")
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
