"""Serving benchmark: `_search` latency through the JSON API of a real `kb serve`, against
the same FTS5 query run directly through sqlite3 on the same file.

    python benchmarks/serve.py [WORKS] [--requests N] [--db PATH]
                                  (default 1000000 works, 400 requests, a temporary KB)

`--db PATH` keeps the KB at PATH and reuses it on the next run (it is built when missing).

The KB's works and their FTS rows are written straight into SQLite (the loader is not what
is measured here): titles and abstracts drawn from a Zipf vocabulary, the topic's words
sprinkled in, so a topic search matches a small share of the KB as it does in PubMed.
Prints p50 and p99 at 1 and 8 concurrent clients against one server process, and at 8
clients against `kb serve --workers 2`, with the ratio to the raw query (targets: p50 under
30 ms, p99 under 150 ms, at most 2x the raw query). The clients run on the same machine.
"""

import argparse
import itertools
import random
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kb.db import open_db  # noqa: E402
from kb.search import fts_query  # noqa: E402
from load import percentiles, start_server  # noqa: E402

# The topic's words, each in a few percent of works at most, among a Zipf-distributed
# vocabulary of 20,000 other words: real abstracts, where a search matches a small share.
TOPIC = ("stroke ischemic cerebral mesenchymal exosome vesicle placenta umbilical adipose intraparenchymal "
         "intrathecal intranasal craniectomy angiogenesis neurogenesis microglia astrocyte hemorrhage "
         "secretome microrna stem cells trial rat").split()
VOCABULARY = [f"w{i}" for i in range(20_000)]
CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
# (server processes, concurrent clients); `_shape=array` asks for rows only (no count, no facets).
RUNS = [(1, 1), (1, 8), (2, 8)]
QUERIES = ["exosome stroke", "mesenchymal stem cells", "placenta exosome", "intrathecal", "neurogenesis rat",
           "ischemic stroke trial", "umbilical cells", "secretome"]


def words(rng, n):
    chosen = rng.choices(VOCABULARY, cum_weights=CUMULATIVE, k=n)
    return " ".join(rng.choice(TOPIC) if rng.random() < 0.01 else word for word in chosen)


def build(path, n, rng):
    """Add `n` synthetic works (and their FTS rows) to the KB at `path`, after its own."""
    db = open_db(str(path))
    first = (db.execute("SELECT max(id) FROM works").fetchone()[0] or 0) + 1
    batch, fts = [], []
    for i in range(first, first + n):
        title, abstract = words(rng, 12), words(rng, 120)
        batch.append((i, title, abstract, 2000 + i % 25, str(60_000_000 + i)))
        fts.append((i, title, abstract))
        if len(batch) == 20_000:
            write(db, batch, fts)
            batch, fts = [], []
    if batch:
        write(db, batch, fts)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()


def write(db, batch, fts):
    with db.conn:
        db.conn.executemany("INSERT INTO works (id, title, abstract, year, pmid) VALUES (?, ?, ?, ?, ?)", batch)
        db.conn.executemany("INSERT INTO works_fts (rowid, title, abstract) VALUES (?, ?, ?)", fts)


def timed(fn, *args):
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def measure(path, requests):
    """Milliseconds of the raw query, then of the JSON API for each (server processes, clients) run."""
    raw = sqlite3.connect(path)
    sql = ("SELECT works.* FROM works WHERE works.id IN (SELECT rowid FROM works_fts WHERE works_fts MATCH ?) "
           "ORDER BY works.id LIMIT 51")

    def direct(query):
        raw.execute(sql, [fts_query(query)]).fetchall()

    direct_ms = [timed(direct, QUERIES[i % len(QUERIES)]) for i in range(requests)]
    results = {}
    for workers in sorted({workers for workers, _ in RUNS}):
        server, root = start_server(path, "--immutable", "--workers", str(workers))
        base = f"{root}/{path.stem}/works.json?_shape=array&_search="

        def fetch(query):
            with urllib.request.urlopen(base + urllib.parse.quote(query), timeout=30) as response:
                assert response.status == 200
                response.read()

        try:
            for query in QUERIES * workers:  # warm every process's page cache, as a running server's is
                fetch(query)
            for clients in [clients for workers_, clients in RUNS if workers_ == workers]:
                with ThreadPoolExecutor(clients) as pool:
                    results[workers, clients] = list(pool.map(lambda i: timed(fetch, QUERIES[i % len(QUERIES)]),
                                                              range(requests)))
        finally:
            server.terminate()
            server.wait(timeout=10)
    return direct_ms, results


def main(n, requests, keep):
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "serve.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, n, random.Random(3))
            print(f"{n:,} works written in {time.perf_counter() - started:.0f} s")
        works = sqlite3.connect(path).execute("SELECT count(*) FROM works").fetchone()[0]
        print(f"KB of {works:,} works, {path.stat().st_size / 1e9:.2f} GB")
        direct_ms, results = measure(path, requests)
    raw_p50, raw_p99 = percentiles(direct_ms)
    print(f"raw FTS5 query through sqlite3:              p50 {raw_p50:6.1f} ms   p99 {raw_p99:6.1f} ms")
    for (workers, clients), samples in results.items():
        p50, p99 = percentiles(samples)
        print(f"JSON API, {workers} process(es), {clients} client(s): p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
              f"({p50 / raw_p50:.1f}x the raw p50)")
    print("targets: p50 < 30 ms, p99 < 150 ms, at most 2x the raw p50")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("works", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--db", type=Path, help="keep the KB here and reuse it")
    arguments = parser.parse_args()
    main(arguments.works, arguments.requests, arguments.db)
