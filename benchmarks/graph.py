"""Graph benchmark: co-authorship and institution networks of a synthetic KB of WORKS works
(about 5 authorships each), with metrics, against the networkx bipartite-projection baseline.

    python benchmarks/graph.py [WORKS]        (default 100000)

Prints the time to build both networks with their metrics, peak RSS, and the ratio of the
one-pass co-authorship build to `bipartite.weighted_projected_graph` on the same data.
"""

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
from kb.load import WorkLoader  # noqa: E402


def synthetic_kb(db, n, rng):
    """n works; authors drawn from a pool with a long tail, so some collaborate often."""
    people = n // 2
    loader = WorkLoader(db, "pubmed")
    batch = []
    for i in range(n):
        # Productivity follows a long tail: a few authors on hundreds of works, most on one or two.
        chosen = {min(people - 1, int(rng.paretovariate(1.5) * 40) + rng.randrange(people // 10) * 10)
                  for _ in range(rng.randint(2, 6))}
        authors = [new_author(position, last_name=f"Author{a}", fore_name="A", initials="A",
                              affiliations=[{"name": f"Institute {a % 5000}", "identifiers": {}}])
                   for position, a in enumerate(sorted(chosen), 1)]
        record = new_work(pmid=str(70_000_000 + i), title=f"Synthetic work {i}", year=2000 + i % 25, authors=authors)
        record["raw"] = b"<PubmedArticle/>"
        batch.append(record)
        if len(batch) == 5000:
            loader.write_batch(batch, "synthetic")
            batch = []
    if batch:
        loader.write_batch(batch, "synthetic")


def main(n):
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(str(Path(tmp) / "graph.db"))
        synthetic_kb(db, n, rng)
        authorships = db["work_authors"].count
        started = time.perf_counter()
        works = graph.selected_works(db)
        coauthors = graph.coauthorship(db, works)
        one_pass = time.perf_counter() - started
        started = time.perf_counter()
        bipartite_graph = nx.Graph()
        for work_id, author_id in db.execute("SELECT work_id, author_id FROM work_authors"):
            bipartite_graph.add_edge(f"w{work_id}", f"a{author_id}")
        authors = [node for node in bipartite_graph if node.startswith("a")]
        projected = bipartite.weighted_projected_graph(bipartite_graph, authors)
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        for network in ("coauthorship", "institutions"):
            graph.build(db, network)
        with_metrics = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"works: {n:,}; authorships: {authorships:,}; co-authorship edges: {coauthors.number_of_edges():,} "
          f"(projection: {projected.number_of_edges():,})")
    print(f"co-authorship edges, one pass:      {one_pass:.1f} s")
    print(f"bipartite projection baseline:      {baseline:.1f} s  ({baseline / one_pass:.1f}x slower; target >= 5x)")
    print(f"both networks with metrics, stored: {with_metrics:.1f} s  (target < 30 s)")
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
