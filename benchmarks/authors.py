"""Author disambiguation and institution mapping against truth.

    python benchmarks/authors.py [WORKS]        (default 20000)

1. A synthetic corpus of WORKS works with hard cases planted: a small pool of surnames
   of common surnames (Soleimani, Wang, Kim, ...) beside rarer ones, and a quarter of the
   people given a namesake (same surname and first initial, a third of them the same
   given name; 15% of namesakes in the same research group); each
   person written in several forms (full given names, initials with or without the
   middle one, transliteration variants: Mohammad / Muhammad, Masoud / Masood); people
   in research groups at institutions spelled several ways; one in six people works in
   two groups (and lists both on a third of their works); a tenth of the people show an
   ORCID on half of their works.
2. The shared real data ($REGENKB_REAL_DATA, default ../shared/data/real): ORCID-bearing
   author occurrences clustered with their ORCIDs hidden, and ROR-bearing affiliations
   mapped with their RORs hidden.

Prints pairwise precision, recall and F1 (targets: precision >= 0.98, recall >= 0.90),
the clustering rate and its projection to a million occurrences.
"""

import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harvest.records import new_author, new_work  # noqa: E402
from kb import authors, institutions  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.ingest import load_pubmed_file, load_works_file  # noqa: E402
from kb.load import WorkLoader  # noqa: E402

SURNAMES = """Soleimani Hashemi Zali Saadatnia Dehghani Khojasteh Keshel Saboori Rahimi Ahmadi Hosseini Karimi
Mohammadi Rezaei Moradi Kazemi Jafari Ghasemi Sadeghi Mousavi Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou
Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim Smith Johnson Williams Brown Jones Garcia Miller Davis Martinez
Lopez Müller Schmidt Schneider Fischer Weber Rossi Russo Ferrari Esposito Bianchi Tanaka Suzuki Sato Takahashi
Watanabe Singh Kumar Sharma Patel Gupta Nguyen Tran Le Pham Hoang""".split()
GIVEN = [["Masoud", "Masood"], ["Mohammad", "Muhammad", "Mohammed"], ["Hossein", "Hosein"], ["Saeed", "Saeid"],
         ["Reza"], ["Ali"], ["Leila", "Leyla"], ["Maryam"], ["Zahra"], ["Fatemeh", "Fatima"], ["Arash"],
         ["Mahmoud", "Mahmood"], ["Wei"], ["Jun"], ["Xiaoming", "Xiao-Ming"], ["Yan"], ["Ying"], ["Min-Jun"],
         ["Seo-yeon"], ["John"], ["James"], ["Mary"], ["Maria"], ["Michael"], ["Michelle"], ["Sarah"], ["Samuel"],
         ["Jürgen", "Juergen"], ["Giulia"], ["Giovanni"], ["Hiroshi"], ["Hana"], ["Priya"], ["Rahul"], ["Anh"],
         ["Minh"], ["Reyhane", "Reyhaneh"], ["Alireza"], ["Amir"], ["Omid"]]
MIDDLE = ["Ali", "Reza", "Mahmoud", "Hadi", "Ann", "Lee", "Marie", "Jose", "Kumar", "Hong"]
PLACES = [("Tehran", "Iran", "IR"), ("Isfahan", "Iran", "IR"), ("Beijing", "China", "CN"), ("Seoul", "South Korea", "KR"),
          ("Boston", "USA", "US"), ("Munich", "Germany", "DE"), ("Milan", "Italy", "IT"), ("Tokyo", "Japan", "JP"),
          ("New Delhi", "India", "IN"), ("Hanoi", "Vietnam", "VN")]
TOPICS = ["Stroke", "Exosomes", "Mesenchymal Stem Cells", "Brain Ischemia", "Neurogenesis", "Angiogenesis",
          "Cord Blood", "Placenta", "Rats", "Inflammation", "Neuroprotection", "Cerebral Hemorrhage",
          "Extracellular Vesicles", "Bone Marrow Cells", "Adipose Tissue", "Dental Pulp", "MicroRNAs", "Astrocytes",
          "Microglia", "Blood-Brain Barrier", "Rehabilitation", "Clinical Trial", "Spinal Cord Injury", "Hypoxia"]
DEPARTMENTS = ["Department of Neurology", "Department of Tissue Engineering", "Stem Cell Research Center",
               "Department of Neurosurgery", "Department of Immunology", "Department of Hematology"]


NAMESAKES = 0.25  # people given a namesake: same surname and first initial, another person
NAMESAKES_IN_ONE_GROUP = 0.15  # of those, the share placed in the same research group
SYLLABLES = """ka ri mo sa de na ho ze la ta vi ne ro pa shi ghe ba fa lo mi ya zu ko he da ni ra se go ma""".split()


def surname(rng):
    """A surname from a pool of a few tens of thousands, so namesakes are planted, not accidental."""
    if rng.random() < 0.3:
        return rng.choice(SURNAMES)  # the common surnames of the field, where namesakes abound
    return "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()


def institution_spellings(rng, index, city):
    """Ways one institution is written: full, abbreviated, reordered, with a typo."""
    stem = f"{rng.choice(['Shahid', 'Royal', 'National', 'Central', 'Imperial', 'Saint'])} " \
           f"{rng.choice(['Avicenna', 'Pasteur', 'Hippocrates', 'Galen', 'Razi', 'Curie', 'Osler'])}{index}"
    full = f"{stem} University of Medical Sciences"
    return [full, full, f"{stem} Univ. of Med. Sci.", f"University of Medical Sciences {stem}",
            full.replace("Medical", "Medcal")]


def synthetic(n_works, rng):
    """Records and the true person of every occurrence."""
    n_people = max(40, n_works // 4)
    n_groups = max(4, n_people // 10)
    groups = []
    for g in range(n_groups):
        city, country, _ = rng.choice(PLACES)
        groups.append({"spellings": institution_spellings(rng, g, city), "city": city, "country": country,
                       "department": rng.choice(DEPARTMENTS), "topics": rng.sample(TOPICS, 6), "members": []})
    people = []
    while len(people) < n_people:
        p = len(people)
        person = {"id": p, "surname": surname(rng), "given": rng.choice(GIVEN),
                  "middle": rng.choice(MIDDLE) if rng.random() < 0.4 else None, "orcid": None}
        homes = [rng.randrange(n_groups)]
        if rng.random() < 1 / 6:
            homes.append(rng.randrange(n_groups))
        people.append((person, homes))
        if rng.random() < NAMESAKES:
            # A namesake: same surname and first initial (a third of them the same given name too).
            same_letter = [g for g in GIVEN if g[0][0] == person["given"][0][0]]
            given = person["given"] if rng.random() < 1 / 3 else rng.choice(same_letter)
            there = homes[:1] if rng.random() < NAMESAKES_IN_ONE_GROUP else [rng.randrange(n_groups)]
            people.append(({"id": p + 1, "surname": person["surname"], "given": given,
                            "middle": rng.choice(MIDDLE) if rng.random() < 0.4 else None, "orcid": None}, there))
    people = people[:n_people]
    for person, homes in people:
        person["homes"] = homes
        if rng.random() < 0.1:
            person["orcid"] = f"0000-0002-{person['id'] // 10000:04d}-{person['id'] % 10000:04d}"
        for home in homes:
            groups[home]["members"].append(person["id"])
    people = [person for person, _ in people]
    records, truth = [], {}
    for w in range(n_works):
        group = groups[min(n_groups - 1, int(rng.paretovariate(1.3)) - 1 + rng.randrange(n_groups) // 2 * 2)]
        members = group["members"] or [rng.randrange(n_people)]
        chosen = rng.sample(members, min(len(members), rng.randint(2, 6)))
        if rng.random() < 0.2:
            chosen.append(rng.randrange(n_people))
        chosen = list(dict.fromkeys(chosen))
        authors_of = []
        for position, p in enumerate(chosen, 1):
            person = people[p]
            given = rng.choice(person["given"])
            # As PubMed writes them: Seo-Yeon is SY, and the middle name is sometimes left out.
            initials = "".join(part[0] for part in given.split("-")) + (
                person["middle"][0] if person["middle"] and rng.random() < 0.8 else "")
            full = rng.random() < 0.5
            fore = f"{given} {person['middle']}" if full and person["middle"] else given if full else None
            # Authors give their own affiliation: the work's group, or a visitor's home group;
            # people with two groups list both on a third of their works, as the seed's
            # Soleimani M does.
            homes = [group if p in group["members"] else groups[person["homes"][0]]]
            if len(person["homes"]) > 1 and rng.random() < 1 / 3:
                homes += [groups[h] for h in person["homes"] if groups[h] is not homes[0]][:1]
            places = [f"{h['department']}, {rng.choice(h['spellings'])}, {h['city']}, {h['country']}" for h in homes]
            orcid = person["orcid"] if person["orcid"] and rng.random() < 0.5 else None
            authors_of.append(new_author(position, last_name=person["surname"], fore_name=fore,
                                         initials=initials.upper() if not full else None, orcid=orcid,
                                         affiliations=[{"name": place, "identifiers": {}} for place in places]))
            truth[(str(80_000_000 + w), position)] = p
        topics = rng.sample(group["topics"], 3) + [rng.choice(TOPICS)]
        record = new_work(pmid=str(80_000_000 + w), title=f"Synthetic study {w} of {topics[0].lower()}",
                          year=rng.randint(2000, 2024), authors=authors_of,
                          mesh=[{"ui": f"D{TOPICS.index(t):06d}", "name": t, "major": False, "qualifiers": []}
                                for t in dict.fromkeys(topics)])
        record["raw"] = b"<PubmedArticle/>"
        records.append(record)
    return records, truth


def pairwise(predicted, truth):
    """Pairwise precision, recall and F1 of a clustering ({item: cluster}) against truth."""
    def pairs(counter):
        return sum(n * (n - 1) // 2 for n in counter.values())

    items = [item for item in truth if item in predicted]
    both = pairs(Counter((predicted[i], truth[i]) for i in items))
    found, real = pairs(Counter(predicted[i] for i in items)), pairs(Counter(truth[i] for i in items))
    precision = both / found if found else 1.0
    recall = both / real if real else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if real and precision + recall else float("nan")
    return precision, recall, f1, found, real


def occurrences_by_pmid(db):
    return {(pmid, position): author_id for pmid, position, author_id in db.execute(
        "SELECT w.pmid, wa.position, wa.author_id FROM work_authors wa JOIN works w ON w.id = wa.work_id")}


def report(label, scores):
    precision, recall, f1, found, real = scores
    print(f"{label}: precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f} "
          f"({found:,} pairs joined, {real:,} true pairs)")


def synthetic_run(n_works):
    rng = random.Random(11)
    records, truth = synthetic(n_works, rng)
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(str(Path(tmp) / "authors.db"))
        loader = WorkLoader(db, "pubmed")
        for start in range(0, len(records), 5000):
            loader.write_batch(records[start:start + 5000], "synthetic")
        started = time.perf_counter()
        institutions.resolve(db)
        mapped = time.perf_counter() - started
        started = time.perf_counter()
        occurrences, people = authors.resolve(db, everything=True)
        clustered = time.perf_counter() - started
        predicted = occurrences_by_pmid(db)
        places = {name: iid for name, iid in db.execute("SELECT name, institution_id FROM affiliations")}
    report(f"synthetic authors ({occurrences:,} occurrences of {len(set(truth.values())):,} people, "
           f"{people:,} found)", pairwise(predicted, truth))
    truth_places = {affiliation["name"]: institution_stem(affiliation["name"]) for record in records
                    for author in record["authors"] for affiliation in author["affiliations"]}
    report("synthetic institutions (spellings, abbreviations, word order, typos)",
           pairwise(places, truth_places))
    print(f"institution mapping {mapped:.1f} s; author clustering {clustered:.1f} s for {occurrences:,} "
          f"occurrences ({occurrences / clustered:,.0f}/s; a million in {1_000_000 / (occurrences / clustered) / 60:.1f} "
          "min at that rate)")


def institution_stem(affiliation):
    """The true institution of a synthetic affiliation: the stem word with its number."""
    return next(word for word in affiliation.replace(",", " ").split() if word[-1].isdigit())


def real_run(folder):
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(str(Path(tmp) / "real.db"))
        for path in sorted(folder.glob("pubmed/*.xml")):
            try:
                load_pubmed_file(db, path)
            except Exception:  # error bodies and header dumps are not records
                pass
        for source in ("openalex", "europepmc", "crossref"):
            for path in sorted((folder / source).glob("*")):
                try:
                    load_works_file(db, source, path)
                except Exception:
                    pass
        truth = {(work_id, position): orcid for work_id, position, orcid in db.execute(
            "SELECT wa.work_id, wa.position, n.orcid FROM work_authors wa JOIN author_names n ON n.id = wa.name_id "
            "WHERE n.orcid IS NOT NULL")}
        db.execute("UPDATE author_names SET orcid = NULL")
        ror_truth = dict(db.execute("SELECT id, ror FROM affiliations WHERE ror IS NOT NULL"))
        db.execute("UPDATE affiliations SET ror = NULL")
        db.conn.commit()
        institutions.resolve(db)
        authors.resolve(db, everything=True)
        predicted = {(w, p): a for w, p, a in db.execute("SELECT work_id, position, author_id FROM work_authors")}
        places = dict(db.execute("SELECT id, institution_id FROM affiliations"))
        total = db["work_authors"].count
    report(f"real data, ORCID-bearing occurrences with ORCIDs hidden ({len(truth)} of {total:,} occurrences, "
           f"{len(set(truth.values()))} ORCIDs)", pairwise(predicted, truth))
    report(f"real data, ROR-bearing affiliations with RORs hidden ({len(ror_truth)}, {len(set(ror_truth.values()))} RORs)",
           pairwise(places, ror_truth))


def main(n_works):
    synthetic_run(n_works)
    folder = Path(os.environ.get("REGENKB_REAL_DATA", HERE.parent.parent / "shared" / "data" / "real"))
    if folder.is_dir():
        real_run(folder)
    else:
        print(f"no real data at {folder}; set REGENKB_REAL_DATA")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
