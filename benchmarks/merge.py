"""Merge benchmark: works arriving from PubMed, OpenAlex and Crossref with realistic overlap,
missing identifiers and title noise; measures the time to load and merge them and the
merge precision and recall against the generator's truth.

    python benchmarks/merge.py [WORKS]        (default 100000 true works)

Overlap: PubMed holds 70% of the works, OpenAlex 70%, Crossref 60%. Identifiers are
missing at realistic rates (no DOI on 20% of PubMed records, no PMID on half of the
OpenAlex ones), so part of the merging must go by title, year and first author; titles
arrive with case, punctuation and spelling noise, and 2% of works have a near-twin title
by the same first author in the same year (a different work that must stay apart).
"""

import json
import random
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

from kb.db import open_db  # noqa: E402
from kb.ingest import load_pubmed_file, load_works_file  # noqa: E402

VOCABULARY = synth.WORDS + [f"term{i}" for i in range(30_000)]
SPELLINGS = [("hemorrhage", "haemorrhage"), ("ischemic", "ischaemic"), ("behavior", "behaviour")]


def true_works(n, rng):
    works = []
    for i in range(n):
        title = synth.sentence(rng, rng.randint(8, 16), VOCABULARY + [a for a, _ in SPELLINGS])
        if works and rng.random() < 0.02:  # a near-twin: same author and year, one word different
            twin = works[-1]
            words = twin["title"].split()
            words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
            title = " ".join(words)
            author, year = twin["authors"], twin["year"]
        else:
            author = [(rng.choice(synth.SURNAMES) + str(rng.randrange(500)), rng.choice(synth.FORENAMES))
                      for _ in range(rng.randint(2, 8))]
            year = rng.randint(2000, 2025)
        works.append({"id": i, "title": title, "year": year, "authors": author,
                      "doi": f"10.5555/w{i}", "pmid": str(60_000_000 + i)})
    return works


def noisy(title, rng):
    if rng.random() < 0.3:
        title = title.upper() if rng.random() < 0.2 else title.rstrip(".") + "."
    for american, british in SPELLINGS:
        if rng.random() < 0.5:
            title = title.replace(american, british)
    return title


def pubmed_xml(work, rng):
    authors = "".join(f'<Author ValidYN="Y"><LastName>{last}</LastName><ForeName>{fore}</ForeName>'
                      f"<Initials>{fore[0]}</Initials></Author>" for last, fore in work["authors"])
    doi = f'<ArticleId IdType="doi">{work["doi"]}</ArticleId>' if rng.random() < 0.8 else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{work["pmid"]}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate><Year>{work["year"]}'
            f"</Year></PubDate></JournalIssue><Title>Journal of Synthesis</Title></Journal>"
            f"<ArticleTitle>{escape(noisy(work['title'], rng))}</ArticleTitle><AuthorList>{authors}</AuthorList>"
            f"<Language>eng</Language><PublicationTypeList><PublicationType UI=\"D016428\">Journal Article"
            f"</PublicationType></PublicationTypeList></Article></MedlineCitation><PubmedData><ArticleIdList>"
            f'<ArticleId IdType="pubmed">{work["pmid"]}</ArticleId>{doi}</ArticleIdList></PubmedData></PubmedArticle>\n')


def openalex_work(work, rng):
    ids = {"openalex": f"https://openalex.org/W{work['id'] + 1}"}
    if rng.random() < 0.5:
        ids["pmid"] = f"https://pubmed.ncbi.nlm.nih.gov/{work['pmid']}"
    doi = f"https://doi.org/{work['doi']}" if rng.random() < 0.9 else None
    title = noisy(work["title"], rng)
    return {"id": ids["openalex"], "doi": doi, "ids": ids, "title": title, "display_name": title,
            "publication_year": work["year"], "type": "article",
            "authorships": [{"author": {"display_name": f"{fore} {last}"}, "raw_affiliation_strings": []}
                            for last, fore in work["authors"]]}


def crossref_work(work, rng):
    return {"DOI": work["doi"], "type": "journal-article", "title": [noisy(work["title"], rng)],
            "issued": {"date-parts": [[work["year"]]]},
            "author": [{"given": fore, "family": last} for last, fore in work["authors"]]}


def main(n):
    rng = random.Random(11)
    works = true_works(n, rng)
    truth = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with open(tmp / "pubmed.xml", "w") as out:
            out.write("<PubmedArticleSet>\n")
            for work in works:
                if rng.random() < 0.7:
                    out.write(pubmed_xml(work, rng))
                    truth[("pubmed", work["pmid"])] = work["id"]
            out.write("</PubmedArticleSet>\n")
        alex = [openalex_work(w, rng) for w in works if rng.random() < 0.7]
        truth.update({("openalex", w["id"].rsplit("/", 1)[1]): int(w["id"].rsplit("W", 1)[1]) - 1 for w in alex})
        (tmp / "openalex.json").write_text(json.dumps({"meta": {}, "results": alex}))
        cross = [crossref_work(w, rng) for w in works if rng.random() < 0.6]
        truth.update({("crossref", w["DOI"]): int(w["DOI"].rsplit("w", 1)[1]) for w in cross})
        (tmp / "crossref.json").write_text(json.dumps({"status": "ok", "message": {"items": cross}}))
        db = open_db(str(tmp / "bench.db"))
        timings = {}
        for source, loader in (("pubmed", lambda: load_pubmed_file(db, tmp / "pubmed.xml")),
                               ("openalex", lambda: load_works_file(db, "openalex", tmp / "openalex.json")),
                               ("crossref", lambda: load_works_file(db, "crossref", tmp / "crossref.json"))):
            started = time.perf_counter()
            loader()
            timings[source] = time.perf_counter() - started
        placed = {(s, i): w for s, i, w in db.execute("select source, source_id, work_id from records")}
        by_title = dict(db.execute("select matched_by, count(*) from merges group by matched_by"))
        kb_works = db["works"].count
    predicted, actual = set(), set()
    for group, target in ((defaultdict_group(placed)), predicted), ((defaultdict_group(truth)), actual):
        for members in group.values():
            target.update(combinations(sorted(members), 2))
    correct = len(predicted & actual)
    records = len(truth)
    print(f"true works:      {n:,}; records: {records:,} (PubMed, OpenAlex, Crossref); KB works: {kb_works:,}")
    for source, seconds in timings.items():
        count = sum(1 for s, _ in truth if s == source)
        print(f"load {source:9s} {count:,} records in {seconds:.1f} s = {count / seconds:,.0f} records/s")
    print(f"merges by:       {by_title}")
    print(f"pairwise merge precision {correct / max(1, len(predicted)):.2%}, recall {correct / max(1, len(actual)):.2%} "
          f"({len(actual):,} true same-work pairs)")


def defaultdict_group(mapping):
    groups = {}
    for record, group in mapping.items():
        groups.setdefault(group, []).append(record)
    return groups


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
