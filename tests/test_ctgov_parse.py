import pytest

from harvest import ctgov
from harvest.errors import ParseError

from conftest import FIXTURES

CTGOV = FIXTURES / "ctgov"
FULL_FORMATS = ["v2_NCT03384433.json", "v1classic_NCT03384433.json", "legacy_NCT03384433.xml"]


def parse(name):
    items, meta = ctgov.parse_payload((CTGOV / name).read_bytes(), name)
    assert not [i for i in items if isinstance(i, ParseError)]
    return {item["nct_id"]: item for item in items}, meta


@pytest.mark.parametrize("name", FULL_FORMATS + ["legacy_export.csv"])
def test_every_format_gives_the_same_facts_in_v2_spelling(name):
    trial = parse(name)[0]["NCT03384433"]
    assert trial["brief_title"] == "Allogenic Mesenchymal Stem Cell Derived Exosome in Patients With Acute Ischemic Stroke"
    assert trial["overall_status"] == "RECRUITING"
    assert trial["phases"] == ["PHASE1", "PHASE2"]
    assert trial["study_type"] == "INTERVENTIONAL"
    assert (trial["allocation"], trial["intervention_model"], trial["masking"]) == ("NA", "SINGLE_GROUP", "NONE")
    assert trial["enrollment"] == 5
    assert trial["start_date"] == "2019-04-17" and trial["completion_date"] == "2021-12-17"
    assert trial["lead_sponsor"] == "Isfahan University of Medical Sciences"
    assert trial["collaborators"] == ["Tarbiat Modarres University"]
    assert trial["conditions"] == ["Cerebrovascular Disorders"]
    assert [(i["type"], i["name"]) for i in trial["interventions"]] == [("BIOLOGICAL", "exosome")]
    assert (trial["min_age"], trial["max_age"], trial["sex"]) == ("40 Years", "80 Years", "ALL")
    site = trial["sites"][0]
    assert (site["facility"], site["city"], site["country"]) == (
        "Shahid Beheshti University of Medical Sciences", "Tehran", "Iran, Islamic Republic of")
    assert trial["org_study_id"] == "med shahid beheshti university"
    assert {o["measure"] for o in trial["outcomes"]} == {
        "Incidence of Treatment-Emergent Adverse Events", "measurement of Modified Ranking Scale"}


def test_csv_and_rss_are_summaries_and_full_formats_are_full():
    assert parse("legacy_export.csv")[0]["NCT03384433"]["completeness"] == ctgov.SUMMARY
    assert parse("legacy_rss.xml")[0]["NCT03384433"]["completeness"] == ctgov.SUMMARY
    for name in FULL_FORMATS:
        assert parse(name)[0]["NCT03384433"]["completeness"] == ctgov.FULL


def test_rss_items_give_id_title_status_conditions_and_sponsors():
    trial = parse("legacy_rss.xml")[0]["NCT03384433"]
    assert trial["overall_status"] == "RECRUITING"
    assert trial["conditions"] == ["Cerebrovascular Disorders"]
    assert trial["lead_sponsor"] == "Isfahan University of Medical Sciences"
    assert trial["collaborators"] == ["Tarbiat Modarres University"]


def test_v2_pages_carry_the_next_page_token_and_the_total_only_on_the_first_page():
    first, meta = parse("v2_studies_page1.json")
    assert list(first) == ["NCT03384433", "NCT01151124"]
    assert meta == {"next_page_token": "NF0g5JGBlPMuxw", "total_count": 3}
    _, meta = parse("v2_studies_page2.json")
    assert meta == {"next_page_token": None, "total_count": None}


def test_references_keep_their_type_and_the_classic_mesh_ids():
    page, _ = parse("v2_studies_page2.json")
    treasure = page["NCT02961504"]
    assert {(r["pmid"], r["type"]) for r in treasure["references"]} == {("38227308", "RESULT"), ("29134924", "BACKGROUND")}
    v1 = parse("v1classic_NCT03384433.json")[0]["NCT03384433"]
    assert v1["condition_mesh"] == [{"id": "D000002561", "term": "Cerebrovascular Disorders"}]


def test_unknown_enum_values_are_kept_as_text():
    data = (CTGOV / "v2_NCT03384433.json").read_bytes().replace(b'"RECRUITING"', b'"PAUSED_FOR_REVIEW"')
    trial = ctgov.parse_payload(data, "x")[0][0]
    assert trial["overall_status"] == "PAUSED_FOR_REVIEW"
    assert ctgov.enum("Available for expanded access") == "AVAILABLE_FOR_EXPANDED_ACCESS"


def test_secondary_ids_are_recognised_as_registry_numbers():
    trial = ctgov.new_trial(nct_id="NCT00000001", secondary_ids=[
        {"id": "IRCT20170117032004N1", "type": "REGISTRY", "domain": "IRCT"},
        {"id": "2015-001894-41", "type": "EUDRACT_NUMBER", "domain": None},
        {"id": "R01DC011020", "type": "NIH", "domain": None}])
    assert [s["registry"] for s in trial["secondary_ids"]] == ["IRCT", "EudraCT", None]


def test_a_study_without_an_nct_id_is_reported_and_the_others_parse():
    data = (CTGOV / "v2_studies_page1.json").read_bytes().replace(b'"nctId":"NCT01151124"', b'"nctId":""', 1)
    items, _ = ctgov.parse_payload(data, "page.json")
    errors = [i for i in items if isinstance(i, ParseError)]
    assert [i["nct_id"] for i in items if isinstance(i, dict)] == ["NCT03384433"]
    assert len(errors) == 1 and "page.json" in str(errors[0]) and b"ReNeuron" in errors[0].raw


def test_a_payload_of_no_known_format_is_one_fatal_error():
    items, _ = ctgov.parse_payload(b"<html><body>Service Unavailable</body></html>", "studies")
    assert len(items) == 1 and items[0].fatal and "not a ClinicalTrials.gov payload" in str(items[0])


def test_dates_keep_their_precision():
    assert ctgov.iso_date("March 2021") == "2021-03"
    assert ctgov.iso_date("March 4, 2021") == "2021-03-04"
    assert ctgov.iso_date("2010-05") == "2010-05"
