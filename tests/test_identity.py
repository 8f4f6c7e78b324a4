import asyncio
import json

import pytest

from harvest.records import new_author, new_work
from kb import affiliations, authors, institutions, serve
from kb.db import open_db
from kb.ingest import load_pubmed_file, refresh
from kb.load import WorkLoader
from kb.names import parse_name

from conftest import EFETCH

SEED_PMID = "35281985"
SBMU = "Shahid Beheshti University of Medical Sciences"
MUI = "Isfahan University of Medical Sciences"


def people_of(db, pmid):
    return {position: (author_id, written) for position, author_id, written in db.execute(
        "select wa.position, wa.author_id, wa.written_name from works w join work_authors wa on wa.work_id = w.id "
        "where w.pmid = ?", [pmid])}


def test_the_seed_paper_has_ten_people_and_soleimani_m_has_three_affiliations(db):
    load_pubmed_file(db, EFETCH)
    refresh(db)
    people = people_of(db, SEED_PMID)
    assert len(people) == 10 and len({author_id for author_id, _ in people.values()}) == 10
    soleimani_m, soleimani_r = people[3][0], people[10][0]
    assert (people[3][1], people[10][1]) == ("Soleimani M", "Soleimani R") and soleimani_m != soleimani_r
    places = [row[0] for row in db.execute(
        "select af.name from work_authors wa join work_author_affiliations waa on waa.work_id = wa.work_id "
        "and waa.position = wa.position join affiliations af on af.id = waa.affiliation_id where wa.author_id = ?",
        [soleimani_m])]
    assert len(places) == 3
    person = db["authors"].get(soleimani_m)
    assert person["name"] == "Masoud Soleimani" and json.loads(person["institutions"]) == [
        f"{SBMU} (1)", "Tarbiat Modares University (1)"]


SEED_AFFILIATIONS = [
    ("Department of Tissue Engineering and Applied Cell Sciences, School of Advanced Technologies in Medicine, "
     f"{SBMU}, Tehran, Iran", "Department of Tissue Engineering and Applied Cell Sciences", SBMU, "Tehran"),
    ("Department of Hematology, Faculty of Medical Sciences, Tarbiat Modares University, Tehran, Iran",
     "Department of Hematology", "Tarbiat Modares University", "Tehran"),
    (f"Medical Nanotechnology and Tissue Engineering Research Center, {SBMU}, Tehran, Iran",
     "Medical Nanotechnology and Tissue Engineering Research Center", SBMU, "Tehran"),
    ("Functional Neurosurgery Research Center, Shohada Tajrish Comprehensive Neurosurgical Center of Excellence, "
     f"{SBMU}, Tehran, Iran", "Functional Neurosurgery Research Center", SBMU, "Tehran"),
    (f"Department of Neurology, School of Medicine, {MUI}, Isfahan, Iran", "Department of Neurology", MUI, "Isfahan"),
    (f"Department of Neurosurgery, School of Medicine, {MUI}, Isfahan, Iran", "Department of Neurosurgery", MUI,
     "Isfahan"),
    (f"Department of Immunology, School of Medicine, {SBMU}, Tehran, Iran", "Department of Immunology", SBMU, "Tehran"),
    (f"Department of Neurology, {SBMU}, Tehran, Iran", "Department of Neurology", SBMU, "Tehran"),
]


@pytest.mark.parametrize("text,department,institution,city", SEED_AFFILIATIONS)
def test_the_seed_affiliations_parse_into_department_institution_city_and_country(text, department, institution,
                                                                                   city):
    parsed = affiliations.parse(text)
    assert (parsed.department, parsed.institution, parsed.city, parsed.country) == (department, institution, city,
                                                                                     "IR")
    assert parsed.type == "education"


def test_affiliation_strings_lose_email_tails_and_split_when_they_hold_two():
    assert affiliations.parse("Harvard Medical School, Boston, MA 02115, USA. Electronic address: a.b@hms.org."
                              ) == affiliations.Affiliation("Harvard Medical School, Boston, MA 02115, USA", None,
                                                            "Harvard Medical School", "Boston", "US", "education")
    two = affiliations.split_affiliations(
        f"Department of Neurology, {MUI}, Isfahan, Iran; Stem Cell Research Center, Tabriz University of Medical "
        "Sciences, Tabriz 5166614756, Iran. x@tbzmed.ac.ir")
    assert [affiliations.parse(part).city for part in two] == ["Isfahan", "Tabriz"]
    assert affiliations.split_affiliations("Department of Neurology; Stroke Unit") == (
        "Department of Neurology; Stroke Unit",)
    hospital = affiliations.parse("Department of Neurology, Massachusetts General Hospital, 55 Fruit Street, "
                                  "Boston, MA 02114, USA")
    assert (hospital.institution, hospital.city, hospital.type) == ("Massachusetts General Hospital", "Boston",
                                                                   "healthcare")
    assert affiliations.parse("Samsung Medical Center, Seoul, Republic of Korea").country == "KR"
    epfl = [affiliations.parse(text) for text in (
        "National Centre of Competence in Research (NCCR) Catalysis, EPFL, Lausanne, Switzerland",
        "Laboratory of Artificial Chemical Intelligence (LIAC), ISIC, EPFL, Lausanne, Switzerland")]
    assert {(a.institution, a.city, a.country) for a in epfl} == {("EPFL", "Lausanne", "CH")}
    assert affiliations.parse("Accelerated Discovery, IBM Research – Europe, Rüschlikon, Switzerland"
                              ).institution == "IBM Research – Europe"
    assert affiliations.parse("Institute of Neuroscience, University of Glasgow, Glasgow, UK").country == "GB"


def test_name_forms_compare_by_initials_and_levelled_given_names():
    masoud = parse_name("Soleimani", "Masoud", "M")
    assert masoud.compatible(parse_name("Soleimani", None, "M"))
    assert masoud.compatible(parse_name("Soleimani", "Masood"))
    assert not masoud.compatible(parse_name("Soleimani", "Mohammad", "M"))
    assert not masoud.compatible(parse_name("Soleimani", None, "R"))
    assert parse_name("Keshel", None, "SH").initials == "sh"
    assert parse_name("Keshel", "Saeed Heidari").compatible(parse_name("Keshel", None, "SH"))
    assert not parse_name("Keshel", None, "SH").compatible(parse_name("Keshel", None, "SM"))
    assert parse_name("Saadatnia", "Mohammad").compatible(parse_name("Saadatnia", "Muhammad"))
    assert not parse_name("Zali", "Mahmoud").compatible(parse_name("Zali", "Mohammad"))
    assert parse_name("Oraee-Yazdani", "Saeed").surname == parse_name("Oraee Yazdani", "S").surname == "oraeeyazdani"
    assert parse_name("Müller", "Jürgen").compatible(parse_name("Muller", "Jurgen"))
    assert parse_name("سلیمانی", "مسعود").surname == "slymny"


def work(pmid, year, title, people, mesh=()):
    """A record whose people are (last, fore, initials, affiliation, orcid) tuples."""
    record = new_work(pmid=pmid, title=title, year=year, mesh=[
        {"ui": f"D{abs(hash(term)) % 10**6:06d}", "name": term, "major": False, "qualifiers": []} for term in mesh],
        authors=[new_author(i, last_name=last, fore_name=fore, initials=initials, orcid=orcid,
                            affiliations=[{"name": place, "identifiers": {}}] if place else [])
                 for i, (last, fore, initials, place, orcid) in enumerate(people, 1)])
    record["raw"] = f"<PubmedArticle>{pmid}</PubmedArticle>".encode()
    return record


TEHRAN = f"Department of Tissue Engineering, {SBMU}, Tehran, Iran"
STROKE = ("Stroke", "Mesenchymal Stem Cells", "Exosomes")


@pytest.fixture
def hard_cases(db):
    records = [
        # One person, three name forms: full name, initials only, and a transliteration.
        work("1", 2019, "Exosomes after stroke", [("Soleimani", "Masoud", "M", TEHRAN, None),
                                                  ("Hashemi", "Seyed Mahmoud", "SM", TEHRAN, None)], STROKE),
        work("2", 2021, "Exosome therapy in rats", [("Soleimani", None, "M", "Tarbiat Modares University, Tehran, Iran",
                                                     None), ("Hashemi", None, "S", TEHRAN, None)], STROKE),
        work("3", 2022, "Placental exosomes", [("Soleimani", "Masood", "M", TEHRAN, None),
                                               ("Zali", "Alireza", "A", TEHRAN, None)], STROKE),
        # Same surname and initial, a different person: other coauthors, country and topic.
        work("4", 2015, "Soil bacteria in wheat fields", [("Soleimani", None, "M", "Faculty of Agriculture, "
                                                           "University of Tabriz, Tabriz, Iran", None),
                                                          ("Rahimi", None, "K", None, None)], ("Soil Microbiology",)),
        # Same surname and initial, spelled-out given names that differ: never one person.
        work("5", 2021, "Exosomes and neurogenesis", [("Soleimani", "Mohammad", "M", "Department of Pharmacology, "
                                                       "Tehran University of Medical Sciences, Tehran, Iran", None),
                                                      ("Karimi", None, "A", None, None)], STROKE),
        # Two ORCIDs: two people, whatever else they share.
        work("6", 2020, "Stem cells for stroke", [("Dehghani", "Leila", "L", TEHRAN, "0000-0001-0000-0001"),
                                                  ("Hashemi", None, "SM", TEHRAN, None)], STROKE),
        work("7", 2020, "Stem cells in stroke", [("Dehghani", "Leila", "L", TEHRAN, "0000-0002-0000-0002"),
                                                 ("Hashemi", None, "SM", TEHRAN, None)], STROKE),
        # One ORCID across two name forms and two institutions.
        work("8", 2018, "Neurology of stroke", [("Saadatnia", "Mohammad", "M", f"Department of Neurology, {MUI}, "
                                                 "Isfahan, Iran", "0000-0003-0000-0003")], ("Stroke",)),
        work("9", 2023, "Stroke trials", [("Saadatnia", None, "M", "Stroke Unit, Alzahra Hospital, Isfahan, Iran",
                                           "0000-0003-0000-0003")], ("Stroke",)),
        # SH and SM: second initials that differ are two people.
        work("10", 2022, "Cord blood cells", [("Keshel", None, "SH", TEHRAN, None),
                                              ("Hashemi", None, "SM", TEHRAN, None)], STROKE),
        work("11", 2022, "Cord blood exosomes", [("Keshel", None, "SM", TEHRAN, None),
                                                 ("Hashemi", None, "SM", TEHRAN, None)], STROKE),
    ]
    WorkLoader(db, "pubmed").write_batch(records, "hand-built")
    refresh(db)
    return db


def person(db, pmid, position):
    return people_of(db, pmid)[position][0]


def test_one_person_behind_a_full_name_initials_and_a_transliteration(hard_cases):
    assert person(hard_cases, "1", 1) == person(hard_cases, "2", 1) == person(hard_cases, "3", 1)
    row = hard_cases["authors"].get(person(hard_cases, "1", 1))
    assert row["works"] == 3 and (row["first_year"], row["last_year"]) == (2019, 2022)
    assert row["name"] == "Masoud Soleimani" and 0 < row["confidence"] <= 1
    assert any("coauthor(s) in common" in reason for reason in json.loads(row["evidence"]))


def test_same_surname_and_initial_with_nothing_in_common_stays_apart(hard_cases):
    assert person(hard_cases, "4", 1) != person(hard_cases, "2", 1)


def test_given_names_that_differ_are_never_one_person(hard_cases):
    assert person(hard_cases, "5", 1) != person(hard_cases, "1", 1)
    assert person(hard_cases, "5", 1) != person(hard_cases, "2", 1)  # nor joined through the initials-only form


def test_an_initials_only_form_that_fits_two_people_equally_joins_neither(db):
    both = [("Hashemi", None, "SM", TEHRAN, None)]
    WorkLoader(db, "pubmed").write_batch([
        work("1", 2020, "Exosomes after stroke", [("Soleimani", "Masoud", "M", TEHRAN, None), *both], STROKE),
        work("2", 2021, "Exosomes in stroke", [("Soleimani", "Mohammad", "M", TEHRAN, None), *both], STROKE),
        work("3", 2022, "Exosomes for stroke", [("Soleimani", None, "M", TEHRAN, None), *both], STROKE)], "hand-built")
    refresh(db)
    assert len({person(db, pmid, 1) for pmid in "123"}) == 3
    assert "fits two people" in db["authors"].get(person(db, "3", 1))["evidence"]


def test_two_orcids_are_two_people_and_one_orcid_is_one(hard_cases):
    assert person(hard_cases, "6", 1) != person(hard_cases, "7", 1)
    assert person(hard_cases, "8", 1) == person(hard_cases, "9", 1)
    assert hard_cases["authors"].get(person(hard_cases, "8", 1))["orcid"] == "0000-0003-0000-0003"


def test_two_initials_that_differ_are_two_people(hard_cases):
    assert person(hard_cases, "10", 1) != person(hard_cases, "11", 1)
    assert person(hard_cases, "10", 2) == person(hard_cases, "11", 2) == person(hard_cases, "6", 2)


def test_a_curators_split_and_merge_survive_a_full_rerun(hard_cases):
    db = hard_cases
    masoud = person(db, "1", 1)
    work_3 = db.execute("select id from works where pmid = '3'").fetchone()[0]
    moved = authors.split_person(db, masoud, [work_3], note="a namesake")
    assert person(db, "3", 1) == moved != person(db, "1", 1)
    authors.resolve(db, everything=True)
    assert person(db, "3", 1) != person(db, "1", 1) == person(db, "2", 1)
    merged = authors.merge_people(db, person(db, "4", 1), person(db, "1", 1))
    authors.resolve(db, everything=True)
    assert person(db, "4", 1) == person(db, "1", 1) == merged
    assert person(db, "3", 1) != merged
    decisions = [row[0] for row in db.execute("select decision from author_curations order by id")]
    assert decisions == ["different", "different", "same"]  # work 3 apart from works 1 and 2; work 4 joined


def test_institution_spellings_map_to_one_institution_within_a_country(db):
    places = [f"Department of Neurology, {SBMU}, Tehran, Iran",
              "Dept. of Immunology, Shahid Beheshti Univ. of Med. Sci., Tehran, Iran",
              "Department of Surgery, Shahid Behesti University of Medical Sciences, Tehran, Iran",
              f"Department of Neurology, {MUI}, Isfahan, Iran",
              "Department of Neurology, Shahid Beheshti University of Medical Sciences, Tehran, Irak"]
    records = [work(str(i), 2020, f"Work {i}", [(f"Person{i}", "Ann", "A", place, None)])
               for i, place in enumerate(places, 1)]
    records[0]["authors"][0]["affiliations"][0]["identifiers"] = {"ror": "https://ror.org/034m2b326"}
    WorkLoader(db, "pubmed").write_batch(records, "hand-built")
    institutions.resolve(db)
    mapped = {name: iid for name, iid in db.execute("select name, institution_id from affiliations")}
    sbmu = {mapped[place] for place in places[:3]}
    assert len(sbmu) == 1 and mapped[places[3]] not in sbmu and mapped[places[4]] not in sbmu
    row = db["institutions"].get(sbmu.pop())
    assert (row["ror"], row["country"], row["city"], row["type"]) == ("https://ror.org/034m2b326", "IR", "Tehran",
                                                                      "education")
    assert row["works"] == 3 and len(json.loads(row["name_forms"])) == 3
    assert db["departments"].count == 5  # one per institution and department name


def test_canned_queries_browse_people_and_institutions(hard_cases, tmp_path):
    path = hard_cases.conn.execute("pragma database_list").fetchone()[2]
    datasette = serve.datasette_for(path)

    def get(url):
        return asyncio.run(datasette.client.get(url)).json()

    masoud = person(hard_cases, "1", 1)
    assert len(get(f"/kb/author_works.json?author_id={masoud}&_shape=array")) == 3
    coauthors = get(f"/kb/author_coauthors.json?author_id={masoud}&_shape=array")
    assert coauthors[0]["joint_works"] == 2 and "Hashemi" in coauthors[0]["coauthor"]
    people = get("/kb/institution_authors.json?institution=Shahid+Beheshti&_shape=array")
    assert people[0]["works_here"] >= 4
    assert len(get("/kb/institution_works.json?institution=Tarbiat&_shape=array")) == 1


def test_a_kb_from_before_people_is_migrated_and_clustered_again(tmp_path):
    path = str(tmp_path / "old.db")
    db = open_db(path)
    load_pubmed_file(db, EFETCH)
    # The old shape: `authors` held name forms and work_authors pointed at them.
    db.execute("drop table authors")
    db.execute("alter table author_names rename to authors")
    db.execute("update work_authors set author_id = name_id")
    db.execute("drop index idx_work_authors_name_id")
    db["work_authors"].transform(drop={"name_id"})
    db.conn.commit()
    migrated = open_db(path)
    assert migrated["author_names"].count > 0 and migrated["authors"].count == 0
    refresh(migrated)
    assert len({author_id for author_id, _ in people_of(migrated, SEED_PMID).values()}) == 10
