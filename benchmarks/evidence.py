"""Evidence tags against a labelled set, for the records the vocabulary was tuned on and for
records held out from tuning, reported separately.

    python benchmarks/evidence.py [--errors]

The labels (benchmarks/evidence_labels.tsv) were written by hand from the records; its header
says which records are in which part. Tuned trials are tagged from the real export
($REGENKB_REAL_DATA/ctgov/jesnyder__legacy_csv_MSC_exosome_trials.csv); held-out trials from the
demo corpus and from the other real ClinicalTrials.gov records in $REGENKB_REAL_DATA/ctgov/;
works from the demo corpus. For each part it prints per-tag precision, recall and F1 (targets:
F1 >= 0.9 for design, route, cell source and stroke type; >= 0.95 for topic relevance),
stroke-trial precision and recall and intervention-tag recall on stroke trials (targets on
the held-out part: 0.97, 0.97, 0.95), and every paper the evidence table fused with a trial the
labels say it does not report (target: none).
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
TAGS = ("relevant", "stroke_type", "design", "phase", "route", "cell_source", "n", "intervention")
TARGETS = {"relevant": 0.95, "stroke_type": 0.9, "design": 0.9, "route": 0.9, "cell_source": 0.9}
PARTS = ("tuned", "held-out")


def labels():
    """{part: {(kind, id): {tag: values, or None when not labelled ('?')}}} and {PMID: NCTs it reports}."""
    rows = [line for line in open(HERE / "evidence_labels.tsv", encoding="utf-8") if not line.startswith("#")]
    expected, reports = {part: {} for part in PARTS}, {}
    for row in csv.DictReader(rows, delimiter="\t"):
        expected[row["part"]][(row["kind"], row["id"])] = {
            tag: None if row[tag] == "?" else {v for v in row[tag].split(";") if v and (tag != "relevant" or v == "1")}
            for tag in TAGS}
        if row["kind"] == "work":
            reports[row["id"]] = set(filter(None, row["reports"].split(";")))
    return expected, reports


def predicted(db, kind):
    """{(kind, NCT or PMID): {tag: values}} from the tags table, in the labels' terms."""
    key_of = dict(db.execute("SELECT id, nct_id FROM trials" if kind == "trial" else "SELECT id, pmid FROM works"))
    found = {(kind, key): defaultdict(set) for key in key_of.values()}
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
                       "cell_source": tags["cell_source"], "n": tags["n"], "intervention": tags["intervention"],
                       "stroke": "stroke" in tags["topic"]}
    return result


def score(expected, found):
    print(f"{'tag':<12} {'precision':>9} {'recall':>7} {'F1':>6}  target")
    for tag in TAGS:
        tp = fp = fn = 0
        labelled = {key: truth[tag] for key, truth in expected.items() if truth[tag] is not None}
        for key, truth in labelled.items():
            guess = found.get(key, {}).get(tag, set())
            tp += len(truth & guess)
            fp += len(guess - truth)
            fn += len(truth - guess)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        target = f">= {TARGETS[tag]}" if tag in TARGETS else ""
        mark = ("met" if f1 >= TARGETS[tag] else "NOT met") if tag in TARGETS else ""
        print(f"{tag:<12} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f}  {target} {mark}  ({tp} right, {fp} wrong, "
              f"{fn} missed; {len(labelled)} records)")
        if "--errors" in sys.argv:
            for key, truth in labelled.items():
                guess = found.get(key, {}).get(tag, set())
                if guess != truth:
                    print(f"    {key[1]}: expected {sorted(truth)}, tagged {sorted(guess)}")


def stroke_trials(expected, found):
    """Stroke-trial precision and recall (a trial labelled with a stroke type is a stroke trial;
    one tagged with the stroke topic is found as one) and intervention-tag recall on them."""
    trials = [key for key in expected if key[0] == "trial" and expected[key]["stroke_type"] is not None]
    truth = {key for key in trials if expected[key]["stroke_type"]}
    tagged = {key for key in trials if found.get(key, {}).get("stroke")}
    precision = len(truth & tagged) / len(tagged) if tagged else 1.0
    recall = len(truth & tagged) / len(truth) if truth else 1.0
    wanted = [(key, value) for key in truth if expected[key]["intervention"] for value in expected[key]["intervention"]]
    got = [(key, value) for key, value in wanted if value in found.get(key, {}).get("intervention", set())]
    print(f"stroke trials: precision {precision:.3f}, recall {recall:.3f} ({len(truth)} labelled of {len(trials)} "
          f"trials, {len(tagged)} tagged); intervention tags on stroke trials: recall "
          f"{len(got) / len(wanted) if wanted else 1.0:.3f} ({len(got)} of {len(wanted)})")
    for key in sorted((truth ^ tagged) | {k for k, _ in set(wanted) - set(got)}):
        print(f"    {key[1]}: stroke {key in truth}, tagged {key in tagged}, intervention expected "
              f"{sorted(expected[key]['intervention'] or [])}, tagged {sorted(found.get(key, {}).get('intervention', []))}")


def fusions(db, expected, reports):
    """Papers the evidence table made one study with a trial, checked against the trials each
    labelled paper reports."""
    fused = wrong = 0
    for study_id, pmids, nct_ids in db.execute(
            "SELECT study_id, pmids, nct_id FROM evidence WHERE pmids IS NOT NULL AND nct_id IS NOT NULL"):
        for pmid in pmids.split(", "):
            if ("work", pmid) not in expected:
                continue
            for nct in nct_ids.split(", "):
                fused += 1
                if nct not in reports[pmid]:
                    wrong += 1
                    print(f"    PMID {pmid} fused with {nct}, which it does not report")
    missed = sorted(f"{pmid} -> {nct}" for (kind, pmid) in expected if kind == "work" for nct in reports[pmid]
                    if not db.execute("SELECT 1 FROM evidence WHERE (', ' || pmids || ', ') LIKE ? AND nct_id LIKE ?",
                                      [f"%, {pmid}, %", f"%{nct}%"]).fetchone())
    print(f"fusions: {fused} paper-trial pairs fused, {wrong} with a trial the paper does not report; "
          f"reported but kept apart: {', '.join(missed) or 'none'}")


def main():
    real = Path(os.environ.get("REGENKB_REAL_DATA", HERE.parent.parent / "shared" / "data" / "real"))
    expected, reports = labels()
    with tempfile.TemporaryDirectory() as tmp:
        export_db = open_db(str(Path(tmp) / "export.db"))
        load_ctgov_file(export_db, real / EXPORT)
        evidence.classify(export_db)
        others_db = open_db(str(Path(tmp) / "others.db"))
        for path in sorted((real / "ctgov").iterdir()):
            if path.name != Path(EXPORT).name:
                load_ctgov_file(others_db, path)
        evidence.classify(others_db)
        demo_db = open_db(str(Path(tmp) / "demo.db"))
        demo.build(demo_db)
        evidence.classify(demo_db)
        demo_trials = predicted(demo_db, "trial")
        found = {"tuned": {**predicted(export_db, "trial"), **predicted(demo_db, "work")},
                 "held-out": {**predicted(others_db, "trial"), **demo_trials, **predicted(demo_db, "work")}}
        stroke_in_export = export_db.execute(
            "SELECT count(DISTINCT subject_id) FROM tags WHERE subject = 'trial' AND tag = 'topic' AND value = 'stroke'"
        ).fetchone()[0]
        exported = export_db["trials"].count
        for part in PARTS:
            missing = [key for key in expected[part] if key not in found[part]]
            print(f"\n== {part}: {len(expected[part])} labelled records ({sum(k[0] == 'trial' for k in expected[part])} "
                  f"trials, {sum(k[0] == 'work' for k in expected[part])} works); not in the KBs: {missing or 'none'}")
            score(expected[part], found[part])
            stroke_trials(expected[part], found[part])
            fusions(demo_db, expected[part], reports)
    print(f"\nMSC-exosome trial export: {stroke_in_export} of {exported} trials tagged as stroke trials; "
          f"{STROKE_TRIALS_BY_HAND} by hand")


if __name__ == "__main__":
    main()
