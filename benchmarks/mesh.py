"""MeSH benchmark: is NLM's whole descriptor file small enough to keep, and what does MeSH
widening cost a search?

    python benchmarks/mesh.py [DESCRIPTORS] [WORKS]     (defaults 31110 and 20000)

1. A synthetic descriptor file in NLM's 2026 layout, DESCRIPTORS records (MeSH 2026 has
   31,110) each as full as a real one: 20 allowable qualifiers, a scope note, two concepts
   with 8 terms between them, dates and thesaurus ids. Prints its size, `kb load mesh`'s
   time and MB/s, the KB's growth, and both projected to NLM's ~300 MB file.
2. A KB of WORKS synthetic works, each indexed under two of the descriptors and naming one
   of their entry terms in its title. The same 200 queries (entry terms of held headings,
   then words no heading has) are timed through `find` with and without the descriptors
   loaded, side by side in one run.
"""

import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harvest.records import new_work  # noqa: E402
from kb import mesh  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.load import WorkLoader  # noqa: E402
from kb.search import find  # noqa: E402

REAL_FILE_MB = 300
WORDS = """cerebral vascular accident apoplexy infarction ischemia haemorrhage neural stromal progenitor
mesenchymal vesicle exosome marrow cord placenta adipose jelly neuron glial astrocyte microglia
cortex striatum thalamus artery occlusion reperfusion edema lesion recovery""".split()


def term(d, k):
    """The k-th term of descriptor d, the same wherever it is asked for."""
    rng = random.Random(d * 100 + k)
    return f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} D{d}T{k}"


def descriptor_xml(rng, d):
    qualifiers = "".join(
        f"""   <AllowableQualifier>\n    <QualifierReferredTo>\n     <QualifierUI>Q{q:06d}</QualifierUI>\n"""
        f"""      <QualifierName>\n      <String>qualifier {q}</String>\n      </QualifierName>\n"""
        f"""    </QualifierReferredTo>\n    <Abbreviation>Q{q % 100}</Abbreviation>\n   </AllowableQualifier>\n"""
        for q in rng.sample(range(1, 90), 20))
    concepts = ""
    for c, preferred in enumerate("YN"):
        terms = "".join(
            f"""     <Term  ConceptPreferredTermYN="{'Y' if k == 0 else 'N'}"  IsPermutedTermYN="N"  """
            f"""LexicalTag="NON"  RecordPreferredTermYN="{'Y' if c == 0 and k == 0 else 'N'}">\n"""
            f"""      <TermUI>T{d:06d}{c}{k}</TermUI>\n"""
            f"""      <String>{term(d, c * 4 + k) if (c, k) != (0, 0) else f"Heading {d}"}</String>\n"""
            f"""      <DateCreated>\n       <Year>1999</Year>\n       <Month>01</Month>\n       <Day>01</Day>\n"""
            f"""      </DateCreated>\n      <ThesaurusIDlist>\n       <ThesaurusID>NLM (1966)</ThesaurusID>\n"""
            f"""      </ThesaurusIDlist>\n     </Term>\n""" for k in range(4))
        concepts += (f"""   <Concept PreferredConceptYN="{preferred}">\n    <ConceptUI>M{d:07d}{c}</ConceptUI>\n"""
                     f"""    <ConceptName>\n     <String>concept {d}.{c}</String>\n    </ConceptName>\n"""
                     f"""    <ScopeNote>{' '.join(rng.choice(WORDS) for _ in range(45))}\n    </ScopeNote>\n"""
                     f"""    <TermList>\n{terms}    </TermList>\n   </Concept>\n""")
    return (f"""<DescriptorRecord DescriptorClass = "1">\n  <DescriptorUI>D{d:06d}</DescriptorUI>\n"""
            f"""  <DescriptorName>\n   <String>Heading {d}</String>\n  </DescriptorName>\n"""
            f"""  <LastUpdated>\n   <Year>2025</Year>\n   <Month>06</Month>\n   <Day>02</Day>\n  </LastUpdated>\n"""
            f"""  <DateIntroduced>\n   <Year>1999</Year>\n   <Month>01</Month>\n   <Day>01</Day>\n"""
            f"""  </DateIntroduced>\n"""
            f"""  <AllowableQualifiersList>\n{qualifiers}  </AllowableQualifiersList>\n"""
            f"""  <TreeNumberList>\n   <TreeNumber>C10.{d % 997:03d}.{d:06d}</TreeNumber>\n  </TreeNumberList>\n"""
            f"""  <ConceptList>\n{concepts}  </ConceptList>\n </DescriptorRecord>\n""")


def write_file(path, count, rng):
    with open(path, "w") as out:
        out.write('<?xml version="1.0"?>\n<!DOCTYPE DescriptorRecordSet SYSTEM '
                  '"https://www.nlm.nih.gov/databases/dtd/nlmdescriptorrecordset_20260101.dtd">\n'
                  '<DescriptorRecordSet LanguageCode = "eng">\n')
        for d in range(1, count + 1):
            out.write(descriptor_xml(rng, d))
        out.write("</DescriptorRecordSet>\n")


def kb_size(db, path):
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def main(count=31110, works=20000):
    with tempfile.TemporaryDirectory(prefix="mesh-bench-") as folder:
        run(count, works, Path(folder))


def run(count, works, folder):
    rng = random.Random(0)
    desc = folder / "desc.xml"
    write_file(desc, count, rng)
    file_mb = desc.stat().st_size / 1e6
    db_path = folder / "kb.db"
    db = open_db(str(db_path))
    terms_of = {}
    for start in range(0, works, 1000):
        batch = []
        for n in range(start, min(works, start + 1000)):
            held = rng.sample(range(1, count + 1), 2)
            named = held[0]
            headings = [{"ui": f"D{d:06d}", "name": f"Heading {d}", "major": False, "qualifiers": [],
                         "descriptor_major": False, "major_qualifiers": []} for d in held]
            batch.append(dict(new_work(pmid=str(90000000 + n), year=2020, title=f"Study {n}: {term(named, 1)}",
                                       mesh=headings), raw=f"<PubmedArticle>{n}</PubmedArticle>".encode()))
            terms_of[named] = term(named, 1)
        WorkLoader(db, "pubmed").write_batch(batch, "bench")
    before = kb_size(db, db_path)
    started = time.perf_counter()
    descriptors, terms, problems = mesh.load_mesh_file(db, desc)
    seconds = time.perf_counter() - started
    grown = (kb_size(db, db_path) - before) / 1e6
    print(f"descriptor file: {descriptors:,} descriptors, {terms:,} entry terms, {file_mb:.0f} MB, "
          f"{len(problems)} unread")
    print(f"kb load mesh: {seconds:.1f} s, {file_mb / seconds:.1f} MB/s; KB grew {grown:.1f} MB "
          f"({grown * 1e6 / descriptors:,.0f} bytes a descriptor)")
    print(f"projected to NLM's {REAL_FILE_MB} MB file: {REAL_FILE_MB / file_mb * seconds:.0f} s, "
          f"{REAL_FILE_MB / file_mb * grown:.0f} MB of KB")

    # Entry terms a title names: widened to the heading; then words no heading has.
    queries = [terms_of[d].lower() for d in rng.sample(sorted(terms_of), 100)]
    queries += [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(100)]
    without_path = folder / "without.db"
    db.execute(f"VACUUM INTO '{without_path}'")
    without = open_db(str(without_path))
    without.execute("DELETE FROM mesh_entry_terms")
    without.execute("DELETE FROM mesh_descriptors")
    without.conn.commit()
    timings, widened = {}, 0
    for label, kb in (("with MeSH", db), ("without", without), ("with MeSH again", db)):
        started = time.perf_counter()
        for query in queries:
            found = find(kb.conn, query)
            widened += label == "with MeSH" and any(e["why"].startswith("MeSH") for e in found["expanded"])
        timings[label] = (time.perf_counter() - started) / len(queries) * 1000
    print(f"search, {len(queries)} queries ({widened} widened by MeSH): " + ", ".join(
        f"{label} {ms:.1f} ms a query" for label, ms in timings.items()) +
        f"; ratio {min(timings['with MeSH'], timings['with MeSH again']) / timings['without']:.2f}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
