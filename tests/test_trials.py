import asyncio
import csv
import io
import json
import re
import sqlite3

import sqlite_utils
from click.testing import CliRunner

from kb import demo
from kb.cli import cli
from kb.db import open_db
from kb.ingest import load_ctgov_file, load_pubmed_file
from kb.linking import link_studies
from kb.search import find

from conftest import EFETCH, FIXTURES
from test_conformance_real import real_data

CTGOV = FIXTURES / "ctgov"


def trial(db, nct_id):
    return next(db.query("select * from trials where nct_id = ?", [nct_id]))


def counts(db):
    return {name: db[name].count for name in db.table_names() if not name.endswith(("_data", "_idx", "_docsize"))}


def test_loading_trials_twice_changes_nothing(db):
    first = load_ctgov_file(db, CTGOV / "v2_studies_page1.json")
    before = counts(db)
    second = load_ctgov_file(db, CTGOV / "v2_studies_page1.json")
    assert (first.added, second.added, second.updated, second.unchanged) == (2, 0, 0, 2)
    assert counts(db) == before and before["trials"] == 2


def test_a_thin_csv_row_never_replaces_a_full_v2_record(db):
    load_ctgov_file(db, CTGOV / "v2_NCT03384433.json")
    stats = load_ctgov_file(db, CTGOV / "legacy_export.csv")
    assert (stats.added, stats.unchanged, stats.updated) == (1, 1, 0)
    assert db.execute("select completeness from records where source_id = 'NCT03384433'").fetchone()[0] == 2


def test_a_full_record_replaces_a_thin_one_and_its_rows(db):
    load_ctgov_file(db, CTGOV / "legacy_rss.xml")
    assert trial(db, "NCT03384433")["enrollment"] is None
    stats = load_ctgov_file(db, CTGOV / "legacy_NCT03384433.xml")
    assert stats.updated == 1
    row = trial(db, "NCT03384433")
    assert row["enrollment"] == 5 and json.loads(row["phases"]) == ["PHASE1", "PHASE2"]
    assert db.execute("select count(*) from trial_interventions").fetchone()[0] == 1
    assert json.loads(row["countries"]) == ["Iran, Islamic Republic of"]


def test_trial_tables_hold_sites_outcomes_and_identifiers(db):
    load_ctgov_file(db, CTGOV / "v2_studies_page2.json")
    treasure = trial(db, "NCT02961504")
    assert treasure["acronym"] == "TREASURE"
    identifiers = {r[0] for r in db.execute("select identifier from trial_ids where trial_id = ?", [treasure["id"]])}
    assert "NCT02961504" in identifiers
    assert db.execute("select count(*) from trials_fts where trials_fts match 'multistem'").fetchone()[0] == 1


def test_a_trial_reference_links_the_trial_to_the_work_whichever_loads_first(db, tmp_path):
    load_ctgov_file(db, CTGOV / "v2_studies_page2.json")
    link = db.execute("select relation, to_work_id, evidence from links where from_id = 'NCT02961504' "
                      "and to_id = '38227308'").fetchone()
    assert link[0] == "reported_in" and link[1] is None and link[2].startswith("RESULT")
    protocol = db.execute("select relation from links where to_id = '29134924'").fetchone()[0]
    assert protocol == "background_for"
    treasure_paper = EFETCH.read_bytes().replace(b">27497862<", b">38227308<")
    path = tmp_path / "treasure.xml"
    path.write_bytes(treasure_paper)
    load_pubmed_file(db, path)
    work_id = db.execute("select id from works where pmid = '38227308'").fetchone()[0]
    assert db.execute("select to_work_id from links where to_id = '38227308'").fetchone()[0] == work_id


def test_a_work_naming_a_registry_number_is_registered_as_that_trial(db):
    load_pubmed_file(db, EFETCH)  # PISCES names NCT01151124 in its DataBankList
    load_ctgov_file(db, CTGOV / "v2_studies_page1.json")
    row = db.execute("""select w.pmid, t.nct_id, l.evidence from links l join works w on w.id = l.from_work_id
                        join trials t on t.id = l.to_trial_id where l.relation = 'registered_as'""").fetchone()
    assert row == ("27497862", "NCT01151124", "DataBankList names NCT01151124")


def test_a_registry_number_in_the_abstract_is_found_too(db, tmp_path):
    data = EFETCH.read_bytes().replace(b"with a 3-months follow-up.", b"with a 3-months follow-up (IRCT20170117032004N1).")
    path = tmp_path / "seed.xml"
    path.write_bytes(data)
    load_pubmed_file(db, path)
    row = db.execute("select registry, found_in, scheme from registry_ids where accession = 'IRCT20170117032004N1'"
                     ).fetchone()
    assert row == ("IRCT", "abstract", "irct")


def test_the_seed_paper_links_to_its_trial_by_evidence_alone(db):
    demo.build(db)
    row = db.execute("""select l.score, l.evidence from links l join works w on w.id = l.from_work_id
                        join trials t on t.id = l.to_trial_id
                        where l.relation = 'probably_same_study' and w.pmid = '35281985'
                        and t.nct_id = 'NCT03384433'""").fetchone()
    assert row is not None and row[0] >= 0.5
    assert "Isfahan University of Medical Sciences" in row[1] and "enrolled 5" in row[1]
    others = db.execute("""select t.nct_id from links l join works w on w.id = l.from_work_id
                           join trials t on t.id = l.to_trial_id
                           where l.relation = 'probably_same_study' and w.pmid = '35281985'""").fetchall()
    assert others == [("NCT03384433",)]  # the other MSC-exosome trials share the topic, not the study


def test_same_topic_without_shared_institutions_or_people_is_a_near_miss(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    stranger = (CTGOV / "v2_NCT03384433.json").read_text()
    for old, new in (("NCT03384433", "NCT09999999"), ("Isfahan University of Medical Sciences", "Tianjin Medical University"),
                     ("Tarbiat Modarres University", "Ruijin Hospital"),
                     ("Shahid Beheshti University of Medical Sciences", "Tianjin Medical University Hospital")):
        stranger = stranger.replace(old, new)
    path = tmp_path / "stranger.json"
    path.write_text(stranger)
    load_ctgov_file(db, path)
    assert link_studies(db) == 0
    load_ctgov_file(db, CTGOV / "v2_NCT03384433.json")
    assert link_studies(db) == 1
    assert link_studies(db) == 1  # recomputing replaces, never duplicates


def test_an_id_listed_under_two_domains_keeps_a_row_for_each(db):
    load_ctgov_file(db, CTGOV / "v2_NCT04267848_ids.json")
    rows = db.execute("select position, identifier, id_type, domain from trial_ids order by position").fetchall()
    assert rows == [
        (1, "NCT04267848", "NCT", None),
        (2, "NCI-2020-00751", "ORG_STUDY_ID", None),
        (3, "NCI-2020-00751", "REGISTRY", "CTRP (Clinical Trial Reporting Program)"),
        (4, "A081801", "OTHER", "Alliance for Clinical Trials in Oncology"),
        (5, "A081801", "OTHER", "CTEP"),
        (6, "U10CA180821", "NIH", None)]


def test_a_kb_keyed_by_identifier_gets_numbered_trial_ids(tmp_path):
    path = str(tmp_path / "old.db")
    old = sqlite_utils.Database(path)
    old["trial_ids"].create({"trial_id": int, "identifier": str, "registry": str, "id_type": str, "domain": str},
                            pk=("trial_id", "identifier"))
    old["trial_ids"].insert_all([{"trial_id": 1, "identifier": "NCT03384433", "id_type": "NCT"},
                                 {"trial_id": 1, "identifier": "IRCT20170117032004N1", "id_type": "REGISTRY"},
                                 {"trial_id": 2, "identifier": "NCT01151124", "id_type": "NCT"}])
    old.close()
    db = open_db(path)
    assert db["trial_ids"].pks == ["trial_id", "position"]
    assert db.execute("select trial_id, position, identifier from trial_ids order by trial_id, position").fetchall() == [
        (1, 1, "NCT03384433"), (1, 2, "IRCT20170117032004N1"), (2, 1, "NCT01151124")]
    load_ctgov_file(db, CTGOV / "v2_NCT04267848_ids.json")
    assert db.execute("select count(*) from trial_ids where identifier = 'A081801'").fetchone()[0] == 2


def test_the_kind_of_expanded_access_and_a_registry_are_columns_apart(db, tmp_path):
    data = (CTGOV / "legacy_export.csv").read_text().replace(
        '"Interventional","Allocation', '"Expanded Access:Individual Patients|Treatment IND/Protocol","Allocation', 1)
    path = tmp_path / "export.csv"
    path.write_text(data)
    load_ctgov_file(db, path)
    row = trial(db, "NCT03384433")
    assert (row["study_type"], json.loads(row["expanded_access_types"]), row["patient_registry"]) == (
        "EXPANDED_ACCESS", ["individual", "treatment"], None)
    assert trial(db, "NCT03437759")["expanded_access_types"] is None


# The trials_fts columns an older regenkb made, before sites and eligibility were searchable.
OLDER_TRIAL_FTS = ("title", "conditions", "interventions", "outcomes", "sponsor", "summary", "keywords")


def test_a_sites_city_finds_its_trial_through_search_json_and_kb_search(demo_site):
    db, datasette = demo_site
    path = db.execute("PRAGMA database_list").fetchone()[2]
    nct = "NCT02961504"  # its one site is Hokkaido University Hospital, Sapporo
    assert db.execute("select count(*) from trial_sites s join trials t on t.id = s.trial_id "
                      "where t.nct_id = ? and s.city = 'Sapporo'", [nct]).fetchone()[0] == 1
    # Only the sites column names Sapporo: the rest of the trial's text does not.
    assert not db.execute(f"select count(*) from trials_fts where trials_fts match "
                          f"'{{{' '.join(OLDER_TRIAL_FTS)}}}: sapporo'").fetchone()[0]
    answer = asyncio.run(datasette.client.get("/-/search.json?q=Sapporo&kind=trials")).json()
    assert [hit["nct_id"] for hit in answer["rows"]] == [nct]
    hits = json.loads(CliRunner().invoke(cli, ["search", "--trials", "Sapporo", "--json", "--db", path]).output)
    assert [hit["nct_id"] for hit in hits] == [nct] and "<mark>Sapporo</mark>" in hits[0]["snippet"]
    hospital = find(db.conn, "Hokkaido University Hospital", kind="trials")["rows"]
    assert nct in [hit["nct_id"] for hit in hospital]


def test_words_of_the_eligibility_criteria_find_the_trial(tmp_path):
    """Real records: 'dentures' is only in NCT05594173's exclusion criteria, 'sacroiliitis' only in
    NCT02552212's inclusion criteria."""
    db = open_db(str(tmp_path / "kb.db"))
    folder = real_data() / "ctgov"
    for name in ("aact__v2_NCT05594173_dysphagia_results.json", "aact__v2_NCT02552212_105locations.json"):
        load_ctgov_file(db, folder / name)
    for word, nct in (("dentures", "NCT05594173"), ("sacroiliitis", "NCT02552212")):
        criteria = trial(db, nct)["eligibility_criteria"]
        assert word in criteria.lower()
        assert [hit["nct_id"] for hit in find(db.conn, word, kind="trials")["rows"]] == [nct], word


def test_an_older_kb_gains_searchable_sites_and_eligibility_read_again_from_its_records(tmp_path):
    path = tmp_path / "older.db"
    db = open_db(str(path))
    folder = real_data() / "ctgov"
    for name in ("aact__v2_NCT05594173_dysphagia_results.json", "aact__v2_NCT06171568_brain_injury.json",
                 "aact__legacyxml_NCT02830269_brain_injuries.xml"):
        load_ctgov_file(db, folder / name)
    fresh = {row["nct_id"]: row for row in db.query("select * from trials")}
    columns = ", ".join(OLDER_TRIAL_FTS)
    with sqlite3.connect(path) as older:  # as a regenkb of before made it
        for column in ("std_ages", "eligibility_criteria", "study_population"):
            older.execute(f"ALTER TABLE trials DROP COLUMN {column}")
        older.execute(f"CREATE VIRTUAL TABLE trials_fts_v1 USING fts5({columns}, "
                      "tokenize='porter unicode61 remove_diacritics 2')")
        older.execute(f"INSERT INTO trials_fts_v1 (rowid, {columns}) SELECT rowid, {columns} FROM trials_fts")
        older.execute("DROP TABLE trials_fts")
        older.execute("ALTER TABLE trials_fts_v1 RENAME TO trials_fts")
        for word in ("dentures", "neurointensive", "uhmontpellier", "ontario"):
            assert not older.execute("select count(*) from trials_fts where trials_fts match ?", [word]).fetchone()[0]
    db = open_db(str(path))
    assert {"sites", "eligibility"} <= set(db["trials_fts"].columns_dict)
    for nct, row in fresh.items():
        again = trial(db, nct)
        assert [again[c] for c in ("std_ages", "eligibility_criteria", "study_population")] == [
            row[c] for c in ("std_ages", "eligibility_criteria", "study_population")], nct
    assert fresh["NCT05594173"]["eligibility_criteria"] and fresh["NCT02830269"]["study_population"]
    # Only the criteria, the study population, a facility's name and a state name these trials with these words.
    for query, nct in (("dentures", "NCT05594173"), ("neurointensive", "NCT02830269"), ("UHMontpellier", "NCT02830269"),
                       ("Ontario", "NCT05594173")):
        assert nct in [hit["nct_id"] for hit in find(db.conn, query, kind="trials")["rows"]], query
    assert db["trials_fts"].count == len(fresh)


def test_an_older_kb_gives_trials_loaded_from_csv_exports_their_age_groups(tmp_path):
    path = tmp_path / "older.db"
    db = open_db(str(path))
    files = [real_data() / "ctgov" / "jesnyder__legacy_csv_MSC_exosome_trials.csv", CTGOV / "current_export.csv"]
    expected = {}
    for file in files:
        load_ctgov_file(db, file)
        for row in csv.DictReader(io.StringIO(file.read_text(encoding="utf-8-sig"))):
            # The legacy export's Age: '18 Years to 75 Years   (Adult, Older Adult)'; the current one's 'ADULT, OLDER_ADULT'.
            groups = re.search(r"\(([^()]*)\)\s*$", row["Age"]).group(1) if "(" in row["Age"] else row["Age"]
            expected[row["NCT Number"]] = [g.strip().upper().replace(" ", "_") for g in groups.split(",") if g.strip()]
    with sqlite3.connect(path) as older:  # as a regenkb of before made it
        for column in ("std_ages", "eligibility_criteria", "study_population"):
            older.execute(f"ALTER TABLE trials DROP COLUMN {column}")
    db = open_db(str(path))
    assert len(expected) > 15 and all(expected.values())
    assert {nct: json.loads(trial(db, nct)["std_ages"] or "[]") for nct in expected} == expected
