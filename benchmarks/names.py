"""People and institutions named by a search: `kb.search.named` against the LIKE scan of
every person and institution it replaced, on the same KB, in one run.

    python benchmarks/names.py [PEOPLE] [--institutions N] [--repeat R]
                               (default 400,000 people, 40,000 institutions: a KB of about a
                                million works, whose millions of author occurrences cluster
                                into hundreds of thousands of people)

The people and institutions are written straight into the KB's tables (clustering is not what
is measured here), with names drawn from a few thousand made-up surnames and a few hundred
forenames, each person with the name forms their papers wrote, and random 62-bit ids as the KB's
hashed ids are. Beside the write of every person, and of a tenth of them again under the same
names and under new ones (a refresh that clusters some blocks anew), the lines give what
indexing their names costs (`db.names_indexed`, which `authors.write` calls).

Prints, per query, the median ms of `named` and of the LIKE scan, the ratio, and how many
people and institutions each found (named matches words by their start, the scan anywhere
in a name: "son" finds "Sonia", not "Johnson").
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kb.db import insert_rows, names_indexed, open_db  # noqa: E402
from kb.search import named, rows  # noqa: E402

SYLLABLES = ("wa ng li u zh an ch en ka mi ro sa to ha shi ne ru bo de la mo ri vi ko pe ta ni "
             "go ma su ya ke no ho ra fa ze").split()
FORENAMES = ("Wei Jun Ming Sarah John Keith Oh Young Masoud Leila Carlos Marie Luca Hiro Anil Thanh Reza "
             "Anna Jan Lars Ingrid Pedro Ana Sofia Yuki Kenji Amir Fatemeh Olga Ivan").split()
CITIES = "Tehran Isfahan Glasgow Seoul Detroit Beijing Shanghai Madrid Paris Tokyo Boston Toronto".split()
KINDS = ("University", "University Hospital", "Medical Center", "Institute of Neuroscience", "Cancer Centre")
QUERIES = ["wang", "wei wang", "li", "chen ming", "mori", "university tehran", "institute seoul", "qqzx"]


def surnames(rng, n):
    return sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3)))).capitalize()
                   for _ in range(n)})


def people(rng, n):
    family = surnames(rng, 6000)
    for _ in range(n):
        last = family[min(int(rng.paretovariate(1.2)) - 1, len(family) - 1)] if rng.random() < 0.5 \
            else rng.choice(family)
        fore = rng.choice(FORENAMES)
        forms = [f"{last} {fore[0]}", f"{last} {fore}"][:rng.choice((1, 2))]
        works = int(rng.paretovariate(1.5))
        yield {"id": rng.getrandbits(62), "name": f"{fore} {last}", "last_name": last, "fore_name": fore, "orcid": None,
               "is_collective": 0, "works": works, "first_year": 2000, "last_year": 2000 + min(works, 25),
               "name_forms": json.dumps(forms), "institutions": None, "top_coauthors": None, "confidence": None,
               "evidence": None}


def institutions(rng, n):
    family = surnames(rng, 3000)
    for _ in range(n):
        city = rng.choice(CITIES)
        name = f"{rng.choice(family)} {rng.choice(KINDS)} {city}"
        yield {"id": rng.getrandbits(62), "name": name, "city": city, "country": "XX", "works": int(rng.paretovariate(1.2)),
               "name_forms": json.dumps([name])}


def like_scan(conn, text, limit=20):
    """What `named` ran before: every word anywhere in a name or a name form, over every row."""
    words = [w for w in text.split() if len(w) > 1]
    where = " AND ".join("(name LIKE ? OR name_forms LIKE ?)" for _ in words)
    params = [f"%{w}%" for w in words for _ in range(2)]
    return {"people": rows(conn, f"SELECT id, name, works, first_year, last_year, institutions FROM authors "
                                 f"WHERE {where} ORDER BY works DESC, name LIMIT {int(limit)}", params),
            "institutions": rows(conn, f"SELECT id, name, city, country, works FROM institutions "
                                       f"WHERE {where} ORDER BY works DESC, name LIMIT {int(limit)}", params)}


def timed_ms(fn, conn, query, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        found = fn(conn, query)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), found


def main(n_people, n_institutions, repeat):
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(str(Path(tmp) / "names.db"))
        written = list(people(rng, n_people))
        renamed = [{**row, "name": row["name"] + " Jr"} for row in written[::10]]
        for share, what in ((written, "new"), (written[::10], "unchanged"), (renamed, "renamed")):
            started = time.perf_counter()
            with db.atomic():
                insert_rows(db, "authors", share)
            wrote = time.perf_counter() - started
            with db.atomic():
                names_indexed(db, "authors", {row["id"] for row in share})
            indexed = time.perf_counter() - started - wrote
            print(f"{len(share):,} people ({what}) written in {wrote:5.2f} s, their names indexed in {indexed:5.2f} s")
        with db.atomic():
            insert_rows(db, "institutions", institutions(rng, n_institutions))
            names_indexed(db, "institutions")
        print(f"{n_institutions:,} institutions; KB {Path(tmp, 'names.db').stat().st_size / 1e6:.0f} MB")
        conn = db.conn
        print(f"{'query':<20} {'named':>9} {'LIKE scan':>10} {'ratio':>7}   found by named, by the scan")
        for query in QUERIES:
            fast, found = timed_ms(named, conn, query, repeat)
            slow, scanned = timed_ms(like_scan, conn, query, max(1, repeat // 5))
            print(f"{query:<20} {fast:6.2f} ms {slow:7.1f} ms {slow / fast:6.0f}x   "
                  f"{len(found['people'])}+{len(found['institutions'])}, "
                  f"{len(scanned['people'])}+{len(scanned['institutions'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("people", nargs="?", type=int, default=400_000)
    parser.add_argument("--institutions", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=25)
    arguments = parser.parse_args()
    main(arguments.people, arguments.institutions, arguments.repeat)
