"""Memory benchmark: peak RSS (VmHWM) and CPU of a process loading a synthetic PubMed file,
step by step: its imports, its first affiliation placed (the gazetteer), the whole load.

    python benchmarks/memory.py [N]        (default N = 20000)

Two files of N records: `benchmarks/synth.py`'s, whose authors share 3,840 affiliation
strings, and the same with each paper's affiliations drawn from 1-5 labs of its own, four in
five new to the file (~2.5 distinct strings a paper, as a real corpus has): the caches that
grow with distinct strings show there. Each load runs in a child process of its own, so one
does not inherit another's peak. Target: peak under 300 MB.
"""

import gzip
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

AFFILIATION = re.compile(r"<Affiliation>[^<]*</Affiliation>")
COUNTRIES = ("Iran", "China", "USA", "Japan", "Spain", "France", "Canada", "Korea", "Germany", "Italy")


def with_labs(source, path, seed=2):
    """`source` (synth.py's file, one record a line) with each record's affiliations drawn
    from 1-5 labs of its own, each new (4 in 5) or one of 3,000 that recur."""
    import synth

    rng, new = random.Random(seed), iter(range(3000, 10**9))

    def lab(n):
        city = synth.CITIES[n % len(synth.CITIES)]
        return (f"<Affiliation>Department of {synth.DEPARTMENTS[n % len(synth.DEPARTMENTS)]}, Laboratory {n}, "
                f"{city} University of Medical Sciences, {city}, {COUNTRIES[n % len(COUNTRIES)]}.</Affiliation>")

    with gzip.open(source, "rt", encoding="utf-8") as lines, gzip.open(path, "wt", encoding="utf-8") as out:
        for line in lines:
            labs = [lab(next(new) if rng.random() < 0.8 else rng.randrange(3000)) for _ in range(rng.randint(1, 5))]
            out.write(AFFILIATION.sub(lambda _, labs=labs: rng.choice(labs), line))


def status():
    """(VmHWM, VmRSS) of this process, MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(path, db_file):
    steps = {}
    from kb.db import open_db
    from kb.ingest import load_pubmed_file
    steps["imports"] = (*status(), cpu())
    from kb.affiliations import parse
    parse("Department of Neurology, Tehran University of Medical Sciences, Tehran, Iran")
    steps["first affiliation placed"] = (*status(), cpu())
    started = time.perf_counter()
    stats, _ = load_pubmed_file(open_db(db_file), path)
    steps[f"{stats.added:,} records loaded"] = (*status(), cpu())
    print(json.dumps({"steps": steps, "seconds": time.perf_counter() - started}))


def measure(path, db_file):
    out = subprocess.run([sys.executable, __file__, "--child", str(path), str(db_file)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(n):
    import synth

    with tempfile.TemporaryDirectory() as tmp:
        plain, labs = Path(tmp) / f"synthetic-{n}.xml.gz", Path(tmp) / f"synthetic-{n}-labs.xml.gz"
        synth.write(n, plain)
        with_labs(plain, labs)
        for name, path in (("synth.py's file (at most 3,840 affiliation strings)", plain),
                           ("the same, ~2.5 distinct affiliation strings a paper", labs)):
            result = measure(path, Path(tmp) / f"{path.stem}.db")
            print(f"{name}: load {result['seconds']:.1f} s")
            print(f"  {'step':<28} {'peak RSS':>9} {'RSS':>7} {'CPU':>7}")
            for step, (peak, rss, seconds) in result["steps"].items():
                print(f"  {step:<28} {peak:>6.0f} MB {rss:>4.0f} MB {seconds:>5.1f} s")
            peak = max(step[0] for step in result["steps"].values())
            print(f"  peak RSS < 300 MB: {'met' if peak < 300 else 'NOT met'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:4])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
