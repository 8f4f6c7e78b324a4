"""MeSH descriptors in the KB: every descriptor of NLM's file (`kb load mesh`), or those the KB's
works and trials are indexed under, fetched (`kb harvest mesh`), each with its terms in
mesh_entry_terms (the heading at position 0, then its entry terms). Search reads them to
widen a typed heading or entry term (kb/search.py).

The whole file is kept, not only the headings the KB holds: about 31,000 descriptors and
their entry terms are tens of megabytes (benchmarks/mesh.py measures it), and a later
harvest's new headings then need no second load. Search uses only the headings the KB holds.
"""

import json
import re

from harvest.errors import ParseError
from harvest.mesh import MeshLookup, iter_descriptors
from harvest.pubmed import open_payload

# MeSH headings a work is indexed under or a trial's condition maps to, as NLM writes their UIs.
HELD = ("SELECT mesh_id FROM work_mesh UNION SELECT mesh_id FROM trial_conditions "
        "WHERE mesh_id IS NOT NULL")
DESCRIBED = "mesh_id IN (SELECT id FROM mesh_descriptors)"
BATCH = 2000
# ClinicalTrials.gov writes every descriptor UI with nine digits (D000020521 for Stroke's
# D020521). NLM keeps six for the UIs it made before it went to nine, and numbered on (after
# D009710 would come D000009711: NLM Tech Bull 2013;(391):e1), so a number is one descriptor
# in either form. The lowest nine-digit UI of the 2018 descriptor list is D000066388 (none
# between D000065 and D000066388; the real records hold six-digit UIs up to D065206). Were
# there a lower one, it would become a UI no descriptor has: a heading missed, never another.
FIRST_NINE_DIGIT_UI = 66388


def descriptor_ui(value):
    """A descriptor UI as NLM writes it: 'D000020521' -> 'D020521'; 'D000083242', 'D020521' unchanged."""
    if value and re.fullmatch(r"D000\d{6}", value) and int(value[4:]) < FIRST_NINE_DIGIT_UI:
        return "D" + value[4:]
    return value


def normalise_trial_conditions(db):
    """Trial conditions an older regenkb stored with ClinicalTrials.gov's nine-digit UIs take
    NLM's; the mesh_id index finds them (none, once done) without reading the table."""
    padded = [row[0] for row in db.execute(
        "SELECT DISTINCT mesh_id FROM trial_conditions WHERE mesh_id >= 'D000000000' AND mesh_id < ?",
        [f"D000{FIRST_NINE_DIGIT_UI:06d}"])]
    db.conn.executemany("UPDATE trial_conditions SET mesh_id = ? WHERE mesh_id = ?",
                        [(descriptor_ui(ui), ui) for ui in padded if descriptor_ui(ui) != ui])


def term_key(text):
    """How a term is matched, case, punctuation and a plural s aside:
    'Cerebrovascular Accidents' -> 'cerebrovascular accident'; 'Stroke, Acute' -> 'stroke acute'."""
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in re.findall(r"\w+", text.lower()))


def store(db, records, loaded_from, batch_size=BATCH):
    """Write descriptor records (harvest.mesh), each replacing the one of the same id with its
    terms, batch_size at a time; returns (descriptors, entry terms) written."""
    descriptors = terms = 0
    batch = []

    def flush():
        ids = [record["ui"] for record in batch]
        marks = ", ".join("?" for _ in ids)
        with db.atomic():
            db.execute(f"DELETE FROM mesh_entry_terms WHERE descriptor_id IN ({marks})", ids)
            db.conn.executemany("INSERT OR REPLACE INTO mesh_descriptors (id, name, tree_numbers, loaded_from) "
                                "VALUES (?, ?, ?, ?)",
                                [(r["ui"], r["name"], json.dumps(r["tree_numbers"]), loaded_from) for r in batch])
            db.conn.executemany("INSERT INTO mesh_entry_terms (descriptor_id, position, term, key) VALUES (?, ?, ?, ?)",
                                [(r["ui"], position, term, term_key(term))
                                 for r in batch for position, term in enumerate([r["name"], *r["terms"]])])
        batch.clear()

    for record in records:
        batch.append(record)
        descriptors += 1
        terms += len(record["terms"])
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return descriptors, terms


def load_mesh_file(db, path):
    """Load a MeSH descriptor file (desc2026.xml or .gz): (descriptors, entry terms, [ParseError
    of each record that could not be read]). A file that is not one, or is cut short, raises its
    fatal ParseError after the descriptors before the fault are stored."""
    problems = []

    def records():
        with open_payload(path) as stream:
            for item in iter_descriptors(stream, str(path)):
                if isinstance(item, ParseError):
                    problems.append(item)
                    if item.fatal:
                        return
                else:
                    yield item

    descriptors, terms = store(db, records(), str(path).rsplit("/", 1)[-1])
    if problems and problems[-1].fatal:
        raise problems[-1]
    return descriptors, terms, problems


def described_headings(db):
    """How many of the headings the KB holds mesh_descriptors describes."""
    return db.execute(f"SELECT count(*) FROM ({HELD}) WHERE {DESCRIBED}").fetchone()[0]


def missing_headings(db):
    """The ids of the headings the KB holds that mesh_descriptors lacks, in order."""
    return [row[0] for row in db.execute(f"SELECT mesh_id FROM ({HELD}) WHERE NOT {DESCRIBED} ORDER BY mesh_id")]


def fetch_missing(db, lookup=None):
    """Fetch, through NLM's lookup API, the terms of every heading the KB holds without them:
    (descriptors stored, [ids MeSH does not have]). A run stopped half-way goes on from where
    it stopped, as stored descriptors are not asked for again."""
    lookup = lookup or MeshLookup()
    unknown = []

    def records():
        for ui, record in lookup.descriptors(missing_headings(db)):
            if record is None:
                unknown.append(ui)
            else:
                yield record

    # Stored every few descriptors: at 3 requests a second, a batch is a quarter of a minute's work.
    descriptors, _ = store(db, records(), lookup.base_url + "/details", batch_size=50)
    return descriptors, unknown
