import copy
import json

from kb.ingest import load_pubmed_file, load_works_file
from kb.load import WorkLoader
from kb.unmerge import unmerge

from conftest import EFETCH, FIXTURES

MERGE = FIXTURES / "merge"
FOUR = [("pubmed", "pubmed_25349395.xml"), ("europepmc", "europepmc_MED_25349395.json"),
        ("openalex", "openalex_W2109415576.json"), ("crossref", "crossref_10.1073_pnas.1414271111.json")]


def load(db, source, name):
    path = MERGE / name
    return load_pubmed_file(db, path)[0] if source == "pubmed" else load_works_file(db, source, path)[0]


def write(tmp_path, name, payload):
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return path


def test_one_work_from_four_sources_in_any_order(db):
    for source, name in reversed(FOUR):
        load(db, source, name)
    assert db["works"].count == 1
    work = next(db.query("select * from works"))
    assert (work["pmid"], work["doi"], work["pmcid"], work["openalex_id"]) == (
        "25349395", "10.1073/pnas.1414271111", "PMC4234579", "W2109415576")
    assert sorted(json.loads(work["sources"])) == ["crossref", "europepmc", "openalex", "pubmed"]
    assert db.execute("select count(*) from records where work_id = ?", [work["id"]]).fetchone()[0] == 4
    provenance = json.loads(work["provenance"])
    # PubMed for MeSH and publication types, Crossref for bibliographic details, OpenAlex for citations.
    assert (provenance["mesh"], provenance["pub_types"], provenance["journal"], provenance["cited_by_count"]) == (
        "pubmed", "pubmed", "crossref", "openalex")
    assert work["journal"] == "Proceedings of the National Academy of Sciences" and work["cited_by_count"] == 138
    conflicts = {(r[0], r[1]) for r in db.execute("select field, source from work_conflicts")}
    assert ("journal", "pubmed") in conflicts  # PubMed names the journal differently: kept, not overwritten
    assert db.execute("select count(*) from work_authors").fetchone()[0] == 5
    assert {r[0] for r in db.execute("select matched_by from merges")} <= {"pmid", "doi", "pmcid", "openalex"}
    assert db["merges"].count == 3


def test_links_of_every_source_point_from_the_one_work(db):
    for source, name in FOUR:
        load(db, source, name)
    work_id = db.execute("select id from works").fetchone()[0]
    by_source = dict(db.execute("select asserted_by, count(*) from links where from_work_id = ? "
                                "group by asserted_by", [work_id]))
    assert by_source["openalex"] == 5 and by_source["crossref"] == 1  # 3 references + 2 related; 1 DOI reference


def test_loading_a_source_again_changes_nothing(db):
    for source, name in FOUR:
        load(db, source, name)
    before = {t: db[t].count for t in ("works", "records", "links", "merges", "work_authors", "work_conflicts")}
    for source, name in FOUR:
        stats = load(db, source, name)
        assert stats.unchanged == 1
    assert {t: db[t].count for t in before} == before


def test_the_same_title_with_another_doi_stays_apart(db, tmp_path):
    load(db, "crossref", "crossref_10.1073_pnas.1414271111.json")
    other = json.loads((MERGE / "crossref_10.1073_pnas.1414271111.json").read_text())
    other["message"]["DOI"] = "10.1073/pnas.1414271112"
    load_works_file(db, "crossref", write(tmp_path, "other.json", other))
    assert db["works"].count == 2


def test_a_near_identical_title_without_identifiers_stays_apart(db, tmp_path):
    load(db, "pubmed", "pubmed_25349395.xml")
    near = json.loads((MERGE / "openalex_W2109415576.json").read_text())
    for key in ("doi", "ids"):
        near.pop(key)
    near["id"] = "https://openalex.org/W1"
    near["title"] = near["display_name"] = near["title"].replace("hypoxia", "normoxia")
    load_works_file(db, "openalex", write(tmp_path, "near.json", near))
    assert db["works"].count == 2


def test_a_matching_title_year_and_first_author_merges_without_identifiers(db, tmp_path):
    load(db, "pubmed", "pubmed_25349395.xml")
    bare = json.loads((MERGE / "openalex_W2109415576.json").read_text())
    bare.pop("doi")
    bare["ids"] = {"openalex": bare["id"]}
    load_works_file(db, "openalex", write(tmp_path, "bare.json", bare))
    assert db["works"].count == 1
    matched_by, score = db.execute("select matched_by, score from merges").fetchone()
    assert matched_by == "title" and score >= 0.98


def test_a_preprint_and_its_journal_version_are_two_works_joined_by_version_of(db, tmp_path):
    load(db, "crossref", "crossref_10.1073_pnas.1414271111.json")
    preprint = json.loads((MERGE / "crossref_10.1073_pnas.1414271111.json").read_text())
    preprint["message"].update({"DOI": "10.1101/2014.06.01.000001", "type": "posted-content",
                                "container-title": [], "published-print": None})
    load_works_file(db, "crossref", write(tmp_path, "preprint.json", preprint))
    assert db["works"].count == 2
    link = db.execute("select from_id, to_id, from_work_id, to_work_id from links where relation = 'version_of'"
                      ).fetchone()
    assert link[:2] == ("10.1101/2014.06.01.000001", "10.1073/pnas.1414271111") and None not in link


def test_unmerge_splits_a_record_off_and_the_split_sticks(db, tmp_path):
    for source, name in FOUR:
        load(db, source, name)
    work_id = db.execute("select id from works").fetchone()[0]
    new_id = unmerge(db, work_id, "europepmc", "MED:25349395")
    assert db["works"].count == 2 and new_id != work_id
    assert json.loads(db["works"].get(work_id)["sources"]) == ["crossref", "openalex", "pubmed"]
    assert json.loads(db["works"].get(new_id)["sources"]) == ["europepmc"]
    assert db.execute("select count(*) from links where asserted_by = 'europepmc' and from_work_id != ?",
                      [new_id]).fetchone()[0] == 0
    revised = json.loads((MERGE / "europepmc_MED_25349395.json").read_text())
    revised["resultList"]["result"][0]["dateOfRevision"] = "2030-01-01"
    load_works_file(db, "europepmc", write(tmp_path, "revised.json", revised))
    assert db.execute("select work_id from records where source = 'europepmc'").fetchone()[0] == new_id
    with db.atomic():
        WorkLoader(db, "europepmc").delete("MED:25349395")  # forgotten: the next load matches afresh
    load(db, "europepmc", "europepmc_MED_25349395.json")
    assert db.execute("select count(distinct work_id) from records").fetchone()[0] == 2


def test_pubmed_deletion_rebuilds_a_work_other_sources_still_describe(db, tmp_path):
    for source, name in FOUR:
        load(db, source, name)
    update = tmp_path / "update.xml"
    update.write_bytes(b'<?xml version="1.0" ?>\n<PubmedArticleSet><DeleteCitation><PMID Version="1">25349395'
                       b"</PMID></DeleteCitation></PubmedArticleSet>")
    load_pubmed_file(db, update)
    work = next(db.query("select * from works"))
    assert json.loads(work["sources"]) == ["crossref", "europepmc", "openalex"]
    assert work["pmid"] == "25349395"  # Europe PMC and OpenAlex still know it


def test_pubmed_only_loads_never_match_by_title(db):
    load_pubmed_file(db, EFETCH)
    assert db["merges"].count == 0 and db["works"].count == 3


def test_canned_queries_show_sources_references_citations_and_related_works(db, tmp_path):
    import asyncio

    from kb import serve

    for source, name in FOUR:
        load(db, source, name)
    citing = json.loads((MERGE / "crossref_10.1073_pnas.1414271111.json").read_text())
    citing["message"].update({"DOI": "10.1000/citing.1", "title": ["A later paper on collagen cross-linking"],
                              "reference": [{"key": "r1", "DOI": "10.1073/pnas.1414271111"}]})
    load_works_file(db, "crossref", write(tmp_path, "citing.json", citing))
    path = db.conn.execute("pragma database_list").fetchone()[2]
    datasette = serve.datasette_for(path)

    def get(url):
        return asyncio.run(datasette.client.get(url)).json()

    sources = get("/kb/work_sources.json?work=25349395&_shape=array")
    assert {s["source"] for s in sources} == {"pubmed", "europepmc", "openalex", "crossref"}
    assert next(s for s in sources if s["source"] == "crossref")["fields_from_it"].count("journal") >= 1
    references = get("/kb/references.json?work=10.1073/pnas.1414271111&_shape=array")
    assert {r["to_id"] for r in references} >= {"W1490897467", "10.1089/ten.2006.12.969"}
    citations = get("/kb/citations.json?work=25349395&_shape=array")
    assert [c["doi"] for c in citations] == ["10.1000/citing.1"]
    related = get("/kb/related_works.json?work=25349395&_shape=array")
    assert related[0]["doi"] == "10.1000/citing.1" and "cites (crossref)" in related[0]["links"]


def test_two_records_of_one_work_in_one_batch_make_one_row(db, tmp_path):
    page = json.loads((MERGE / "europepmc_MED_25349395.json").read_text())
    twin = copy.deepcopy(page["resultList"]["result"][0])
    twin.update(id="PMC4234579", source="PMC")
    page["resultList"]["result"].append(twin)
    load(db, "pubmed", "pubmed_25349395.xml")
    load_works_file(db, "europepmc", write(tmp_path, "twins.json", page))
    assert db["works"].count == 1
    assert db.execute("select count(*) from works_fts").fetchone()[0] == 1
