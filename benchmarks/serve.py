"""Serving benchmark: `_search` latency through the JSON API of a real `kb serve`, against
the same FTS5 query run directly through sqlite3 on the same file.

    python benchmarks/serve.py [WORKS] [--requests N]      (default 1000000 works, 400 requests)

The KB's works and their FTS rows are written straight into SQLite (the loader is not what
is measured here): titles and abstracts drawn from a Zipf vocabulary, the topic's words
sprinkled in, so a topic search matches a small share of the KB as it does in PubMed.
Prints p50 and p99 at 1 and 8 concurrent clients and the ratio to the raw query (targets:
p50 under 30 ms, p99 under 150 ms, at most 2x the raw query).
"""

import itertools
import random
import socket
import sqlite3
import statistics
import subprocess
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

# The topic's words, each in a few percent of works at most, among a Zipf-distributed
# vocabulary of 20,000 other words: real abstracts, where a search matches a small share.
TOPIC = ("stroke ischemic cerebral mesenchymal exosome vesicle placenta umbilical adipose intraparenchymal "
         "intrathecal intranasal craniectomy angiogenesis neurogenesis microglia astrocyte hemorrhage "
         "secretome microrna stem cells trial rat").split()
VOCABULARY = [f"w{i}" for i in range(20_000)]
CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, *args):
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def percentiles(samples):
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main(n, requests):
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "serve.db"
        started = time.perf_counter()
        build(path, n, rng)
        print(f"{n:,} works written in {time.perf_counter() - started:.0f} s ({path.stat().st_size / 1e9:.2f} GB)")
        raw = sqlite3.connect(path)
        sql = ("SELECT works.* FROM works WHERE works.id IN (SELECT rowid FROM works_fts WHERE works_fts MATCH ?) "
               "ORDER BY works.id LIMIT 51")

        def direct(query):
            raw.execute(sql, [fts_query(query)]).fetchall()

        direct_ms = [timed(direct, QUERIES[i % len(QUERIES)]) for i in range(requests)]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--db", str(path), "--port", str(port),
                                   "--immutable"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/serve/works.json?_shape=array&_search="
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)

            def fetch(query):
                with urllib.request.urlopen(base + urllib.parse.quote(query), timeout=30) as response:
                    assert response.status == 200
                    response.read()

            for query in QUERIES:  # warm the page cache as a running server's would be
                fetch(query)
            results = {}
            for clients in (1, 8):
                with ThreadPoolExecutor(clients) as pool:
                    results[clients] = list(pool.map(lambda i: timed(fetch, QUERIES[i % len(QUERIES)]),
                                                     range(requests)))
        finally:
            server.terminate()
            server.wait(timeout=10)
    raw_p50, raw_p99 = percentiles(direct_ms)
    print(f"raw FTS5 query through sqlite3:   p50 {raw_p50:6.1f} ms   p99 {raw_p99:6.1f} ms")
    for clients, samples in results.items():
        p50, p99 = percentiles(samples)
        print(f"JSON API, {clients} client(s):          p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
              f"({p50 / raw_p50:.1f}x the raw p50; targets p50 < 30 ms, p99 < 150 ms, <= 2x)")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(sys.argv[sys.argv.index("--requests") + 1]) if "--requests" in sys.argv else 400
    arguments = [a for a in arguments if a != str(count)] if "--requests" in sys.argv else arguments
    main(int(arguments[0]) if arguments else 1_000_000, count)
