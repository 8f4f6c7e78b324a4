import json
from pathlib import Path

from harvest import crossref
from kb import bulk, cluster, doctor, parquet
from kb.db import open_db
from kb.expand import expand
from kb.ingest import load_ctgov_file, load_pubmed_file, load_works_file
from kb.references import resolve_by_title, title_match

from conftest import EFETCH, FIXTURES
from replay import SET_HEAD, EutilsReplay, OpenAlexReplay, articles_in, with_pmid
from test_crash_resume import table_rows
from test_expand import clients

SEED, PISCES, BANG = articles_in(EFETCH)
BANG_CITED = ("Bang OY, Lee JS, Lee PH, Lee G. Autologous mesenchymal stem cell transplantation in stroke patients. "
              "Ann Neurol. 2005;57(6):874-82.")
PISCES_CITED = ("Kalladka D, Sinden J, Pollock K, et al. Human neural stem cells in patients with chronic ischaemic "
                "stroke (PISCES): a phase 1, first-in-man study. Lancet. 2016;388(10046):787-96.")
WHO_CITED = "World Health Organization. Global Health Estimates 2016. Geneva: World Health Organization; 2018."


def with_references(raw, *references):
    """An article whose ReferenceList holds (citation, {IdType: id}) entries, in order."""
    entries = "".join(
        f"<Reference><Citation>{citation}</Citation>" + (
            "<ArticleIdList>" + "".join(f'<ArticleId IdType="{kind}">{value}</ArticleId>'
                                        for kind, value in ids.items()) + "</ArticleIdList>" if ids else "")
        + "</Reference>"
        for citation, ids in references)
    return raw.replace(b"</PubmedData>", f"<ReferenceList>{entries}</ReferenceList></PubmedData>".encode())


SEED_CITING = with_references(SEED, (BANG_CITED, {"pubmed": "15929052", "doi": "10.1002/ana.20501"}),
                              (PISCES_CITED, {}), (WHO_CITED, {}))


def efetch_file(path, *articles):
    path.write_bytes(SET_HEAD + b"\n".join(articles) + b"\n</PubmedArticleSet>\n")
    return path


def references_of(db, pmid):
    return db.execute("SELECT r.position, r.citation, r.pmid, r.doi, r.cited_work_id, r.resolved_by "
                      "FROM work_references r JOIN works w ON w.id = r.work_id WHERE w.pmid = ? "
                      "ORDER BY r.source, r.position", [pmid]).fetchall()


def work_id(db, pmid):
    return db.execute("SELECT id FROM works WHERE pmid = ?", [pmid]).fetchone()[0]


def test_pubmed_references_with_only_a_citation_are_kept_in_order_with_their_text(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "seed.xml", SEED_CITING))
    assert references_of(db, "35281985") == [
        (1, BANG_CITED, "15929052", "10.1002/ana.20501", None, None),
        (2, PISCES_CITED, None, None, None, None),
        (3, WHO_CITED, None, None, None, None)]
    # The cites links stay what they were: one per reference that carries an identifier.
    assert db.execute("SELECT to_scheme, to_id FROM links WHERE relation = 'cites'").fetchall() == [
        ("pmid", "15929052")]


def test_a_reference_resolves_to_its_work_whichever_of_the_two_loads_first(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "seed.xml", SEED_CITING))
    load_pubmed_file(db, efetch_file(tmp_path / "bang.xml", BANG))
    assert references_of(db, "35281985")[0][4:] == (work_id(db, "15929052"), "pmid")
    other = open_db(str(tmp_path / "other.db"))
    load_pubmed_file(other, tmp_path / "bang.xml")
    load_pubmed_file(other, tmp_path / "seed.xml")
    assert references_of(other, "35281985")[0][4:] == (work_id(other, "15929052"), "pmid")


def test_reloading_a_record_keeps_one_reference_list_and_a_newer_revision_replaces_it(db, tmp_path):
    path = efetch_file(tmp_path / "seed.xml", SEED_CITING)
    load_pubmed_file(db, path)
    before = references_of(db, "35281985")
    assert load_pubmed_file(db, path)[0].unchanged == 1
    assert references_of(db, "35281985") == before
    revised = with_pmid(with_references(SEED, (WHO_CITED, {}), (PISCES_CITED, {})), "35281985", revised="2030/01/01")
    assert load_pubmed_file(db, efetch_file(tmp_path / "revised.xml", revised))[0].updated == 1
    assert [row[:2] for row in references_of(db, "35281985")] == [(1, WHO_CITED), (2, PISCES_CITED)]


def test_a_withdrawn_cited_work_leaves_its_references_unresolved(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "both.xml", SEED_CITING, BANG))
    deletion = SET_HEAD + b'<DeleteCitation><PMID Version="1">15929052</PMID></DeleteCitation></PubmedArticleSet>'
    (tmp_path / "delete.xml").write_bytes(deletion)
    assert load_pubmed_file(db, tmp_path / "delete.xml")[0].deleted == 1
    assert references_of(db, "35281985")[0][4:] == (None, None)


def test_expand_fetches_what_references_name_and_matches_the_rest_by_title(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "seed.xml", SEED_CITING, PISCES))
    assert [row[4] for row in references_of(db, "35281985")] == [None, None, None]
    notes = []
    with EutilsReplay([BANG]) as eutils, OpenAlexReplay([]) as alex:
        expand(db, *clients(tmp_path, eutils, alex), depth=1, progress=notes.append)
    bang, pisces = work_id(db, "15929052"), work_id(db, "27497862")
    assert [row[4:] for row in references_of(db, "35281985")] == [
        (bang, "pmid"), (pisces, "title (100/100)"), (None, None)]
    assert "1 reference(s) matched to a work of the KB by title" in notes


def test_a_near_but_different_title_does_not_match(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    pisces = work_id(db, "27497862")
    assert title_match(db, PISCES_CITED) == (pisces, 100)
    # One word changed: another study.
    assert title_match(db, PISCES_CITED.replace("ischaemic", "haemorrhagic")) is None
    # The work's title is only the start of the cited title.
    assert title_match(db, "Bang OY. Autologous mesenchymal stem cell transplantation in stroke patients "
                           "with a follow-up of five years. Stem Cells. 2006;1:1-2.") is None
    # The same title, cited as published ten years before the work.
    assert title_match(db, PISCES_CITED.replace("2016", "2006")) is None
    # The work that lists the reference is not its own citation.
    assert title_match(db, PISCES_CITED, citing=pisces) is None


def test_crossref_references_without_a_doi_keep_their_unstructured_text_or_their_fields(db):
    path = FIXTURES / "crossref" / "works_10.1002_ana.20501_references.json"
    record = crossref.parse_payload(path.read_bytes(), path.name)[0][0]
    assert [reference["citation"] for reference in record["references"]] == [
        None,
        "Kondziolka D, Wechsler L, Goldstein S, et al. Transplantation of cultured human neuronal cells for "
        "patients with stroke. Neurology 2000;55:565\u2013569.",
        "Savitz SI. Ann Neurol. 2002;52:266",
        "Chen J. Intravenous administration of human umbilical cord blood reduces behavioral deficits after stroke "
        "in rats. Stroke. 2001;32:2682"]
    load_works_file(db, "crossref", path)
    rows = db.execute("SELECT source, position, doi, title, year FROM work_references ORDER BY position").fetchall()
    assert rows == [("crossref", 1, "10.1161/01.str.32.4.1005", None, None), ("crossref", 2, None, None, None),
                    ("crossref", 3, None, None, 2002),
                    ("crossref", 4, None, "Intravenous administration of human umbilical cord blood reduces "
                                          "behavioral deficits after stroke in rats", 2001)]
    assert db.execute("SELECT to_id FROM links WHERE relation = 'cites'").fetchall() == [("10.1161/01.str.32.4.1005",)]


def test_a_work_described_by_two_sources_keeps_each_sources_reference_list(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "bang.xml", with_references(BANG, (PISCES_CITED, {}))))
    load_works_file(db, "crossref", FIXTURES / "crossref" / "works_10.1002_ana.20501_references.json")
    assert db["works"].count == 1
    assert db.execute("SELECT source, count(*) FROM work_references GROUP BY source").fetchall() == [
        ("crossref", 4), ("pubmed", 1)]


TRIAL_REFERENCES = (
    "<reference><citation>" + BANG_CITED.replace("874-82.", "874-82. doi: 10.1002/ana.20501.") + "</citation>"
    "</reference><reference><citation>" + PISCES_CITED + "</citation></reference>"
    "<results_reference><citation>Dehghani L, Khojasteh A, Soleimani M, et al. Safety of Intraparenchymal Injection "
    "of Allogenic Placenta Mesenchymal Stem Cells Derived Exosome in Patients Undergoing Decompressive Craniectomy "
    "Following Malignant Middle Cerebral Artery Infarct, A Pilot Randomized Clinical Trial. Int J Prev Med. "
    "2022;13:7.</citation><PMID>35281985</PMID></results_reference>")


def test_trial_references_without_a_pmid_are_kept_and_resolve_by_doi_pmid_or_title(db, tmp_path):
    legacy = (FIXTURES / "ctgov" / "legacy_NCT03384433.xml").read_text()
    path = tmp_path / "NCT03384433.xml"
    path.write_text(legacy.replace("  <study_first_posted", TRIAL_REFERENCES + "\n  <study_first_posted"))
    load_ctgov_file(db, path)
    load_pubmed_file(db, EFETCH)
    rows = db.execute("SELECT position, type, pmid, doi, cited_work_id, resolved_by FROM trial_references "
                      "ORDER BY position").fetchall()
    assert rows == [(1, "REFERENCE", None, "10.1002/ana.20501", work_id(db, "15929052"), "doi"),
                    (2, "REFERENCE", None, None, None, None),
                    (3, "RESULT", "35281985", None, work_id(db, "35281985"), "pmid")]
    assert db.execute("SELECT citation FROM trial_references WHERE position = 2").fetchone()[0] == PISCES_CITED
    assert db.execute("SELECT relation, to_id FROM links WHERE from_scheme = 'nct'").fetchall() == [
        ("reported_in", "35281985")]
    with EutilsReplay([]) as eutils, OpenAlexReplay([]) as alex:
        expand(db, *clients(tmp_path, eutils, alex), depth=1)
    assert db.execute("SELECT cited_work_id FROM trial_references WHERE position = 2").fetchone()[0] == \
        work_id(db, "27497862")


def test_bulk_and_parquet_loads_store_the_references_a_direct_load_does(tmp_path, monkeypatch):
    # The KB holds PISCES and Bang before the file: the copied parts' references resolve to them.
    held = efetch_file(tmp_path / "held.xml", PISCES, BANG)
    body = [with_references(with_pmid(SEED, str(pmid)), (BANG_CITED, {"pubmed": "15929052"}), (WHO_CITED, {}),
                            (f"Citing work {pmid - 1}.", {"pubmed": str(pmid - 1)}))
            for pmid in range(50_000_000, 50_000_040)]
    baseline = efetch_file(tmp_path / "pubmed25n0001.xml", *body)
    direct = open_db(str(tmp_path / "direct.db"))
    for path in (held, baseline):
        load_pubmed_file(direct, path)
    # Three parts of 15, 15 and 10 records; each record cites the one before it, across parts too.
    monkeypatch.setattr(bulk, "CHUNK", len(SET_HEAD + b"\n".join(body[:15])) + 1)
    monkeypatch.setattr(bulk, "PART", 1)
    parted = open_db(str(tmp_path / "parted.db"))
    load_pubmed_file(parted, held)
    bulk.load_files(parted, [baseline], workers=2)
    cluster.parse_file((0, str(baseline)), str(tmp_path / "parsed"), None)
    from_parquet = open_db(str(tmp_path / "parquet.db"))
    load_pubmed_file(from_parquet, held)
    parquet.load_parquet(from_parquet, tmp_path / "parsed")
    compared = {"work_references": ()}
    expected = table_rows(tmp_path / "direct.db", compared)
    assert table_rows(tmp_path / "parted.db", compared) == expected == table_rows(tmp_path / "parquet.db", compared)
    assert direct.execute("SELECT count(*), count(cited_work_id) FROM work_references").fetchone() == (120, 79)


def test_doctor_finds_a_reference_pointing_at_a_work_that_is_gone(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "seed.xml", SEED_CITING))
    db.execute("UPDATE work_references SET cited_work_id = 999, resolved_by = 'pmid' WHERE position = 1")
    problems = [finding.problem for finding in doctor.check(db)]
    assert "1 row(s) of work_references point at works (cited_work_id) that do not exist" in problems


def test_the_reference_list_query_gives_a_works_references_in_order_with_the_works_they_name(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "both.xml", SEED_CITING, BANG))
    metadata = json.loads((Path(__file__).parent.parent / "datasette-metadata.json").read_text())
    sql = metadata["databases"]["regenkb"]["queries"]["reference_list"]["sql"]
    rows = db.execute(sql, {"work": "10.4103/IJPVM.IJPVM_441_21"}).fetchall()
    assert [(row[1], row[2], row[7]) for row in rows] == [
        (1, BANG_CITED, "Autologous mesenchymal stem cell transplantation in stroke patients."),
        (2, PISCES_CITED, None), (3, WHO_CITED, None)]


def test_title_matching_walks_the_unresolved_references_in_batches_and_leaves_the_rest(db, tmp_path):
    load_pubmed_file(db, efetch_file(tmp_path / "both.xml", SEED_CITING, PISCES))
    assert resolve_by_title(db, batch=1) == 1
    assert [row[5] for row in references_of(db, "35281985")] == [None, "title (100/100)", None]
    assert resolve_by_title(db, batch=1) == 0
