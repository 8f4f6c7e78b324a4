"""Field by field: every study in every recorded ClinicalTrials.gov file is stored as its file says.

The facts are read from each file here, simply (json, xml.etree, csv, re), and legacy spellings
are turned into v2's with the tables of ClinicalTrials.gov's API migration guide; the KB must
hold the same values after `load_ctgov_file`. A field a format does not give must stay empty.
"""

import csv
import datetime as dt
import html
import io
import json
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

from harvest.ctgov import parse_payload
from kb.datasette_plugin.trial import MARKDOWN_ESCAPE, eligibility_lists
from kb.ingest import load_ctgov_file

from test_conformance_real import files_of, real_data

# Legacy spelling -> v2 (API migration guide, "Text to enum conversion").
STATUS = {
    "Active, not recruiting": "ACTIVE_NOT_RECRUITING", "Completed": "COMPLETED",
    "Enrolling by invitation": "ENROLLING_BY_INVITATION", "Not yet recruiting": "NOT_YET_RECRUITING",
    "Recruiting": "RECRUITING", "Suspended": "SUSPENDED", "Terminated": "TERMINATED", "Withdrawn": "WITHDRAWN",
    "Available": "AVAILABLE", "No longer available": "NO_LONGER_AVAILABLE",
    "Temporarily not available": "TEMPORARILY_NOT_AVAILABLE", "Approved for marketing": "APPROVED_FOR_MARKETING",
    "Withheld": "WITHHELD", "Unknown status": "UNKNOWN",
}
PHASE = {"Not Applicable": "NA", "N/A": "NA", "Early Phase 1": "EARLY_PHASE1", "Phase 1": "PHASE1",
         "Phase 2": "PHASE2", "Phase 3": "PHASE3", "Phase 4": "PHASE4"}
# The legacy XML writes a two-phase study as one value.
XML_PHASES = {**{legacy: [v2] for legacy, v2 in PHASE.items()},
              "Phase 1/Phase 2": ["PHASE1", "PHASE2"], "Phase 2/Phase 3": ["PHASE2", "PHASE3"]}
INTERVENTION = {"Behavioral": "BEHAVIORAL", "Biological": "BIOLOGICAL", "Combination Product": "COMBINATION_PRODUCT",
                "Device": "DEVICE", "Diagnostic Test": "DIAGNOSTIC_TEST", "Dietary Supplement": "DIETARY_SUPPLEMENT",
                "Drug": "DRUG", "Genetic": "GENETIC", "Procedure": "PROCEDURE", "Radiation": "RADIATION", "Other": "OTHER"}
# A withheld record's study type is "N/A": v2's StudyType has no such value.
STUDY_TYPE = {"Interventional": "INTERVENTIONAL", "Observational": "OBSERVATIONAL",
              "Observational [Patient Registry]": "OBSERVATIONAL", "Expanded Access": "EXPANDED_ACCESS", "N/A": None}
SEX = {"All": "ALL", "Female": "FEMALE", "Male": "MALE"}
HEALTHY = {"Accepts Healthy Volunteers": True, "Yes": True, "No": False}
AGE_GROUP = {"Child": "CHILD", "Adult": "ADULT", "Older Adult": "OLDER_ADULT"}


def iso(text):
    """'August 24, 1981' -> '1981-08-24'; 'April 2014' -> '2014-04'; ISO dates as they are."""
    if not text:
        return None
    for form, width in (("%B %d, %Y", 10), ("%B %Y", 7)):
        try:
            return dt.datetime.strptime(text, form).date().isoformat()[:width]
        except ValueError:
            pass
    assert re.fullmatch(r"\d{4}(-\d\d){0,2}", text), text
    return text


def study(nct_id, **facts):
    """The facts of one study; what a format does not give is empty."""
    empty = {"brief_title": None, "overall_status": None, "phases": [], "study_type": None, "start_date": None,
             "first_posted": None, "last_update_posted": None, "enrollment": None, "has_results": None,
             "lead_sponsor": None, "org_study_id": None, "sites": [], "secondary_ids": [], "conditions": [],
             "interventions": [], "pmids": set(), "references": [], "sex": None, "min_age": None, "max_age": None,
             "healthy_volunteers": None, "std_ages": [], "eligibility_criteria": None, "study_population": None}
    return {"nct_id": nct_id, **empty, **facts}


def v2_facts(data):
    ident = data["protocolSection"]["identificationModule"]
    protocol = data["protocolSection"]
    design = protocol.get("designModule", {})
    eligibility = protocol.get("eligibilityModule", {})
    return study(
        ident["nctId"], brief_title=ident.get("briefTitle"),
        overall_status=protocol.get("statusModule", {}).get("overallStatus"),
        phases=design.get("phases", []), study_type=design.get("studyType"),
        start_date=protocol.get("statusModule", {}).get("startDateStruct", {}).get("date"),
        first_posted=protocol.get("statusModule", {}).get("studyFirstPostDateStruct", {}).get("date"),
        last_update_posted=protocol.get("statusModule", {}).get("lastUpdatePostDateStruct", {}).get("date"),
        enrollment=design.get("enrollmentInfo", {}).get("count"),
        lead_sponsor=protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name"),
        org_study_id=ident.get("orgStudyIdInfo", {}).get("id"),
        sites=[(loc.get("city"), loc.get("state"), loc.get("zip"), loc.get("country"))
               for loc in protocol.get("contactsLocationsModule", {}).get("locations", [])],
        secondary_ids=[s["id"] for s in ident.get("secondaryIdInfos", [])],
        conditions=protocol.get("conditionsModule", {}).get("conditions", []),
        interventions=[(i.get("type"), i.get("name"))
                       for i in protocol.get("armsInterventionsModule", {}).get("interventions", [])],
        pmids={r["pmid"] for r in protocol.get("referencesModule", {}).get("references", []) if r.get("pmid")},
        references=[r.get("pmid") for r in protocol.get("referencesModule", {}).get("references", [])],
        has_results=data.get("hasResults"), sex=eligibility.get("sex"), min_age=eligibility.get("minimumAge"),
        max_age=eligibility.get("maximumAge"), healthy_volunteers=eligibility.get("healthyVolunteers"),
        std_ages=eligibility.get("stdAges", []), eligibility_criteria=eligibility.get("eligibilityCriteria"),
        study_population=eligibility.get("studyPopulation"))


def v1_facts(data):
    protocol = data["ProtocolSection"]
    ident = protocol["IdentificationModule"]
    design = protocol.get("DesignModule", {})
    status = protocol.get("StatusModule", {})
    locations = protocol.get("ContactsLocationsModule", {}).get("LocationList", {}).get("Location", [])
    references = protocol.get("ReferencesModule", {}).get("ReferenceList", {}).get("Reference", [])
    eligibility = protocol.get("EligibilityModule", {})
    return study(
        ident["NCTId"], brief_title=ident.get("BriefTitle"), overall_status=STATUS[status["OverallStatus"]],
        phases=[PHASE[p] for p in design.get("PhaseList", {}).get("Phase", [])],
        study_type=STUDY_TYPE[design["StudyType"]], start_date=iso(status.get("StartDateStruct", {}).get("StartDate")),
        first_posted=iso(status.get("StudyFirstPostDateStruct", {}).get("StudyFirstPostDate")),
        last_update_posted=iso(status.get("LastUpdatePostDateStruct", {}).get("LastUpdatePostDate")),
        enrollment=int(design["EnrollmentInfo"]["EnrollmentCount"]),
        lead_sponsor=protocol["SponsorCollaboratorsModule"]["LeadSponsor"]["LeadSponsorName"],
        org_study_id=ident.get("OrgStudyIdInfo", {}).get("OrgStudyId"),
        sites=[(loc.get("LocationCity"), loc.get("LocationState"), loc.get("LocationZip"), loc.get("LocationCountry"))
               for loc in locations],
        secondary_ids=[s["SecondaryId"] for s in ident.get("SecondaryIdInfoList", {}).get("SecondaryIdInfo", [])],
        conditions=protocol.get("ConditionsModule", {}).get("ConditionList", {}).get("Condition", []),
        interventions=[(INTERVENTION[i["InterventionType"]], i["InterventionName"]) for i in protocol.get(
            "ArmsInterventionsModule", {}).get("InterventionList", {}).get("Intervention", [])],
        pmids={r["ReferencePMID"] for r in references if r.get("ReferencePMID")},
        references=[r.get("ReferencePMID") for r in references],
        has_results="ResultsSection" in data, sex=SEX.get(eligibility.get("Gender")),
        min_age=eligibility.get("MinimumAge"), max_age=eligibility.get("MaximumAge"),
        healthy_volunteers=HEALTHY.get(eligibility.get("HealthyVolunteers")),
        std_ages=[AGE_GROUP[a] for a in eligibility.get("StdAgeList", {}).get("StdAge", [])],
        eligibility_criteria=eligibility.get("EligibilityCriteria"),
        study_population=eligibility.get("StudyPopulation"))


def v1_fields_facts(row):
    """A study_fields row holds only the fields it was asked for, each as a list."""
    assert set(row) <= {"Rank", "NCTId", "StudyFirstPostDate", "LastUpdatePostDate"}, set(row)
    return study(row["NCTId"][0], first_posted=iso(row["StudyFirstPostDate"][0]),
                 last_update_posted=iso(row["LastUpdatePostDate"][0]))


def xml_text(element, path):
    found = element.find(path)
    return " ".join("".join(found.itertext()).split()) if found is not None else None


# A paragraph of a legacy text block that is a list item, up to where its text starts.
LEGACY_ITEM = re.compile(r" *(?:[-*•+]|\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)]|\([a-z]\)) +(?=\S)")


def xml_paragraphs(element, path):
    """A <textblock> as the KB keeps it: its paragraphs (split at blank lines), each with the XML's
    line breaks and indentation closed up, and a nested list item indented two spaces a level. The
    XML indents a block's text from a margin, starts a list item's text five columns in and each
    level of a nested list's five more."""
    found = element.find(path)
    if found is None:
        return None
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", found.text) if p.strip()]
    margin = min(len(p) - len(p.lstrip(" ")) for p in paragraphs)
    items = [LEGACY_ITEM.match(p) for p in paragraphs]
    levels = [max(0, (item.end() - margin - 5) // 5) if item else 0 for item in items]
    return "\n\n".join("  " * level + " ".join(p.split()) for p, level in zip(paragraphs, levels))


def xml_facts(root):
    phase = xml_text(root, "phase")
    enrollment = xml_text(root, "enrollment")
    return study(
        xml_text(root, "id_info/nct_id"), brief_title=xml_text(root, "brief_title"),
        overall_status=STATUS[xml_text(root, "overall_status")], phases=XML_PHASES[phase] if phase else [],
        study_type=STUDY_TYPE[xml_text(root, "study_type")], start_date=iso(xml_text(root, "start_date")),
        first_posted=iso(xml_text(root, "study_first_posted")),
        last_update_posted=iso(xml_text(root, "last_update_posted")),
        enrollment=int(enrollment) if enrollment else None, lead_sponsor=xml_text(root, "sponsors/lead_sponsor/agency"),
        org_study_id=xml_text(root, "id_info/org_study_id"),
        sites=[tuple(xml_text(loc, f"facility/address/{part}") for part in ("city", "state", "zip", "country"))
               for loc in root.findall("location")],
        secondary_ids=[" ".join(s.text.split()) for s in root.findall("id_info/secondary_id")],
        conditions=[" ".join(c.text.split()) for c in root.findall("condition")],
        interventions=[(INTERVENTION[xml_text(i, "intervention_type")], xml_text(i, "intervention_name"))
                       for i in root.findall("intervention")],
        pmids={xml_text(r, "PMID") for tag in ("reference", "results_reference") for r in root.findall(tag)
               if r.find("PMID") is not None},
        references=[xml_text(r, "PMID") for r in root if r.tag in ("reference", "results_reference")],
        has_results=root.find("clinical_results") is not None, sex=SEX.get(xml_text(root, "eligibility/gender")),
        min_age=xml_text(root, "eligibility/minimum_age"), max_age=xml_text(root, "eligibility/maximum_age"),
        healthy_volunteers=HEALTHY.get(xml_text(root, "eligibility/healthy_volunteers")),
        eligibility_criteria=xml_paragraphs(root, "eligibility/criteria/textblock"),
        study_population=xml_paragraphs(root, "eligibility/study_pop/textblock"))


def rss_facts(item):
    """An RSS item: title, and a description of '<b>Label</b>: value' lines whose last label, with no
    value, is the status."""
    fields = dict(re.findall(r"<b>([^<]+)</b>:?\s*([^<]*)", html.unescape(item.findtext("description"))))
    status = [label for label, value in fields.items() if not value.strip()]
    conditions = next(v for k, v in fields.items() if k.startswith("Condition"))
    sponsors = next(v for k, v in fields.items() if k.startswith("Sponsor"))
    interventions = next((v for k, v in fields.items() if k.startswith("Intervention")), "")
    assert len(status) == 1, fields
    return study(item.findtext("guid"), brief_title=item.findtext("title"), overall_status=STATUS[status[0]],
                 conditions=[c.strip() for c in conditions.split(";")],
                 interventions=[labelled(i.strip()) for i in interventions.split(";") if i.strip()],
                 lead_sponsor=sponsors.split(";")[0].strip())


def labelled(intervention):
    """'Drug: Placebo' -> ('DRUG', 'Placebo')."""
    kind, name = intervention.split(": ", 1)
    return INTERVENTION[kind], name


def bar(value):
    return [part for part in (value or "").split("|") if part]


def export_ages(age):
    """The legacy export's Age: '18 Years to 75 Years \xa0 (Adult, Older Adult)', '18 Years and older
    ...', 'up to 80 Years ...' -> (min, max, [age groups])."""
    ages, groups = re.fullmatch(r"(.*?)\s*\((.*)\)", age).groups()
    low, high = (re.fullmatch(r"up to ()(.+)", ages) or re.fullmatch(r"(.+) and older()", ages)
                 or re.fullmatch(r"(.+) to (.+)", ages)).groups()
    return low or None, high or None, [AGE_GROUP[g.strip()] for g in groups.split(",")]


def csv_facts(row):
    other_ids = bar(row["Other IDs"])
    min_age, max_age, std_ages = export_ages(row["Age"])
    return study(
        row["NCT Number"], brief_title=row["Title"], overall_status=STATUS[row["Status"]],
        phases=[PHASE[p] for p in bar(row["Phases"])],
        study_type=STUDY_TYPE[row["Study Type"].split(":")[0]], start_date=iso(row["Start Date"]),
        first_posted=iso(row["First Posted"]), last_update_posted=iso(row["Last Update Posted"]),
        enrollment=int(row["Enrollment"]) if row["Enrollment"] else None,
        lead_sponsor=bar(row["Sponsor/Collaborators"])[0], org_study_id=other_ids[0] if other_ids else None,
        sites=bar(row["Locations"]), secondary_ids=other_ids[1:], conditions=bar(row["Conditions"]),
        interventions=[labelled(i) for i in bar(row["Interventions"])],
        has_results={"Has Results": True, "No Results Available": False}[row["Study Results"]],
        sex=SEX[row["Gender"]], min_age=min_age, max_age=max_age, std_ages=std_ages)


def current_csv_facts(row):
    """The current site's export (ctg-studies.csv) writes v2's values and ISO dates."""
    other_ids = bar(row["Other IDs"])
    return study(
        row["NCT Number"], brief_title=row["Study Title"], overall_status=row["Study Status"],
        phases=bar(row["Phases"]), study_type=row["Study Type"] or None, start_date=row["Start Date"] or None,
        first_posted=row["First Posted"] or None, last_update_posted=row["Last Update Posted"] or None,
        enrollment=int(row["Enrollment"]) if row["Enrollment"] else None, lead_sponsor=row["Sponsor"] or None,
        org_study_id=other_ids[0] if other_ids else None, sites=bar(row["Locations"]), secondary_ids=other_ids[1:],
        conditions=bar(row["Conditions"]),
        interventions=[tuple(i.split(": ", 1)) for i in bar(row["Interventions"])],
        has_results={"YES": True, "NO": False}[row["Study Results"]], sex=row["Sex"] or None,
        std_ages=[group.strip() for group in row["Age"].split(",") if group.strip()])


def studies_in(path):
    """Every study in a recorded file, as its file states it. A file of no known kind fails."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"["):
        return [v2_facts(s) for s in json.loads(data)]
    if data.lstrip().startswith(b"{"):
        payload = json.loads(data)
        if "studies" in payload:
            return [v2_facts(s) for s in payload["studies"]]
        if "protocolSection" in payload:
            return [v2_facts(payload)]
        if "FullStudiesResponse" in payload:
            return [v1_facts(s["Study"]) for s in payload["FullStudiesResponse"]["FullStudies"]]
        if "StudyFieldsResponse" in payload:
            return [v1_fields_facts(row) for row in payload["StudyFieldsResponse"]["StudyFields"]]
    elif data.lstrip().startswith(b"<"):
        root = ET.fromstring(data)
        if root.tag == "clinical_study":
            return [xml_facts(root)]
        if root.tag == "rss":
            return [rss_facts(item) for item in root.findall("channel/item")]
    elif data.startswith(b'"Rank","NCT Number"'):
        return [csv_facts(row) for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
    elif data.startswith(b"NCT Number,Study Title,"):
        return [current_csv_facts(row) for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
    raise AssertionError(f"{path.name}: no ClinicalTrials.gov file kind known to this test")


def stored(db, nct_id):
    """(sites as (facility, city, state, zip, country) rows, {field: value}) as the KB holds them."""
    trial = next(db.query("select * from trials where nct_id = ?", [nct_id]))
    sites = db.execute("select facility, city, state, zip, country from trial_sites where trial_id = ? "
                       "order by position", [trial["id"]]).fetchall()
    return sites, {
        "brief_title": trial["brief_title"], "overall_status": trial["overall_status"],
        "phases": json.loads(trial["phases"] or "[]"), "study_type": trial["study_type"],
        "start_date": trial["start_date"], "first_posted": trial["first_posted"],
        "last_update_posted": trial["last_update_posted"], "enrollment": trial["enrollment"],
        "lead_sponsor": trial["lead_sponsor"],
        "has_results": None if trial["has_results"] is None else bool(trial["has_results"]),
        "sex": trial["sex"], "min_age": trial["min_age"], "max_age": trial["max_age"],
        "healthy_volunteers": None if trial["healthy_volunteers"] is None else bool(trial["healthy_volunteers"]),
        "std_ages": json.loads(trial["std_ages"] or "[]"), "eligibility_criteria": trial["eligibility_criteria"],
        "study_population": trial["study_population"],
        "org_study_id": trial["org_study_id"],
        "secondary_ids": [r[0] for r in db.execute(
            "select identifier from trial_ids where trial_id = ? and coalesce(id_type, '') not in "
            "('NCT', 'ORG_STUDY_ID') order by position", [trial["id"]])],
        "conditions": [r[0] for r in db.execute(
            "select condition from trial_conditions where trial_id = ? and kind = 'condition' order by position",
            [trial["id"]])],
        "interventions": db.execute("select type, name from trial_interventions where trial_id = ? "
                                    "order by position", [trial["id"]]).fetchall(),
        # Every reference, in order, with its PMID or none; links join the trial to the PMIDs.
        "references": [r[0] for r in db.execute(
            "select pmid from trial_references where trial_id = ? order by position", [trial["id"]])],
        "pmids": {r[0] for r in db.execute(
            "select to_id from links where from_scheme = 'nct' and from_id = ? and to_scheme = 'pmid' "
            "and asserted_by = 'ctgov'", [nct_id])},
    }


def export_site_checks(site, row):
    """An export site is one string; its parts must come back whole and in order, the country last
    (two parts when its name holds a comma: 'Iran, Islamic Republic of', 'Palestinian Territories,
    Occupied') and a city before it."""
    parts = [part.strip() for part in site.split(",") if part.strip()]
    country = ", ".join(parts[-2:]) if re.search(r" of( the)?$|^occupied$", parts[-1], re.I) else parts[-1]
    return [("site parts", ", ".join(parts), ", ".join(filter(None, row))),
            ("site country", country, row[4]),
            ("site has a city", len(parts) > 1, row[1] is not None)]


def checks_of(db, path):
    """(nct id, field, from the file, from the KB) for every fact of every study in the file."""
    facts = studies_in(path)
    load_ctgov_file(db, path)  # a file of no study (an empty last page) must store none: checked below
    checks = [("file", "NCT ids", sorted({f["nct_id"] for f in facts}),
               [r[0] for r in db.execute("select nct_id from trials order by nct_id")])]
    for fact in facts:
        sites, kb = stored(db, fact["nct_id"])
        checks.extend((fact["nct_id"], field, fact[field], kb[field]) for field in kb)
        checks.append((fact["nct_id"], "site count", len(fact["sites"]), len(sites)))
        for site, row in zip(fact["sites"], sites):
            if isinstance(site, str):
                checks.extend((fact["nct_id"], *check) for check in export_site_checks(site, row))
            else:
                checks.append((fact["nct_id"], "site city, state, zip, country", site, row[1:]))
    return checks


@pytest.mark.parametrize("name", files_of("ctgov"))
def test_every_recorded_study_is_stored_as_its_file_states_it(db, name):
    folder = real_data() / "ctgov"
    assert folder.is_dir(), f"{folder} is missing"
    checks = checks_of(db, folder / name)
    wrong = [(nct_id, field, expected, got) for nct_id, field, expected, got in checks if expected != got]
    assert wrong == [], f"{len(wrong)} of {len(checks)} checks differ"


def legacy_layout(criteria):
    """v2's markdown criteria laid out as the legacy XML lays out a text block: paragraphs apart,
    text from a margin of 8, a list item's marker 2 columns in and its text 5, each level of a
    nested list 5 columns further, lines wrapped at 100 under the text."""
    paragraphs = []
    for line in criteria.splitlines():
        item = re.fullmatch(r"( *)(\*|\d+\.) (.*)", line)
        if item:
            level = len(item.group(1)) // 2
            marker = "-" if item.group(2) == "*" else item.group(2)
            paragraphs.append(textwrap.fill(item.group(3), 100, initial_indent=" " * (10 + 5 * level) + f"{marker:<3}",
                                            subsequent_indent=" " * (13 + 5 * level)))
        elif line.strip():
            paragraphs.append(textwrap.fill(line, 100, initial_indent=" " * 8, subsequent_indent=" " * 8))
    return "\n" + "\n\n".join(paragraphs) + "\n      "


@pytest.mark.parametrize("name", ["aact__v2_NCT02552212_105locations.json",
                                  "py_load_ctgov__v2_NCT04267848_large_compact.json"])
def test_legacy_xml_criteria_keep_the_nesting_v2_gives_the_same_criteria(name):
    study = json.loads((real_data() / "ctgov" / name).read_bytes())
    criteria = study["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert re.search(r"^  \* ", criteria, re.M), "no nested item: the file no longer tests nesting"
    # v2's markdown escapes punctuation ("\>= 4"); the legacy XML never did.
    block = html.escape(legacy_layout(MARKDOWN_ESCAPE.sub(r"\1", criteria)))
    xml = (f"<clinical_study><id_info><nct_id>{study['protocolSection']['identificationModule']['nctId']}</nct_id>"
           f"</id_info><eligibility><criteria><textblock>{block}</textblock></criteria></eligibility></clinical_study>")
    (legacy,), _ = parse_payload(xml.encode(), "legacy.xml")

    def items(text):
        lists = eligibility_lists(text)
        return [[(" ".join(item["text"].split()), item["level"]) for item in lists[kind]] for kind in ("inclusion", "exclusion")]

    assert items(legacy["eligibility_criteria"]) == items(criteria)


def v2_studies(path):
    data = json.loads(path.read_bytes())
    return data if isinstance(data, list) else data.get("studies", [data])


@pytest.mark.parametrize("name", [name for name in files_of("ctgov") if name.endswith(".json")])
def test_every_recorded_v2_site_written_as_the_current_export_writes_it_reads_back_field_by_field(name):
    # The current site's CSV export writes a site as its v2 facility, city, state, zip and country
    # joined with ', ', the empty ones left out; each must come back in its own field.
    studies = [s for s in v2_studies(real_data() / "ctgov" / name) if "protocolSection" in s]
    fields = ("facility", "city", "state", "zip", "country")
    expected = {s["protocolSection"]["identificationModule"]["nctId"]: [
        tuple(loc.get(field) for field in fields)
        for loc in s["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])] for s in studies}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["NCT Number", "Study Title", "Locations"])
    for nct_id, sites in expected.items():
        writer.writerow([nct_id, "a title", "|".join(", ".join(filter(None, site)) for site in sites)])
    items, _ = parse_payload(out.getvalue().encode(), "ctg-studies.csv")
    got = {item["nct_id"]: [tuple(site[field] for field in fields) for site in item["sites"]] for item in items}
    assert got == expected
