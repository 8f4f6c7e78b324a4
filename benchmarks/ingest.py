"""Ingest benchmark: N synthetic PubMed records (benchmarks/synth.py) parsed and loaded side
by side in one run, each pass against the floor, a bare lxml iterparse over the same file.

    python benchmarks/ingest.py [N]        (default N = 20000)
    python benchmarks/ingest.py 5000 --only load-1,load-2   (the floor and these passes)

Passes: the floor; regenkb's parser alone (`harvest.pubmed.iter_articles`); pubmed_parser's
`parse_medline_xml` with authors and references, the parser most people use (installed only
for benchmarks: `pip install -e ".[bench]"`; the row says so when it is missing); and
`kb load pubmed` into a fresh KB (`kb.bulk.load_files`, as the command loads a baseline
file, without the refresh after it) held to one core, then with two (the parse in a
second process beside the writer); then the refresh after the one-core load (people,
institutions, links, evidence), and load plus refresh end to end. Each pass runs in a
child process of its own, so no pass inherits another's peak RSS; a pass's RSS is the
largest of its processes'. On a shared machine wall time is what others leave: CPU
seconds (of all a pass's processes) and records per CPU second are printed beside it, and
for the two-core load the CPU time of each of its two processes, the slower stage named.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# The targets (issue 21): records/s and x the floor of a full load.
ONE_CORE_RATE, ONE_CORE_RATIO, TWO_CORE_RATE, PEAK_MB = 2000, 4.0, 3500, 300


def floor_pass(path):
    from lxml import etree

    from harvest.pubmed import open_payload

    count = 0
    with open_payload(path) as handle:
        for _, elem in etree.iterparse(handle, tag="PubmedArticle", huge_tree=True):
            count += 1
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    return count


def parse_pass(path):
    from harvest.pubmed import iter_articles, open_payload

    with open_payload(path) as handle:
        return sum(1 for item in iter_articles(handle, str(path)) if isinstance(item, dict))


def pubmed_parser_pass(path):
    import pubmed_parser

    return sum(1 for _ in pubmed_parser.parse_medline_xml(str(path), author_list=True, reference_list=True))


def load_pass(path, db_file):
    from kb import bulk
    from kb.db import open_db

    # What a load does when a core is free, whatever else a shared machine is running;
    # held to one CPU (load-1) it parses and writes in turn.
    bulk.core_free = lambda: len(os.sched_getaffinity(0)) > 1
    return bulk.load_files(open_db(db_file), [path]).added


def refresh_pass(path, db_file):
    """The refresh `kb load pubmed` runs after the load (institutions, people, same-study
    links, evidence), over the KB the one-core load wrote."""
    from kb.db import open_db
    from kb.ingest import refresh

    db = open_db(db_file)
    refresh(db)
    return db["works"].count


PASSES = {"floor": floor_pass, "parse": parse_pass, "pubmed_parser": pubmed_parser_pass,
          "load-1": load_pass, "load-2": load_pass, "refresh": refresh_pass}


def child(kind, path, db_file):
    if kind == "load-1":
        os.sched_setaffinity(0, [min(os.sched_getaffinity(0))])  # one core: no parsing process beside
    started = time.perf_counter()
    count = PASSES[kind](path, db_file) if kind.startswith(("load", "refresh")) else PASSES[kind](path)
    elapsed = time.perf_counter() - started
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"count": count, "seconds": elapsed,
                      "cpu": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
                      "own_cpu": own.ru_utime + own.ru_stime,
                      "peak_mb": max(own.ru_maxrss, children.ru_maxrss) / 1024}))


def measure(kind, path, db_file=""):
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(path), db_file],
                          capture_output=True, text=True)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def available(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main(n, only=None):
    """Run the passes (only those named in `only`, and the floor, when given)."""
    import synth

    def run(kind, *args):
        return measure(kind, *args) if only is None or kind in only else {"error": "not asked for (--only)"}

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / f"synthetic-{n}.xml.gz"
        synth.write(n, data)
        floor = measure("floor", data)
        rows.append(("floor: bare lxml iterparse", floor))
        rows.append(("regenkb parse only (iter_articles)", run("parse", data)))
        rows.append(("pubmed_parser parse_medline_xml", run("pubmed_parser", data) if available("pubmed_parser")
                     else {"error": 'not installed (pip install -e ".[bench]")'}))
        loads = {}
        for kind, label in (("load-1", "kb load pubmed, full, one core"),
                            ("load-2", "kb load pubmed, full, two cores")):
            db_file = str(Path(tmp) / f"{kind}.db")
            loads[kind] = run(kind, data, db_file)
            loads[kind]["db_bytes"] = sum(p.stat().st_size for p in Path(tmp).glob(f"{kind}.db*"))
            rows.append((label, loads[kind]))
        refreshed = run("refresh", data, str(Path(tmp) / "load-1.db"))
        rows.append(("refresh after the one-core load", refreshed))
    print(f"{n:,} records (synthetic baseline file, benchmarks/synth.py)\n")
    print(f"{'pass':40} {'records/s':>10} {'x floor':>8} {'wall s':>7} {'CPU s':>7} {'per CPU s':>9} "
          f"{'peak RSS':>9}")
    for label, row in rows:
        if "error" in row:
            print(f"{label:40} skipped: {row['error']}")
            continue
        print(f"{label:40} {row['count'] / row['seconds']:10,.0f} {row['seconds'] / floor['seconds']:7.1f}x "
              f"{row['seconds']:7.1f} {row['cpu']:7.1f} {row['count'] / row['cpu']:9,.0f} {row['peak_mb']:6.0f} MB")
    one, two = loads["load-1"], loads["load-2"]
    if "error" in one or "error" in two:
        return
    print()
    checks = [(f"one core >= {ONE_CORE_RATE:,} records/s", one["count"] / one["seconds"] >= ONE_CORE_RATE),
              (f"one core <= {ONE_CORE_RATIO:.0f}x the floor", one["seconds"] / floor["seconds"] <= ONE_CORE_RATIO),
              (f"two cores >= {TWO_CORE_RATE:,} records/s", two["count"] / two["seconds"] >= TWO_CORE_RATE),
              (f"peak RSS < {PEAK_MB} MB", max(one["peak_mb"], two["peak_mb"]) < PEAK_MB)]
    for target, met in checks:
        print(f"target {target}: {'met' if met else 'NOT met'}")
    print(f"DB size: {one['db_bytes'] / 1e6:.0f} MB, {one['db_bytes'] / one['count']:,.0f} bytes/record")
    print(stages(two))
    if "error" not in refreshed:
        print(f"end to end (one-core load, then its refresh): {one['seconds'] + refreshed['seconds']:.1f} s wall, "
              f"{one['cpu'] + refreshed['cpu']:.1f} CPU s; {refresh_against_load(refreshed, one)}")


def stages(load):
    """Which of the two-core load's processes bounds it: the busier one, by CPU time."""
    writer, parser = load["own_cpu"], load["cpu"] - load["own_cpu"]
    if not parser:
        return "two cores: the load ran in one process (no core was free)"
    slower = "writer" if writer > parser else "parsing process"
    return (f"two cores: the writer {writer:.1f} CPU s, the parsing process {parser:.1f} "
            f"(the {slower} is the slower stage; {load['seconds']:.1f} s wall)")


def refresh_against_load(refreshed, load):
    """The target 'refresh <= load', said of two passes' figures (also benchmarks/refresh.py's)."""
    return (f"target refresh <= load: {'met' if refreshed['seconds'] <= load['seconds'] else 'NOT met'} "
            f"({refreshed['seconds'] / load['seconds']:.1f}x the load's wall time, "
            f"{refreshed['cpu'] / load['cpu']:.1f}x its CPU time)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        import argparse

        parser = argparse.ArgumentParser(description="Parse and load N synthetic PubMed records, side by side.")
        parser.add_argument("n", type=int, nargs="?", default=20_000)
        parser.add_argument("--only", help="passes to run besides the floor, e.g. load-1,load-2 (refresh needs load-1)")
        arguments = parser.parse_args()
        main(arguments.n, arguments.only and set(arguments.only.split(",")))
