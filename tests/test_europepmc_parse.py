import json

import pytest

from harvest import europepmc
from kb.ingest import load_works_file

from conftest import FIXTURES

CORE = FIXTURES / "europepmc" / "core_MED_22663011"


def record_of(data):
    items, _ = europepmc.parse_payload(data, "test")
    return items[0]


@pytest.mark.parametrize("suffix", [".json", ".xml"])
def test_a_collective_author_of_a_core_answer_is_a_collective_author(suffix):
    metric = record_of(CORE.with_suffix(suffix).read_bytes())
    assert [(a["written_name"], a["last_name"], a["collective_name"]) for a in metric["authors"]] == [
        ("Flaherty KT", "Flaherty", None), ("Robert C", "Robert", None), ("Schadendorf D", "Schadendorf", None),
        ("METRIC Study Group", None, "METRIC Study Group")]
    assert [a["name"] for a in metric["authors"][0]["affiliations"]] == [
        "Massachusetts General Hospital Cancer Center, Boston, MA 02114, USA."]


@pytest.mark.parametrize("suffix", [".json", ".xml"])
def test_both_issns_volume_and_mesh_majors_of_a_core_answer_are_kept(suffix):
    metric = record_of(CORE.with_suffix(suffix).read_bytes())
    assert (metric["issn"], metric["eissn"]) == ("0028-4793", "1533-4406")
    assert (metric["journal"], metric["volume"], metric["issue"], metric["pages"]) == (
        "The New England journal of medicine", "367", "2", "107-114")
    assert metric["mesh"][0] == {"ui": "Melanoma", "name": "Melanoma", "major": True,
                                 "qualifiers": ["drug therapy", "genetics"], "descriptor_major": False,
                                 "major_qualifiers": ["drug therapy"]}
    assert metric["cited_by_count"] == 1594


def test_the_xml_answer_reads_as_its_json_twin():
    from_json = record_of(CORE.with_suffix(".json").read_bytes())
    from_xml = record_of(CORE.with_suffix(".xml").read_bytes())
    assert {key: value for key, value in from_xml.items() if key != "raw"} == \
        {key: value for key, value in from_json.items() if key != "raw"}


def lite(author_string, issns="0028-4793; 1533-4406; "):
    page = {"hitCount": 1, "resultList": {"result": [{
        "id": "22663011", "source": "MED", "pmid": "22663011", "title": "Improved survival with MEK inhibition.",
        "authorString": author_string, "journalTitle": "N Engl J Med", "pubYear": "2012", "journalIssn": issns}]}}
    return record_of(json.dumps(page).encode())


def test_a_group_at_the_end_of_a_lite_author_string_is_a_collective_author():
    metric = lite("Flaherty KT, Robert C, Schadendorf D, METRIC Study Group.")
    assert [(a["last_name"], a["initials"], a["collective_name"]) for a in metric["authors"]] == [
        ("Flaherty", "KT", None), ("Robert", "C", None), ("Schadendorf", "D", None), (None, None, "METRIC Study Group")]
    assert metric["authors"][3]["written_name"] == "METRIC Study Group"


@pytest.mark.parametrize("name, last_name, initials, collective", [
    ("Şen Ş", "Şen", "Ş", None),
    ("Smit VTHBM", "Smit", "VTHBM", None),
    ("Tseng H-", "Tseng", "H-", None),
    ("Da Zhou", "Da Zhou", None, None),  # a person written without initials stays a person
    ("TUBA-WISP II consortium", None, None, "TUBA-WISP II consortium"),
    ("IASLC Basic and Translational Science Committee", None, None, "IASLC Basic and Translational Science Committee"),
    ("GEC-ESTRO", None, None, "GEC-ESTRO"),
])
def test_each_name_of_a_lite_author_string_is_told_apart(name, last_name, initials, collective):
    author, = lite(name + ".")["authors"]
    assert (author["last_name"], author["initials"], author["collective_name"]) == (last_name, initials, collective)


def test_a_lite_answer_keeps_its_issns():
    assert (lite("Kwok C.")["issn"], lite("Kwok C.")["eissn"]) == ("0028-4793", "1533-4406")
    assert (lite("Kwok C.", "2234-943x")["issn"], lite("Kwok C.", "2234-943x")["eissn"]) == ("2234-943X", None)


def test_a_collective_author_loads_as_a_group_not_a_person(db):
    load_works_file(db, "europepmc", CORE.with_suffix(".json"))
    assert db.execute("select name, last_name, is_collective from author_names order by is_collective").fetchall()[-1] \
        == ("METRIC Study Group", None, 1)
    assert db.execute("select issn, eissn from works").fetchone() == ("0028-4793", "1533-4406")
    assert db.execute("select position, name from work_investigators").fetchall() == [
        (1, "Cinat G"), (2, "Begbie S"), (3, "Petrella T")]
    assert db.execute("select count(*) from author_names where last_name = 'Cinat'").fetchone()[0] == 0


@pytest.mark.parametrize("suffix", [".json", ".xml"])
def test_investigators_of_a_core_answer_are_kept_apart_from_its_authors(suffix):
    metric = record_of(CORE.with_suffix(suffix).read_bytes())
    assert [(i["position"], i["last_name"], i["initials"]) for i in metric["investigators"]] == [
        (1, "Cinat", "G"), (2, "Begbie", "S"), (3, "Petrella", "T")]
    assert len(metric["authors"]) == 4
