import csv
import io

import pytest

from harvest import ctgov, places
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


# One fact as each format spells it, written into the fixtures' study (interventional, recruiting,
# phase 1/2) by replacing its spelling: {format file: [(old, new)]}.
SPELLINGS = {
    "unknown status": {
        "v2_NCT03384433.json": [(b'"overallStatus":"RECRUITING"', b'"overallStatus":"UNKNOWN"')],
        "v1classic_NCT03384433.json": [(b'"OverallStatus": "Recruiting"', b'"OverallStatus": "Unknown status"')],
        "legacy_NCT03384433.xml": [(b">Recruiting</overall_status>", b">Unknown status</overall_status>")],
        "legacy_export.csv": [(b'"Recruiting","No Results', b'"Unknown status","No Results')],
    },
    "expanded access for intermediate-size populations and under a treatment IND": {
        "v2_NCT03384433.json": [(b'"studyType":"INTERVENTIONAL"', b'"studyType":"EXPANDED_ACCESS",'
                                 b'"expandedAccessTypes":{"individual":false,"intermediate":true,"treatment":true}')],
        "v1classic_NCT03384433.json": [(b'"StudyType": "Interventional",', b'"StudyType": "Expanded Access", '
                                        b'"ExpandedAccessTypes": {"ExpAccTypeIntermediate": "Yes", '
                                        b'"ExpAccTypeTreatment": "Yes"},')],
        "legacy_NCT03384433.xml": [(b"<study_type>Interventional</study_type>",
                                    b"<study_type>Expanded Access</study_type>\n  <expanded_access_info>\n"
                                    b"    <expanded_access_type_intermediate>Yes</expanded_access_type_intermediate>\n"
                                    b"    <expanded_access_type_treatment>Yes</expanded_access_type_treatment>\n"
                                    b"  </expanded_access_info>")],
        "legacy_export.csv": [(b'"Interventional","Allocation',
                               b'"Expanded Access:Intermediate-size Population|Treatment IND/Protocol","Allocation')],
    },
    "a patient registry": {
        "v2_NCT03384433.json": [(b'"studyType":"INTERVENTIONAL"', b'"studyType":"OBSERVATIONAL","patientRegistry":true')],
        "v1classic_NCT03384433.json": [(b'"StudyType": "Interventional",',
                                        b'"StudyType": "Observational", "PatientRegistry": "Yes",')],
        "legacy_NCT03384433.xml": [(b"<study_type>Interventional</study_type>",
                                    b"<study_type>Observational [Patient Registry]</study_type>")],
        "legacy_export.csv": [(b'"Interventional","Allocation', b'"Observational [Patient Registry]","Allocation')],
    },
    "no phase": {
        "v2_NCT03384433.json": [(b'"phases":["PHASE1","PHASE2"]', b'"phases":["NA"]')],
        "v1classic_NCT03384433.json": [(b'"Phase 1",\n         "Phase 2"', b'"Not Applicable"')],
        "legacy_NCT03384433.xml": [(b"<phase>Phase 1/Phase 2</phase>", b"<phase>N/A</phase>")],
        "legacy_export.csv": [(b'"Phase 1|Phase 2","5"', b'"Not Applicable","5"')],
    },
    "educational purpose": {
        "v2_NCT03384433.json": [(b'"primaryPurpose":"TREATMENT"', b'"primaryPurpose":"ECT"')],
        "v1classic_NCT03384433.json": [(b'"DesignPrimaryPurpose": "Treatment"',
                                        b'"DesignPrimaryPurpose": "Educational/Counseling/Training"')],
        "legacy_NCT03384433.xml": [(b"<primary_purpose>Treatment</primary_purpose>",
                                    b"<primary_purpose>Educational/Counseling/Training</primary_purpose>")],
        "legacy_export.csv": [(b"Primary Purpose: Treatment", b"Primary Purpose: Educational/Counseling/Training")],
    },
}
SPELLED_FIELDS = ("overall_status", "study_type", "expanded_access_types", "patient_registry", "phases",
                  "primary_purpose")


def spelled(fact):
    """The fixtures' study in every format with `fact` written in; each replacement must apply once."""
    trials = {}
    for name, changes in SPELLINGS[fact].items():
        data = (CTGOV / name).read_bytes()
        for old, new in changes:
            assert old in data, (name, old)
            data = data.replace(old, new, 1)
        trial = next(t for t in ctgov.parse_payload(data, name)[0] if t["nct_id"] == "NCT03384433")
        trials[name] = {field: trial[field] for field in SPELLED_FIELDS}
    return trials


@pytest.mark.parametrize("fact,expected", [
    ("unknown status", {"overall_status": "UNKNOWN"}),
    ("expanded access for intermediate-size populations and under a treatment IND",
     {"study_type": "EXPANDED_ACCESS", "expanded_access_types": ["intermediate", "treatment"]}),
    ("a patient registry", {"study_type": "OBSERVATIONAL", "patient_registry": True}),
    ("no phase", {"phases": ["NA"]}),
    ("educational purpose", {"primary_purpose": "ECT"}),
])
def test_every_format_spells_a_fact_as_v2_does(fact, expected):
    trials = spelled(fact)
    v2 = trials.pop("v2_NCT03384433.json")
    assert {field: v2[field] for field in expected} == expected
    for name, trial in trials.items():
        assert trial == v2, name


def test_an_interventional_study_has_no_subtypes():
    trial = parse("legacy_export.csv")[0]["NCT03384433"]
    assert (trial["study_type"], trial["expanded_access_types"], trial["patient_registry"]) == (
        "INTERVENTIONAL", [], None)
    assert ctgov.study_type_of("Observational") == ("OBSERVATIONAL", [], False)


def test_a_withheld_records_study_type_of_n_a_is_no_study_type():
    data = (CTGOV / "legacy_NCT03384433.xml").read_bytes().replace(
        b"<study_type>Interventional</study_type>", b"<study_type>N/A</study_type>")
    assert ctgov.parse_payload(data, "x.xml")[0][0]["study_type"] is None


def test_older_legacy_spellings_take_their_v2_values():
    assert [ctgov.enum(v) for v in ("Both", "Double Blind (Subject, Investigator)", "Single Blind", "Open Label",
                                    "Phase 0")] == ["ALL", "DOUBLE", "SINGLE", "NONE", "EARLY_PHASE1"]


def test_a_classic_study_has_results_when_it_holds_a_results_section():
    data = (CTGOV / "v1classic_NCT03384433.json").read_bytes()
    assert parse("v1classic_NCT03384433.json")[0]["NCT03384433"]["has_results"] is False
    with_results = data.replace(b'"DerivedSection": {', b'"ResultsSection": {}, "DerivedSection": {', 1)
    assert ctgov.parse_payload(with_results, "x.json")[0][0]["has_results"] is True


def test_a_submission_date_is_never_taken_for_a_posting_date():
    data = (CTGOV / "legacy_NCT03384433.xml").read_bytes()
    older = data.replace(b'<study_first_posted type="Actual">December 27, 2017</study_first_posted>',
                         b"<firstreceived_date>December 21, 2017</firstreceived_date>")
    assert older != data
    trial = ctgov.parse_payload(older, "x.xml")[0][0]
    assert (trial["first_posted"], trial["last_update_posted"]) == (None, "2021-01-25")


def test_classic_secondary_id_types_take_their_v2_names():
    assert [ctgov.enum(t) for t in ("U.S. NIH Grant/Contract", "Other Grant/Funding Number", "EudraCT Number",
                                    "EU Trial (CTIS) Number", "Registry Identifier", "Other Identifier")] == [
        "NIH", "OTHER_GRANT", "EUDRACT_NUMBER", "CTIS", "REGISTRY", "OTHER"]


def test_a_legacy_age_of_n_a_is_no_limit_as_in_v2():
    data = (CTGOV / "legacy_NCT03384433.xml").read_bytes().replace(b">40 Years<", b">N/A<")
    trial = ctgov.parse_payload(data, "x.xml")[0][0]
    assert (trial["min_age"], trial["max_age"]) == (None, "80 Years")


# A sponsor's facility "name" on many sites: a sentence with commas, ending in a full stop.
LILLY = ("For additional information regarding investigative sites for this trial, contact 1-877-CTLILLY "
         "(1-877-285-4559, 1-317-615-4559) Mon - Fri from 9 AM to 5 PM Eastern Time (UTC/GMT - 5 hours, EST), "
         "or speak with your personal physician.")


@pytest.mark.parametrize("site,expected", [
    # facility, city, state, postcode, country
    ("Xiangya Hospital, Central South University, Changsha, Hunan, China",
     ("Xiangya Hospital, Central South University", "Changsha", "Hunan", None, "China")),
    ("Xiangya Hospital, Central South University, Changsha, China",
     ("Xiangya Hospital, Central South University", "Changsha", None, None, "China")),
    ("Ruijin Hospital, Medical School of Shanghai Jiaotong University, Shanghai, Shanghai, China",
     ("Ruijin Hospital, Medical School of Shanghai Jiaotong University", "Shanghai", "Shanghai", None, "China")),
    ("Sahel Teaching Hospital,, Cairo, Egypt", ("Sahel Teaching Hospital", "Cairo", None, None, "Egypt")),
    ("Tianjin Medical University Hospital, Tianjin, China",
     ("Tianjin Medical University Hospital", "Tianjin", None, None, "China")),
    ("Shahid Beheshti University of Medical Sciences, Tehran, Iran, Islamic Republic of",
     ("Shahid Beheshti University of Medical Sciences", "Tehran", None, None, "Iran, Islamic Republic of")),
    ("National Institutes of Health Clinical Center, 9000 Rockville Pike, Bethesda, Maryland, 20892, United States",
     ("National Institutes of Health Clinical Center, 9000 Rockville Pike", "Bethesda", "Maryland", "20892",
      "United States")),
    ("Texas A&M University, College Station, Texas, United States",
     ("Texas A&M University", "College Station", "Texas", None, "United States")),
    ("UZ/KU Leuven, Leuven, 3000, Belgium", ("UZ/KU Leuven", "Leuven", None, "3000", "Belgium")),
    ("Cairo, Egypt", (None, "Cairo", None, None, "Egypt")),
    ("Korea, Republic of", (None, None, None, None, "Korea, Republic of")),
    ("Research Site, Charlottesville,, Virginia, 22908, United States",
     ("Research Site", "Charlottesville", "Virginia", "22908", "United States")),
    ("Lund University, Skane Hospital,, Malmö, Sweden",
     ("Lund University, Skane Hospital", "Malmö", None, None, "Sweden")),
    ("Pfizer Investigational Site, Bay Roberts, Newfoundland and Labrador, A0A 1G0, Canada",
     ("Pfizer Investigational Site", "Bay Roberts", "Newfoundland and Labrador", "A0A 1G0", "Canada")),
    (f"{LILLY}, Pierre Benite, 69495, France", (LILLY, "Pierre Benite", None, "69495", "France")),
    ("Sevilla, 41013, Spain", (None, "Sevilla", None, "41013", "Spain")),
])
def test_export_sites_are_read_from_the_right_and_the_rest_is_the_facility(site, expected):
    parsed = ctgov.parse_site(site)
    assert tuple(parsed[key] for key in ("facility", "city", "state", "zip", "country")) == expected


# Facility-less sites of a public ctg-studies.csv export (3,281 sites) whose city the gazetteer
# does not know, misspelled or written with its province: each was read as a facility and, for
# its city, the region. A region is no city: the place before it is the city, as written, and
# stays unplaced rather than put somewhere wrong.
@pytest.mark.parametrize("site,expected", [
    ("Belagum, Karnataka, 590010, India", (None, "Belagum", "Karnataka", "590010", "India")),  # Belgaum
    ("Petlaing Jaya, Salangor, 47500, Malaysia",  # Petaling Jaya, Selangor: the region one slip off
     (None, "Petlaing Jaya", "Salangor", "47500", "Malaysia")),
    ("St. John, New Brunswick, E2L 3J8, Canada", (None, "St. John", "New Brunswick", "E2L 3J8", "Canada")),
    ("Badalona (Barcelona), Cataluña, 08043, Spain", (None, "Badalona (Barcelona)", "Cataluña", "08043", "Spain")),
])
def test_a_facility_less_site_with_a_misspelled_city_keeps_it_as_written_and_unplaced(site, expected):
    parsed = ctgov.parse_site(site)
    assert tuple(parsed[key] for key in ("facility", "city", "state", "zip", "country")) == expected
    assert places.city(parsed["city"], places.country_code(parsed["country"])) is None


@pytest.mark.parametrize("site,expected", [
    # A facility without a facility's word before a city the gazetteer knows: unchanged.
    ("Possover, Zürich, 8008, Switzerland", ("Possover", "Zürich", None, "8008", "Switzerland")),
    # A sponsor's site before a misspelled (mis-decoded) region is a facility, not a city.
    ("Pfizer Investigational Site, San Luis PotosÃ-, 78240, Mexico",
     ("Pfizer Investigational Site", "San Luis PotosÃ-", None, "78240", "Mexico")),
    ("Pfizer Investigational Site, Boehlen, 04564, Germany",
     ("Pfizer Investigational Site", "Boehlen", None, "04564", "Germany")),
])
def test_a_facility_before_an_unknown_place_stays_the_facility(site, expected):
    parsed = ctgov.parse_site(site)
    assert tuple(parsed[key] for key in ("facility", "city", "state", "zip", "country")) == expected


def test_the_current_sites_export_gives_the_v2_facts():
    page = parse("current_export.csv")[0]
    v2 = parse("v2_NCT03384433.json")[0]["NCT03384433"]
    trial = page["NCT03384433"]
    same = ("brief_title", "overall_status", "has_results", "conditions", "lead_sponsor", "collaborators", "sex",
            "phases", "enrollment", "study_type", "allocation", "intervention_model", "masking", "primary_purpose",
            "org_study_id", "start_date", "primary_completion_date", "completion_date", "first_posted",
            "last_update_posted", "sites")
    assert {field: trial[field] for field in same} == {field: v2[field] for field in same}
    assert [(i["type"], i["name"]) for i in trial["interventions"]] == [("BIOLOGICAL", "exosome")]
    assert [(o["kind"], o["measure"]) for o in trial["outcomes"]] == [
        ("PRIMARY", "Incidence of Treatment-Emergent Adverse Events"),
        ("SECONDARY", "measurement of Modified Ranking Scale")]
    # It gives age groups, not ages: none is invented.
    assert (trial["min_age"], trial["max_age"], trial["completeness"]) == (None, None, ctgov.SUMMARY)
    pisces = page["NCT01151124"]
    assert (pisces["acronym"], pisces["lead_sponsor"], pisces["collaborators"]) == ("PISCES", "ReNeuron Group plc", [])
    assert [(s["facility"], s["city"], s["zip"], s["country"]) for s in pisces["sites"]] == [
        ("Institute of Neurological Sciences, Southern General Hospital", "Glasgow", "G51 4TF", "United Kingdom")]


def test_both_exports_give_the_age_groups_in_v2_spelling():
    legacy = parse("legacy_export.csv")[0]["NCT03384433"]  # "40 Years to 80 Years   (Adult, Older Adult)"
    current = parse("current_export.csv")[0]  # "ADULT, OLDER_ADULT": the groups alone
    assert legacy["std_ages"] == current["NCT03384433"]["std_ages"] == ["ADULT", "OLDER_ADULT"]
    assert (legacy["min_age"], legacy["max_age"]) == ("40 Years", "80 Years")
    assert current["NCT01151124"]["std_ages"] == ["OLDER_ADULT"] and current["NCT01151124"]["min_age"] is None
    assert parse("v1classic_NCT03384433.json")[0]["NCT03384433"]["std_ages"] == ["ADULT", "OLDER_ADULT"]


def export_sites(sites):
    """The sites a current export with these Locations gives, as (facility, city, state, zip, country)."""
    header, row = list(csv.reader(io.StringIO((CTGOV / "current_export.csv").read_text(encoding="utf-8-sig"))))[:2]
    row[header.index("Locations")] = "|".join(sites)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, row])
    items, _ = ctgov.parse_payload(out.getvalue().encode(), "ctg-studies.csv")
    return [tuple(site[key] for key in ("facility", "city", "state", "zip", "country")) for site in items[0]["sites"]]


def test_an_export_site_in_a_province_iso_names_twice_or_backwards_is_a_city_and_its_province():
    # ISO 3166-2 names Spain's provinces 'Pontevedra [Pontevedra]', 'Barcelona [Barcelona]', and its
    # regions 'Madrid, Comunidad de'; the export writes 'Pontevedra', 'Barcelona', 'Madrid'.
    sites = {"Vigo, Pontevedra, 36211, Spain": (None, "Vigo", "Pontevedra", "36211", "Spain"),
             "Badalona, Barcelona, 08916, Spain": (None, "Badalona", "Barcelona", "08916", "Spain"),
             # A city the gazetteer knows by this very name, though 'Hospitalet' reads like a hospital's.
             "L'Hospitalet de Llobregat, Barcelona, 08907, Spain": (None, "L'Hospitalet de Llobregat", "Barcelona",
                                                                   "08907", "Spain"),
             "Getafe, Madrid, 28905, Spain": (None, "Getafe", "Madrid", "28905", "Spain"),
             # A hospital in the province's capital stays a facility and its city.
             "Hospital del Mar, Barcelona, 08003, Spain": ("Hospital del Mar", "Barcelona", None, "08003", "Spain")}
    assert export_sites(sites) == list(sites.values())


def test_a_department_doctor_or_company_form_after_a_facilitys_name_stays_in_the_facility():
    sites = {"Policlinico Umberto I, Cardiologia, Roma, 00161, Italy":
             ("Policlinico Umberto I, Cardiologia", "Roma", None, "00161", "Italy"),
             "Gemeinschaftspraxis Dr. Senftleber, Dr. Kohler, Messkirch, Germany":
             ("Gemeinschaftspraxis Dr. Senftleber, Dr. Kohler", "Messkirch", None, None, "Germany"),
             "Vestre Viken HF, Drammen Sykehus, Drammen, 3004, Norway":
             ("Vestre Viken HF, Drammen Sykehus", "Drammen", None, "3004", "Norway"),
             "CEINV Salud, S.A. de C.V., Monterrey, 64020, Mexico":
             ("CEINV Salud, S.A. de C.V.", "Monterrey", None, "64020", "Mexico"),
             # A city and its state after a facility stay a city and a state.
             "Pfizer Investigational Site, Changsha, Hunan, 410008, China":
             ("Pfizer Investigational Site", "Changsha", "Hunan", "410008", "China"),
             "CIPADI - Centro Integral de Prevencion y Atencion en Diabetes, Godoy Cruz, Mendoza, M5501ARP, Argentina":
             ("CIPADI - Centro Integral de Prevencion y Atencion en Diabetes", "Godoy Cruz", "Mendoza", "M5501ARP",
              "Argentina")}
    assert export_sites(sites) == list(sites.values())


def test_an_export_site_without_a_facility_is_a_city_and_its_region_by_the_gazetteer():
    sites = {"Changsha, Hunan, 410008, China": (None, "Changsha", "Hunan", "410008", "China"),
             "Milan, Lombardy, 20122, Italy": (None, "Milan", "Lombardy", "20122", "Italy"),
             "Isfahan, Isfahan, Iran, Islamic Republic of": (None, "Isfahan", "Isfahan", None,
                                                             "Iran, Islamic Republic of"),
             "Seongnam, Gyeonggi-do, 13620, Korea, Republic of": (None, "Seongnam", "Gyeonggi-do", "13620",
                                                                  "Korea, Republic of"),
             # A facility stays one: a hospital's name, or a name the gazetteer knows as no city.
             "Beijing Tiantan Hospital, Beijing, China": ("Beijing Tiantan Hospital", "Beijing", None, None, "China"),
             "Charité, Berlin, Germany": ("Charité", "Berlin", None, None, "Germany")}
    assert export_sites(sites) == list(sites.values())
