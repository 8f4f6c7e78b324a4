"""Serving under load: mixed search, facet and canned-query traffic against a real `kb serve`
at 8 connections, while a deliberately expensive SQL query runs into the time limit.

    python benchmarks/load.py [SECONDS] [--db PATH] [--works N] [--slow N]

Default: 60 s on the demo KB. --works N adds N synthetic works (Zipf-worded titles and
abstracts, as benchmarks/serve.py writes them) to the demo KB first, so the same traffic
meets a KB of PubMed's order of size; the demo's studies still answer the canned queries.

Prints requests/s, errors, 5xx, p50/p99 per kind of request, what the expensive query got
(it must be cut at the SQL time limit with a clear error), and the latency of the other
requests while it ran. tests/test_serving_load.py runs a short variant of the same code in CI.

--slow N instead sends the expensive query from N clients at once, over and over, while
one client reads a work page: the work page's latency says whether arbitrary SQL starves
the pages (issue 20: with 12 such clients a work page once took 11.4 s).
"""

import contextlib
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# (kind, path) templates; {db} is the database's name.
TRAFFIC = [
    ("search", "/{db}/works.json?_search=exosome+stroke&_shape=array"),
    ("search", "/{db}/search.json?q=mesenchymal+stem+cells&_shape=array"),
    ("search", "/{db}/trials.json?_search=stroke&_shape=array"),
    ("facet", "/{db}/evidence.json?_facet=route&_facet=design&on_topic=1&_shape=objects"),
    ("facet", "/{db}/works.json?_facet=year&_size=0"),
    ("canned", "/{db}/trials_for_work.json?work=35281985&_shape=array"),
    ("canned", "/{db}/work_authors.json?pmid=35281985&_shape=array"),
    ("canned", "/{db}/works_by_author.json?name=Soleimani&_shape=array"),
    ("page", "/-/search-all?q=placenta+exosome"),
]
# A query that would count for minutes: the server must cut it at its time limit.
EXPENSIVE = ("/{db}.json?sql=" + urllib.parse.quote(
    "with recursive n(x) as (select 1 union all select x + 1 from n where x < 10000000000) select count(*) from n"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=30):
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    except OSError:
        status = None  # no answer at all
    return status, (time.perf_counter() - started) * 1000


def start_server(db_path, *options, log=None):
    """A `kb serve` of the KB with the given command-line options; its process and base URL.
    With `log`, a file the server's output goes to (the traceback of a request that failed)."""
    port = free_port()
    with open(log, "w") if log else contextlib.nullcontext(subprocess.DEVNULL) as output:
        process = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--db", str(db_path), "--port", str(port),
                                    *options], stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if get(base + "/-/versions.json", timeout=1)[0] == 200:
            return process, base
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("kb serve did not start")


def run(db_path, seconds, connections=8, seed=1, workers=1):
    """Drive a server of `workers` processes for `seconds`; returns {kind: [(status, ms), ...]},
    the expensive query's (status, ms, body start), and the (status, ms) of the requests
    answered while the expensive query ran."""
    process, base = start_server(db_path, "--workers", str(workers))
    name = Path(db_path).stem
    results = {kind: [] for kind, _ in TRAFFIC}
    answered = []  # (when, (status, ms)) of every request
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(number):
        rng = random.Random(seed * 100 + number)
        while time.perf_counter() < deadline:
            kind, path = rng.choice(TRAFFIC)
            outcome = get(base + path.format(db=name))
            with lock:
                results[kind].append(outcome)
                answered.append((time.perf_counter(), outcome))

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
        for thread in threads:
            thread.start()
        time.sleep(min(1.0, seconds / 4))
        started = time.perf_counter()
        status, body = status_and_body(base + EXPENSIVE.format(db=name))
        ended = time.perf_counter()
        expensive = (status, (ended - started) * 1000, body)
        for thread in threads:
            thread.join()
    finally:
        process.terminate()
        process.wait(timeout=10)
    meanwhile = [outcome for when, outcome in answered if started <= when <= ended]
    return results, expensive, meanwhile


def starve(db_path, seconds, slow):
    """`slow` clients sending the expensive query over and over and one reading a work page,
    for `seconds`: {"slow": [(status, ms), ...], "page": [(status, ms), ...]}."""
    import sqlite3

    work = sqlite3.connect(db_path).execute("SELECT min(id) FROM works").fetchone()[0]
    process, base = start_server(db_path)
    name = Path(db_path).stem
    results = {"slow": [], "page": []}
    deadline = time.perf_counter() + seconds

    def client(kind, url):
        while time.perf_counter() < deadline:
            results[kind].append(get(url))

    try:
        threads = [threading.Thread(target=client, args=("slow", base + EXPENSIVE.format(db=name)))
                   for _ in range(slow)]
        threads.append(threading.Thread(target=client, args=("page", f"{base}/-/work/{work}")))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        process.terminate()
        process.wait(timeout=10)
    return results


def report_starving(results, slow):
    statuses = {}
    for status, _ in results["slow"]:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"{slow} clients sending the expensive query: {len(results['slow'])} answers, by status {statuses}")
    pages = [ms for status, ms in results["page"] if status == 200]
    p50, p99 = percentiles(pages)
    print(f"work page meanwhile: {len(pages)} of {len(results['page'])} answered 200, p50 {p50:.0f} ms, "
          f"p99 {p99:.0f} ms, slowest {max(pages):.0f} ms")


def status_and_body(url):
    """GET a URL: its status and the start of its body, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(300).decode(errors="replace")


def percentiles(milliseconds):
    """(p50, p99) of request times."""
    times = sorted(milliseconds)
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def report(results, expensive, meanwhile, seconds):
    total = sum(len(v) for v in results.values())
    errors = sum(1 for v in results.values() for status, _ in v if status is None)
    server_errors = sum(1 for v in results.values() for status, _ in v if status and status >= 500)
    print(f"{total:,} requests in {seconds:.0f} s ({total / seconds:.0f}/s) at 8 connections: "
          f"{errors} without an answer, {server_errors} 5xx")
    for kind, outcomes in results.items():
        if outcomes:
            p50, p99 = percentiles(ms for _, ms in outcomes)
            print(f"  {kind:<7} {len(outcomes):>6}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    status, ms, body = expensive
    print(f"expensive query: HTTP {status} after {ms:.0f} ms: {body[:120]!r}")
    if meanwhile:
        p50, p99 = percentiles(ms for _, ms in meanwhile)
        print(f"  meanwhile {len(meanwhile)} other requests answered, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def main(seconds, db_path=None, works=0, slow=0):
    with tempfile.TemporaryDirectory() as tmp:
        if db_path is None:
            from kb import demo
            from kb.db import open_db

            db_path = Path(tmp) / "regenkb.db"
            demo.build(open_db(str(db_path)))
            if works:
                import serve

                started = time.perf_counter()
                serve.build(db_path, works, random.Random(3))
                print(f"{works:,} synthetic works added to the demo KB in {time.perf_counter() - started:.0f} s "
                      f"({db_path.stat().st_size / 1e9:.2f} GB)")
        if slow:
            report_starving(starve(db_path, seconds, slow), slow)
        else:
            report(*run(db_path, seconds), seconds)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    option = {name: arguments[arguments.index(name) + 1] for name in ("--db", "--works", "--slow")
              if name in arguments}
    numbers = [a for a in arguments if a.isdigit() and a not in option.values()]
    main(int(numbers[0]) if numbers else 60, option.get("--db"), int(option.get("--works", 0)),
         int(option.get("--slow", 0)))
