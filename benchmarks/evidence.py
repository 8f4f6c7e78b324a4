"""Evidence tags against a labelled set.

    python benchmarks/evidence.py [--errors]

The labels (benchmarks/evidence_labels.tsv) were written by hand from the facts in
../shared/data/topic/ (the ClinicalTrials.gov export of MSC-exosome trials) and from the
demo corpus's recorded sources. The trials are tagged from the real export
($REGENKB_REAL_DATA/ctgov/jesnyder__legacy_csv_MSC_exosome_trials.csv), the works from the
bundled demo corpus. Prints per-tag precision, recall and F1 (targets: F1 >= 0.9 for
design, route, cell source and stroke type; >= 0.95 for topic relevance) and how many of
the export's trials are tagged as stroke trials, against the count verified by hand.
"""

import csv
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from kb import demo, evidence  # noqa: E402
from kb.classify import QUALIFIERS  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.ingest import load_ctgov_file  # noqa: E402

EXPORT = "ctgov/jesnyder__legacy_csv_MSC_exosome_trials.csv"
# Read by hand from the export's Conditions and Title columns: only NCT03384433 (acute
# ischemic stroke, condition "Cerebrovascular Disorders") of its 18 trials is about stroke.
STROKE_TRIALS_BY_HAND = 1
TAGS = ("relevant", "stroke_type", "design", "phase", "route", "cell_source", "n")
TARGETS = {"relevant": 0.95, "stroke_type": 0.9, "design": 0.9, "route": 0.9, "cell_source": 0.9}


def labels():
    rows = [line for line in open(HERE / "evidence_labels.tsv", encoding="utf-8") if not line.startswith("#")]
    expected = {}
    for row in csv.DictReader(rows, delimiter="\t"):
        expected[(row["kind"], row["id"])] = {tag: {v for v in (row.get(tag) or "").split(";") if v and (
            tag != "relevant" or v == "1")} for tag in TAGS}
    return expected


def predicted(db, kind):
    """{(kind, NCT or PMID): {tag: values}} from the tags table, in the labels' terms."""
    key_of = dict(db.execute("SELECT id, nct_id FROM trials" if kind == "trial" else "SELECT id, pmid FROM works"))
    found = defaultdict(lambda: defaultdict(set))
    for subject_id, tag, value in db.execute("SELECT subject_id, tag, value FROM tags WHERE subject = ?", [kind]):
        found[(kind, key_of[subject_id])][tag].add(value)
    result = {}
    for key, tags in found.items():
        stroke = {s for s in evidence.COARSE_STROKE if s in tags["stroke_type"]} or (
            {"stroke (type not stated)"} if "stroke" in tags["topic"] else set())
        phases = sorted(tags["phase"])
        phase = {evidence.combined_phase(phases)} if phases else set()
        result[key] = {"relevant": {"1"} if tags["relevance"] else set(), "stroke_type": stroke,
                       "design": tags["design"] - QUALIFIERS, "phase": phase, "route": tags["route"],
                       "cell_source": tags["cell_source"], "n": tags["n"]}
    return result


def score(expected, found):
    print(f"{'tag':<12} {'precision':>9} {'recall':>7} {'F1':>6}  target")
    for tag in TAGS:
        tp = fp = fn = 0
        for key, truth in expected.items():
            guess = found.get(key, {}).get(tag, set())
            tp += len(truth[tag] & guess)
            fp += len(guess - truth[tag])
            fn += len(truth[tag] - guess)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        target = f">= {TARGETS[tag]}" if tag in TARGETS else ""
        mark = ("met" if f1 >= TARGETS[tag] else "NOT met") if tag in TARGETS else ""
        print(f"{tag:<12} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f}  {target} {mark}  ({tp} right, {fp} wrong, "
              f"{fn} missed)")
        if "--errors" in sys.argv:
            for key, truth in expected.items():
                guess = found.get(key, {}).get(tag, set())
                if guess != truth[tag]:
                    print(f"    {key[1]}: expected {sorted(truth[tag])}, tagged {sorted(guess)}")


def main():
    real = Path(os.environ.get("REGENKB_REAL_DATA", HERE.parent.parent / "shared" / "data" / "real"))
    expected = labels()
    with tempfile.TemporaryDirectory() as tmp:
        trials_db = open_db(str(Path(tmp) / "trials.db"))
        load_ctgov_file(trials_db, real / EXPORT)
        evidence.classify(trials_db)
        works_db = open_db(str(Path(tmp) / "works.db"))
        demo.build(works_db)
        found = {**predicted(trials_db, "trial"), **predicted(works_db, "work")}
        stroke_trials = trials_db.execute("SELECT count(DISTINCT subject_id) FROM tags WHERE subject = 'trial' "
                                          "AND tag = 'topic' AND value = 'stroke'").fetchone()[0]
        exported = trials_db["trials"].count
    missing = [key for key in expected if key not in found]
    print(f"{len(expected)} labelled records ({sum(k[0] == 'trial' for k in expected)} trials, "
          f"{sum(k[0] == 'work' for k in expected)} works); not in the KBs: {missing or 'none'}")
    score(expected, found)
    print(f"MSC-exosome trial export: {stroke_trials} of {exported} trials tagged as stroke trials; "
          f"{STROKE_TRIALS_BY_HAND} by hand")


if __name__ == "__main__":
    main()
