"""Serving benchmark: full-text search through a real `kb serve` -- our `/-/search.json` and
Datasette's `_search` JSON -- against the same FTS5 query run directly through sqlite3 on
the same file, in one run.

    python benchmarks/serve.py [WORKS] [--requests N] [--db PATH]
                                  (default 1000000 works, 400 requests, a temporary KB)

`--db PATH` keeps the KB at PATH and reuses it on the next run (it is built when missing).
Each server's output goes to PATH.serve.log (beside the KB); when a request fails, its last
lines (the server's traceback) are printed before the error.
`--cold` drops the KB from the operating system's file cache first and prints instead how
long `kb serve --immutable` took to answer and what its first searches took, with the
megabytes the server read from disk for each (a first search of a KB not in the cache).

The KB's works and their FTS rows are written straight into SQLite (the loader is not what
is measured here): titles and abstracts drawn from a Zipf vocabulary, the topic's words
sprinkled in, so a topic search matches a small share of the KB as it does in PubMed.

Prints p50 and p99 of `kb.search.find` called directly on a sqlite3 connection (what
`/-/search.json` computes: the ranked page, the total, the facets, without a server), then
of both endpoints at 1 and 8 concurrent clients against `kb serve --immutable` and `kb
serve --immutable --workers 2`; beside each, the p50 of the raw FTS5 query (Datasette's
`_search` SQL through sqlite3, memory-mapped as the server maps a KB it read ahead) timed just before
it, and the ratio (targets: p50 at most 2x the raw query, under 30 ms at 8 clients with
--workers 2, p99 under 150 ms). The clients run on the same machine, so each server line
also says the CPU a request cost the server's processes and the clients (Python's urllib, in
this process): at 8 clients the two share the cores.
"""

import argparse
import contextlib
import itertools
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kb.datasette_app import MMAP_BYTES  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.search import find, fts_query  # noqa: E402
from load import percentiles, start_server  # noqa: E402

# The topic's words, each in a few percent of works at most, among a Zipf-distributed
# vocabulary of 20,000 other words: real abstracts, where a search matches a small share.
TOPIC = ("stroke ischemic cerebral mesenchymal exosome vesicle placenta umbilical adipose intraparenchymal "
         "intrathecal intranasal craniectomy angiogenesis neurogenesis microglia astrocyte hemorrhage "
         "secretome microrna stem cells trial rat").split()
VOCABULARY = [f"w{i}" for i in range(20_000)]
CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
# (server processes, concurrent clients)
RUNS = [(1, 1), (1, 8), (2, 1), (2, 8)]
# name -> URL after the server's root, the query appended; `_shape=array` asks Datasette for
# rows only (no count, no facets); our search answers its page of 20 with the total and facets.
ENDPOINTS = {"/-/search.json": "/-/search.json?q=", "_search JSON": "/{db}/works.json?_shape=array&_search="}
# The first requests of a server started on a KB not in the file cache.
COLD_URLS = ["/{db}/works.json?_search=stroke", "/-/search.json?q=stroke", "/{db}/works.json?_search=intrathecal",
             "/-/search.json?q=neurogenesis"]
# Lines of the server's output printed when a request fails: Datasette's plain traceback of it.
LOG_LINES = 40
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


def cpu_ms(processes):
    """CPU milliseconds the processes have used, user and system."""
    return sum(sum(process.cpu_times()[:2]) for process in processes) * 1000


def log_of(path):
    return path.with_name(path.name + ".serve.log")


@contextlib.contextmanager
def told_why(path):
    """On an error (a request answered 500, say), print the last lines of the server's output first:
    urllib says only "HTTP Error 500", the server's traceback says why."""
    try:
        yield
    except Exception:
        lines = log_of(path).read_text(errors="replace").splitlines() if log_of(path).exists() else []
        print(f"Serving failed; the last lines of the server's output ({log_of(path)}):", *lines[-LOG_LINES:],
              sep="\n", file=sys.stderr)
        raise


def measure(path, requests):
    """{name: (milliseconds of the raw query, milliseconds of name, CPU ms a request of the server and
    of the clients or None)}: `find` on sqlite3, then each endpoint for each (server processes,
    clients) run, the raw query timed just before each (the machine is shared, so a ratio compares
    two samples of the same minutes)."""
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # as the server reads a KB that fits in memory
    sql = ("SELECT works.* FROM works WHERE works.id IN (SELECT rowid FROM works_fts WHERE works_fts MATCH ?) "
           "ORDER BY works.id LIMIT 51")

    def direct(query):
        raw.execute(sql, [fts_query(query)]).fetchall()

    def raw_ms():
        return [timed(direct, QUERIES[i % len(QUERIES)]) for i in range(requests)]

    results = {"kb.search.find (sqlite3)": (raw_ms(), [timed(find, raw, QUERIES[i % len(QUERIES)])
                                                     for i in range(requests)], None)}
    for workers in sorted({workers for workers, _ in RUNS}):
        with told_why(path):
            server, root = start_server(path, "--immutable", "--workers", str(workers), log=log_of(path))
            servers = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]

            def fetch(url):
                with urllib.request.urlopen(url, timeout=60) as response:
                    assert response.status == 200
                    response.read()

            try:
                for endpoint, url in ENDPOINTS.items():
                    base = root + url.format(db=path.stem)
                    urls = [base + urllib.parse.quote(query) for query in QUERIES]
                    for query_url in urls * workers:  # warm every process's page cache, as a running server's is
                        fetch(query_url)
                    for clients in [clients for workers_, clients in RUNS if workers_ == workers]:
                        before = raw_ms()
                        used = cpu_ms(servers), cpu_ms([psutil.Process()])
                        with ThreadPoolExecutor(clients) as pool:
                            samples = list(pool.map(lambda url: timed(fetch, url),
                                                    [urls[i % len(urls)] for i in range(requests)]))
                        cpu = [(now - then) / requests for now, then in zip((cpu_ms(servers), cpu_ms([psutil.Process()])), used)]
                        results[f"{endpoint}, {workers} process(es), {clients} client(s)"] = (before, samples, cpu)
            finally:
                stopped(server)
    return results


def stopped(server):
    server.terminate()
    try:  # a busy machine can take a while to stop a server holding a 2 GB map
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def cold(path):
    """Print how long `kb serve --immutable` took to answer with the KB dropped from the file
    cache, then each of COLD_URLS's time and the megabytes the server read from disk for it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    with told_why(path):
        started = time.perf_counter()
        server, root = start_server(path, "--immutable", log=log_of(path))
        process = psutil.Process(server.pid)

        def read_mb():
            return process.io_counters().read_bytes / 1e6

        print(f"kb serve --immutable answered {time.perf_counter() - started:.1f} s after it started, "
              f"having read {read_mb():.0f} MB")
        try:
            for url in COLD_URLS:
                before, started = read_mb(), time.perf_counter()
                with urllib.request.urlopen(root + url.format(db=path.stem), timeout=900) as response:
                    response.read()
                print(f"  first {url.format(db=path.stem):<45} {time.perf_counter() - started:6.2f} s, "
                      f"{read_mb() - before:5.0f} MB read")
        finally:
            stopped(server)


def main(n, requests, keep, first_searches=False):
    with tempfile.TemporaryDirectory() as tmp:
        path = keep or Path(tmp) / "serve.db"
        if not path.exists():
            started = time.perf_counter()
            build(path, n, random.Random(3))
            print(f"{n:,} works written in {time.perf_counter() - started:.0f} s")
        works = sqlite3.connect(path).execute("SELECT count(*) FROM works").fetchone()[0]
        print(f"KB of {works:,} works, {path.stat().st_size / 1e9:.2f} GB")
        if first_searches:
            return cold(path)
        results = measure(path, requests)
    print(f"{'':<42} {'p50':>9} {'p99':>9}   raw FTS5 p50 just before   CPU a request: server, clients")
    for name, (raw_samples, samples, cpu) in results.items():
        (p50, p99), raw_p50 = percentiles(samples), percentiles(raw_samples)[0]
        used = f"   {cpu[0]:5.1f} ms, {cpu[1]:4.1f} ms" if cpu else ""
        print(f"{name:<42} {p50:6.1f} ms {p99:6.1f} ms   {raw_p50:5.1f} ms: {p50 / raw_p50:5.1f}x{used}")
    print("targets: p50 at most 2x the raw p50, under 30 ms at 8 clients with 2 processes; p99 under 150 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("works", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--db", type=Path, help="keep the KB here and reuse it")
    parser.add_argument("--cold", action="store_true", help="time a server's first searches of a KB not in the file cache")
    arguments = parser.parse_args()
    main(arguments.works, arguments.requests, arguments.db, arguments.cold)
