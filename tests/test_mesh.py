"""MeSH descriptors (kb load mesh, kb harvest mesh) and the search widening they give: a
heading or an entry term of a heading the KB holds is searched as all its terms the index holds."""

import asyncio
import gzip
import json
import xml.etree.ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from harvest import http
from harvest.mesh import MeshLookup, parse_details
from harvest.records import new_work
from kb import mesh, serve
from kb.cli import cli
from kb.db import open_db
from kb.ingest import load_ctgov_file, load_pubmed_file, refresh
from kb.load import WorkLoader
from kb.search import find

from conftest import EFETCH, FIXTURES
from replay import PagedReplay
from test_conformance_real import real_data

DESC = FIXTURES / "mesh" / "desc2026_stroke.xml"
MSC = {"ui": "D059630", "name": "Mesenchymal Stem Cells", "major": True, "qualifiers": [], "descriptor_major": True,
       "major_qualifiers": []}


def hand_built(db, pmid, title, mesh_headings):
    record = new_work(pmid=pmid, title=title, year=2024, mesh=mesh_headings)
    record["raw"] = f"<PubmedArticle>{pmid}</PubmedArticle>".encode()
    WorkLoader(db, "pubmed").write_batch([record], "hand-built")


def build(path, descriptors=True):
    """Three PubMed records (PISCES indexed under Stroke, Neural Stem Cells and Humans), a work
    indexed under Mesenchymal Stem Cells and one that names bone marrow stromal cells unindexed."""
    db = open_db(str(path))
    load_pubmed_file(db, EFETCH)
    hand_built(db, "99999980", "Wharton jelly cells after middle cerebral artery occlusion in rats", [MSC])
    hand_built(db, "99999981", "Bone marrow stromal cells reduce infarct volume", [])
    refresh(db)
    if descriptors:
        mesh.load_mesh_file(db, DESC)
    return db


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("mesh") / "kb.db"
    return build(path), path


def ids(found):
    return {row["id"] for row in found["rows"]}


def mesh_widenings(found):
    return [e for e in found["expanded"] if e["why"].startswith("MeSH")]


def test_kb_load_mesh_keeps_each_descriptor_with_its_heading_tree_numbers_and_entry_terms(kb):
    db, _ = kb
    expected = {}
    for record in ET.parse(DESC).getroot().iter("DescriptorRecord"):
        name = record.find("DescriptorName/String").text
        terms = [t.find("String").text for t in record.iter("Term") if t.get("IsPermutedTermYN") == "N"]
        expected[record.find("DescriptorUI").text] = (
            name, [t.text for t in record.iter("TreeNumber")], [name] + [t for t in terms if t != name])
    stored = {ui: (name, json.loads(trees), [row[0] for row in db.execute(
        "SELECT term FROM mesh_entry_terms WHERE descriptor_id = ? ORDER BY position", [ui])])
        for ui, name, trees in db.execute("SELECT id, name, tree_numbers FROM mesh_descriptors")}
    assert stored == expected and len(expected) == 8
    assert expected["D020521"][1] == ["C10.228.140.300.775", "C14.907.253.855"]
    assert db.execute("SELECT DISTINCT loaded_from FROM mesh_descriptors").fetchall() == [("desc2026_stroke.xml",)]


def test_cerebrovascular_accident_finds_the_works_indexed_under_stroke(kb):
    conn = kb[0].conn
    indexed = {row[0] for row in conn.execute("SELECT work_id FROM work_mesh WHERE mesh_id = 'D020521'")}
    found = find(conn, "cerebrovascular accident", size=100)
    assert indexed and indexed <= ids(found) and ids(found) == ids(find(conn, "stroke", size=100))
    assert find(conn, "cerebrovascular accident", widen=False)["total"] == 0
    assert mesh_widenings(found) == [{"typed": "cerebrovascular accident", "as": ["cerebrovascular accident", "stroke"],
                                      "why": "MeSH heading Stroke (D020521) and its entry terms"}]


def test_mesenchymal_stromal_cells_finds_as_much_as_mesenchymal_stem_cells(kb):
    conn = kb[0].conn
    stromal, stem = find(conn, "mesenchymal stromal cells", size=100), find(conn, "mesenchymal stem cells", size=100)
    unindexed = conn.execute("SELECT id FROM works WHERE pmid = '99999981'").fetchone()[0]
    assert ids(stromal) == ids(stem) and unindexed in ids(stem)  # only the entry term names it
    for found in (stromal, stem):
        assert "bone marrow stromal cells" in mesh_widenings(found)[0]["as"]
        assert mesh_widenings(found)[0]["why"] == "MeSH heading Mesenchymal Stem Cells (D059630) and its entry terms"


def test_a_heading_the_kb_lacks_widens_nothing(kb, tmp_path):
    conn = kb[0].conn
    # Cerebral Hemorrhage and Exosomes are loaded, but no work or trial is indexed under them.
    assert conn.execute("SELECT count(*) FROM mesh_descriptors WHERE id IN ('D002543', 'D055354')").fetchone()[0] == 2
    for query in ("intracerebral hemorrhage", "exosome", "hemorrhage cerebral"):
        assert mesh_widenings(find(conn, query)) == [], query
    without = build(tmp_path / "without.db", descriptors=False).conn
    for query in ("intracerebral hemorrhage", "exosome"):
        assert find(conn, query)["match"] == find(without, query)["match"], query
    # A heading the KB holds does widen: the works indexed under Humans.
    assert find(without, "homo sapiens")["total"] == 0 < find(conn, "homo sapiens")["total"]


def test_the_page_the_json_and_kb_search_say_how_mesh_widened_a_query(kb):
    _, path = kb
    datasette = serve.datasette_for(path)
    page = asyncio.run(datasette.client.get("/-/search?q=cerebrovascular+accident"))
    expanded = BeautifulSoup(page.text, "html.parser").select_one("p.expanded").get_text(" ", strip=True)
    assert ("“cerebrovascular accident” as cerebrovascular accident or stroke "
            "(MeSH heading Stroke (D020521) and its entry terms)") in expanded
    answer = asyncio.run(datasette.client.get("/-/search.json?q=cerebrovascular+accident")).json()
    assert mesh_widenings(answer)[0]["why"] == "MeSH heading Stroke (D020521) and its entry terms"
    text = CliRunner().invoke(cli, ["search", "cerebrovascular accident", "--db", str(path)]).output
    assert ("Also searched 'cerebrovascular accident' as cerebrovascular accident or stroke "
            "(MeSH heading Stroke (D020521) and its entry terms).") in text


def test_kb_load_mesh_reads_gzip_and_stops_at_a_cut_short_file_keeping_what_came_before(tmp_path):
    packed = tmp_path / "desc2026.gz"
    packed.write_bytes(gzip.compress(DESC.read_bytes()))
    result = CliRunner().invoke(cli, ["load", "mesh", str(packed), "--db", str(tmp_path / "kb.db")])
    assert result.exit_code == 0 and "8 descriptors, 40 entry terms; the KB holds 0 of their headings" in result.output
    cut = tmp_path / "cut.xml"
    data = DESC.read_bytes()
    cut.write_bytes(data[:data.index(b"<DescriptorUI>D059630")])
    result = CliRunner().invoke(cli, ["load", "mesh", str(cut), "--db", str(tmp_path / "cut.db")])
    assert result.exit_code == 1 and "malformed or truncated XML in the record after D002543" in result.output
    assert [r[0] for r in open_db(str(tmp_path / "cut.db")).execute("SELECT id FROM mesh_descriptors ORDER BY id")] == [
        "D000083242", "D002543", "D020521"]
    broken = tmp_path / "broken.xml"
    broken.write_bytes(data.replace(b"<String>Exosomes</String>\n  </DescriptorName>", b"</DescriptorName>", 1))
    result = CliRunner().invoke(cli, ["load", "mesh", str(broken), "--db", str(tmp_path / "broken.db")])
    assert result.exit_code == 0 and "7 descriptors, 39 entry terms" in result.output
    assert "skipped: mesh " in result.output and "record D055354: cannot parse <DescriptorRecord>" in result.output
    other = tmp_path / "other.xml"
    other.write_bytes(EFETCH.read_bytes())
    result = CliRunner().invoke(cli, ["load", "mesh", str(other), "--db", str(tmp_path / "other.db")])
    assert result.exit_code == 1 and "expected a DescriptorRecordSet, got <PubmedArticleSet>" in result.output


def details(ui):
    """A lookup API /details?includes=terms answer for a descriptor of the fixture file. The
    fixture does not know the terms' TermUIs, so each term's "resource" is left out here; the
    parser never reads it."""
    record = next(r for r in ET.parse(DESC).getroot().iter("DescriptorRecord") if r.find("DescriptorUI").text == ui)
    terms = [t.find("String").text for t in record.iter("Term")]
    return {"descriptor": f"http://id.nlm.nih.gov/mesh/{ui}",
            "terms": [{"label": term, "preferred": t.get("RecordPreferredTermYN") == "Y"}
                      for term, t in zip(terms, record.iter("Term"))]}


def test_kb_harvest_mesh_fetches_the_terms_of_each_heading_the_kb_holds_once(tmp_path):
    db = build(tmp_path / "kb.db", descriptors=False)
    held = ["D006801", "D020521", "D058953", "D059630"]
    assert mesh.missing_headings(db) == held
    pages = {ui: (details(ui), {}) for ui in held}
    client = http.Client("mesh", rate_per_second=100, cache=False, backoff=0.01, sleep=lambda seconds: None)
    with PagedReplay("/details", "descriptor", pages) as replay:
        lookup = MeshLookup(client=client, base_url=replay.base_url)
        assert mesh.fetch_missing(db, lookup) == (4, [])
        assert [params["descriptor"] for params in replay.calls("/details")] == held
        assert all(params["includes"] == "terms" for params in replay.calls("/details"))
        assert mesh.fetch_missing(db, lookup) == (0, []) and len(replay.calls("/details")) == 4
    assert mesh.missing_headings(db) == []
    assert [r[0] for r in db.execute("SELECT term FROM mesh_entry_terms WHERE descriptor_id = 'D020521' "
                                     "ORDER BY position")][:3] == ["Stroke", "Strokes", "Cerebrovascular Accident"]
    assert mesh_widenings(find(db.conn, "cerebrovascular accident"))[0]["as"] == ["cerebrovascular accident", "stroke"]


def test_a_lookup_answer_without_a_preferred_term_is_no_descriptor():
    assert parse_details(b'{"descriptor": "http://id.nlm.nih.gov/mesh/D020521", "terms": []}', "test") is None
    assert parse_details(json.dumps(details("D055354")).encode(), "test") == {
        "ui": "D055354", "name": "Exosomes", "tree_numbers": [], "terms": ["Exosome"]}


def test_real_pubmed_record_indexed_under_stroke_is_found_by_an_entry_term(tmp_path):
    record = real_data() / "pubmed" / "metapub__efetch_35358095_stroke_NETs.xml"
    pmid = ET.parse(record).getroot().find(".//MedlineCitation/PMID").text
    headings = {d.get("UI") for d in ET.parse(record).getroot().iter("DescriptorName")}
    assert "D020521" in headings
    db = open_db(str(tmp_path / "kb.db"))
    load_pubmed_file(db, record)
    mesh.load_mesh_file(db, DESC)
    stored = {row[0] for row in db.execute("SELECT mesh_id FROM work_mesh")}
    assert stored == headings
    assert [row["title"] for row in find(db.conn, "cerebrovascular accident")["rows"]] == [
        db.execute("SELECT title FROM works WHERE pmid = ?", [pmid]).fetchone()[0]]


def nine_digit_study(path):
    """A hand-built study in the API v2 shape; ClinicalTrials.gov writes D020521 as D000020521
    (the real records in REGENKB_REAL_DATA's ctgov/ do: Brain Injuries is D000001930), and a
    UI NLM made with nine digits, Ischemic Stroke's D000083242, as it is."""
    study = {"protocolSection": {
        "identificationModule": {"nctId": "NCT99999990", "briefTitle": "Rehabilitation of arm function"},
        "statusModule": {"overallStatus": "RECRUITING"}, "conditionsModule": {"conditions": ["Stroke"]}},
        "derivedSection": {"conditionBrowseModule": {"meshes": [{"id": "D000020521", "term": "Stroke"},
                                                                {"id": "D000083242", "term": "Ischemic Stroke"}]}}}
    path.write_text(json.dumps(study))
    return path


def test_a_trial_condition_in_clinicaltrials_gov_nine_digit_form_holds_its_heading(tmp_path):
    path = nine_digit_study(tmp_path / "study.json")
    loaded, fetched = open_db(str(tmp_path / "loaded.db")), open_db(str(tmp_path / "fetched.db"))
    for db in (loaded, fetched):
        load_ctgov_file(db, path)
        assert db.execute("SELECT mesh_id FROM trial_conditions WHERE kind = 'mesh' ORDER BY position").fetchall() == [
            ("D020521",), ("D000083242",)]
        assert mesh.missing_headings(db) == ["D000083242", "D020521"]
    mesh.load_mesh_file(loaded, DESC)
    pages = {"D020521": (details("D020521"), {}), "D000083242": (details("D000083242"), {})}
    client = http.Client("mesh", rate_per_second=100, cache=False, backoff=0.01, sleep=lambda seconds: None)
    with PagedReplay("/details", "descriptor", pages) as replay:
        assert mesh.fetch_missing(fetched, MeshLookup(client=client, base_url=replay.base_url)) == (2, [])
    for db in (loaded, fetched):
        assert mesh.missing_headings(db) == [] and mesh.described_headings(db) == 2
        found = find(db.conn, "cerebrovascular accident", kind="trials")
        assert [row["nct_id"] for row in found["rows"]] == ["NCT99999990"]
        assert mesh_widenings(found)[0]["as"] == ["cerebrovascular accident", "stroke"]
        assert find(db.conn, "cerebrovascular accident", kind="trials", widen=False)["total"] == 0


def test_a_nine_digit_ui_is_shortened_only_when_nlm_wrote_it_with_six_digits():
    # D065206 (six digits) is in the real PubMed records; D000066388 and D000066491 are in
    # MeSH 2018's list of descriptors with nine, the lowest there.
    assert [mesh.descriptor_ui(ui) for ui in ("D000020521", "D000065206", "D000066388", "D000066491",
                                              "D000083242", "D020521", None)] == [
        "D020521", "D065206", "D000066388", "D000066491", "D000083242", "D020521", None]


def test_an_older_kb_with_nine_digit_trial_condition_uis_is_upgraded_on_open(tmp_path):
    db = open_db(str(tmp_path / "kb.db"))
    load_ctgov_file(db, nine_digit_study(tmp_path / "study.json"))
    mesh.load_mesh_file(db, DESC)
    # As an older regenkb stored them.
    db.execute("UPDATE trial_conditions SET mesh_id = 'D000020521' WHERE mesh_id = 'D020521'")
    db.conn.commit()
    assert mesh.missing_headings(db) == ["D000020521"]
    assert find(db.conn, "cerebrovascular accident", kind="trials")["total"] == 0
    db = open_db(str(tmp_path / "kb.db"))
    assert db.execute("SELECT mesh_id FROM trial_conditions WHERE kind = 'mesh' ORDER BY position").fetchall() == [
        ("D020521",), ("D000083242",)]
    assert mesh.missing_headings(db) == []
    assert [row["nct_id"] for row in find(db.conn, "cerebrovascular accident", kind="trials")["rows"]] == [
        "NCT99999990"]


def test_kb_doctor_recovers_the_descriptors_of_a_damaged_kb(tmp_path):
    # MeSH descriptors are no source record's: recovery copies them as it copies the records.
    db = open_db(str(tmp_path / "kb.db"))
    load_pubmed_file(db, EFETCH)
    mesh.load_mesh_file(db, DESC)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray((tmp_path / "kb.db").read_bytes())
    data[:16] = b"\x00garbled header!"
    (tmp_path / "damaged.db").write_bytes(bytes(data))
    target = tmp_path / "saved.db"
    fixed = CliRunner().invoke(cli, ["doctor", "--fix", "--output", str(target), "--db", str(tmp_path / "damaged.db")])
    assert fixed.exit_code == 0, fixed.output
    recovered = open_db(str(target))
    assert (recovered["mesh_descriptors"].count, recovered["mesh_entry_terms"].count) == (8, 48)
    assert mesh_widenings(find(recovered.conn, "cerebrovascular accident"))[0]["as"] == [
        "cerebrovascular accident", "stroke"]
