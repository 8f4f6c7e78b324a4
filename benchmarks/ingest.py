"""Ingest benchmark: load N synthetic PubMed records into a fresh KB and compare with the floor,
a bare lxml iterparse pass over the same file.

    python benchmarks/ingest.py [N]        (default N = 100000)

Prints records/s, the ratio to the floor, peak RSS of each pass (measured in a child
process each, so one does not inherit the other's peak), and DB bytes per record.
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


def load_pass(path, db_file):
    from kb.db import open_db
    from kb.ingest import load_pubmed_file

    stats, _ = load_pubmed_file(open_db(db_file), path)
    return stats.added


def child(kind, path, db_file):
    started = time.perf_counter()
    count = floor_pass(path) if kind == "floor" else load_pass(path, db_file)
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"count": count, "seconds": elapsed, "peak_mb": peak_kb / 1024}))


def measure(kind, path, db_file=""):
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), db_file],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(n):
    import synth

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / f"synthetic-{n}.xml.gz"
        db_file = str(Path(tmp) / "bench.db")
        synth.write(n, data)
        floor = measure("floor", data)
        load = measure("load", data, db_file)
        db_bytes = sum(os.path.getsize(p) for p in Path(tmp).glob("bench.db*"))
    rate, floor_rate = load["count"] / load["seconds"], floor["count"] / floor["seconds"]
    print(f"records:            {load['count']:,} (file {data.name})")
    print(f"floor (iterparse):  {floor['seconds']:.1f} s, {floor_rate:,.0f} records/s, peak RSS {floor['peak_mb']:.0f} MB")
    print(f"kb load:            {load['seconds']:.1f} s, {rate:,.0f} records/s, peak RSS {load['peak_mb']:.0f} MB")
    print(f"ratio to floor:     {load['seconds'] / floor['seconds']:.2f}x   (target <= 3x)")
    print(f"target 3,000/s:     {'met' if rate >= 3000 else 'NOT met'}; peak RSS < 300 MB: "
          f"{'met' if load['peak_mb'] < 300 else 'NOT met'}")
    print(f"DB size:            {db_bytes / 1e6:.0f} MB, {db_bytes / load['count']:,.0f} bytes/record")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
