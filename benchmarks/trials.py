"""Trials benchmark: load a synthetic 10,000-study ClinicalTrials.gov v2 dump into a KB that
holds 100,000 synthetic works, then link trials and works.

    python benchmarks/trials.py [STUDIES] [WORKS]      (defaults 10000 and 100000)

Prints studies/s for the load, the link step's time, how many candidate pairs blocking
let through (against the STUDIES x WORKS pairs a naive matcher would score) and how
many links it made.
"""

import json
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

from kb import linking  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.ingest import load_ctgov_file, load_pubmed_file  # noqa: E402

STATUSES = ["RECRUITING", "COMPLETED", "TERMINATED", "WITHDRAWN", "UNKNOWN", "ACTIVE_NOT_RECRUITING"]
PHASES = [["PHASE1"], ["PHASE2"], ["PHASE1", "PHASE2"], ["PHASE3"], ["NA"]]


# Titles draw on a large vocabulary, as real titles do, so blocking sees rare words.
VOCABULARY = synth.WORDS + [f"term{i}" for i in range(30_000)]
PLANTED_SHARE = 0.05


def study(rng, n, title=None, sponsor=None, start=None):
    """One v2 study of realistic size: ~8 sites, 2 arms, 6 outcomes, 2 officials, 3 references.

    With a title, sponsor and start year taken from a work, the study is a planted true match."""
    city = rng.choice(synth.CITIES)
    start = start or rng.randint(2005, 2024)
    sponsor = sponsor or f"{city} University of Medical Sciences"
    return {"protocolSection": {
        "identificationModule": {"nctId": f"NCT{10_000_000 + n:08d}", "orgStudyIdInfo": {"id": f"ORG-{n}"},
                                 "briefTitle": title or synth.sentence(rng, rng.randint(8, 16), VOCABULARY),
                                 "officialTitle": synth.sentence(rng, rng.randint(14, 26))},
        "statusModule": {"overallStatus": rng.choice(STATUSES), "startDateStruct": {"date": f"{start}-03"},
                         "completionDateStruct": {"date": f"{start + rng.randint(1, 5)}-06"},
                         "lastUpdatePostDateStruct": {"date": f"{start + 1}-01-15"}},
        "sponsorCollaboratorsModule": {"leadSponsor": {"name": sponsor},
                                       "collaborators": [{"name": f"{rng.choice(synth.CITIES)} Hospital"}]},
        "descriptionModule": {"briefSummary": " ".join(synth.sentence(rng, 20) for _ in range(4)),
                              "detailedDescription": " ".join(synth.sentence(rng, 25) for _ in range(8))},
        "conditionsModule": {"conditions": ["Ischemic Stroke", rng.choice(["Stroke", "Cerebral Infarction"])],
                             "keywords": [rng.choice(synth.WORDS) for _ in range(4)]},
        "designModule": {"studyType": "INTERVENTIONAL", "phases": rng.choice(PHASES),
                         "designInfo": {"allocation": "RANDOMIZED", "interventionModel": "PARALLEL",
                                        "primaryPurpose": "TREATMENT", "maskingInfo": {"masking": "DOUBLE"}},
                         "enrollmentInfo": {"count": rng.randint(5, 400), "type": "ACTUAL"}},
        "armsInterventionsModule": {
            "armGroups": [{"label": "Cells", "type": "EXPERIMENTAL"}, {"label": "Placebo", "type": "PLACEBO_COMPARATOR"}],
            "interventions": [{"type": "BIOLOGICAL", "name": rng.choice(["MSC", "MSC-derived exosomes", "BM-MNC"]),
                               "description": synth.sentence(rng, 15), "armGroupLabels": ["Cells"]}]},
        "outcomesModule": {"primaryOutcomes": [{"measure": "mRS at 90 days", "timeFrame": "90 days"}],
                           "secondaryOutcomes": [{"measure": synth.sentence(rng, 8), "timeFrame": "1 year"}
                                                 for _ in range(5)]},
        "eligibilityModule": {"sex": "ALL", "minimumAge": "18 Years", "maximumAge": "80 Years",
                              "eligibilityCriteria": "Inclusion Criteria:\n\n" + "\n".join(
                                  "* " + synth.sentence(rng, 15) for _ in range(20))},
        "contactsLocationsModule": {
            "overallOfficials": [{"name": f"{rng.choice(synth.FORENAMES)} {rng.choice(synth.SURNAMES)}",
                                  "affiliation": sponsor, "role": "PRINCIPAL_INVESTIGATOR"} for _ in range(2)],
            "locations": [{"facility": f"{c} Hospital", "city": c, "country": f"Country {rng.randrange(40)}",
                           "geoPoint": {"lat": rng.uniform(-60, 60), "lon": rng.uniform(-180, 180)}}
                          for c in rng.sample(synth.CITIES, 8)]},
        "referencesModule": {"references": [{"pmid": str(50_000_000 + rng.randrange(100_000)), "type": "RESULT",
                                             "citation": synth.sentence(rng, 12)} for _ in range(3)]}},
        "hasResults": rng.random() < 0.2}


def planted_sources(db, count, rng):
    """(work id, title, an affiliation, year) of `count` random works, for studies that truly match them."""
    rows = db.execute("""
        select w.id, w.title, (select a.name from work_author_affiliations waa join affiliations a
                         on a.id = waa.affiliation_id where waa.work_id = w.id limit 1), w.year
        from works w order by random() limit ?""", [count]).fetchall()
    rng.shuffle(rows)
    return rows


def main(n_studies, n_works):
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        works_file, dump = Path(tmp) / "works.xml.gz", Path(tmp) / "studies.json"
        synth.write(n_works, works_file, words=VOCABULARY)
        db = open_db(str(Path(tmp) / "bench.db"))
        started = time.perf_counter()
        load_pubmed_file(db, works_file)
        works_seconds = time.perf_counter() - started
        planted = planted_sources(db, int(n_studies * PLANTED_SHARE), rng)
        studies = [study(rng, n, title, sponsor, year - 2) for n, (_, title, sponsor, year) in enumerate(planted)]
        truth = {(work_id, f"NCT{10_000_000 + n:08d}") for n, (work_id, *_) in enumerate(planted)}
        studies += [study(rng, n) for n in range(len(planted), n_studies)]
        dump.write_text(json.dumps({"studies": studies}))
        kb_per_study = dump.stat().st_size / n_studies / 1024
        started = time.perf_counter()
        stats = load_ctgov_file(db, dump)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        made = linking.link_studies(db)
        link_seconds = time.perf_counter() - started
        works, trials = linking.read_works(db), linking.read_trials(db)
        pairs = sum(1 for _ in linking.candidates(works, trials))
        resolved = db.execute("select count(*) from links where asserted_by = 'ctgov' and to_work_id is not null"
                              ).fetchone()[0]
        found = set(db.execute("select from_work_id, to_id from links where relation = 'probably_same_study'"))
    print(f"works loaded:       {n_works:,} in {works_seconds:.1f} s")
    print(f"studies loaded:     {stats.added:,} in {load_seconds:.1f} s = {stats.added / load_seconds:,.0f} studies/s "
          f"({kb_per_study:.0f} KB of v2 JSON each)")
    print(f"reference links resolved to works: {resolved:,}")
    print(f"link step:          {link_seconds:.1f} s; {pairs:,} candidate pairs scored of "
          f"{n_studies * n_works:,} possible ({pairs / (n_studies * n_works):.4%})")
    correct = len(found & truth)
    print(f"links made:         {made:,} probably_same_study for {len(truth):,} planted true matches: "
          f"precision {correct / max(1, len(found)):.1%}, recall {correct / max(1, len(truth)):.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
