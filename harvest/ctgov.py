"""ClinicalTrials.gov: a small API v2 client and pure parse functions for every format
researchers hold trials in.

Formats: API v2 study JSON and `/studies` pages; the retired classic API ("v1")
full_studies and study_fields JSON; the legacy `clinical_study` XML; the legacy RSS
search feed; the "Download CSV" export of the legacy and of the current site. Each parses
to the same record dict (`new_trial`); enums are normalised to the v2 spelling (an unknown
value is kept, as upper-case text), dates to ISO with the precision the source gives.
"""

import csv
import datetime as dt
import io
import json
import re

from lxml import etree

from . import ctgov_results, places, registries
from .errors import HarvestError, ParseError, error_message, payload_guarded
from .errors import guarded as guarded_parse
from .http import Client, Page, follow
from .limits import TEXT_CHARS, TITLE_CHARS, clipped

SOURCE = "ctgov"
API = "https://clinicaltrials.gov/api/v2"
PAGE_SIZE = 1000
FULL, SUMMARY = 2, 1

# Classic/legacy spellings -> v2 enum values. Anything else becomes UPPER_SNAKE text.
ENUMS = {
    "n/a": "NA", "not applicable": "NA", "early phase 1": "EARLY_PHASE1", "phase 0": "EARLY_PHASE1",
    "single group assignment": "SINGLE_GROUP", "parallel assignment": "PARALLEL",
    "crossover assignment": "CROSSOVER", "sequential assignment": "SEQUENTIAL",
    "factorial assignment": "FACTORIAL", "non-randomized": "NON_RANDOMIZED",
    "none (open label)": "NONE", "anticipated": "ESTIMATED", "estimate": "ESTIMATED",
    "accepts healthy volunteers": True, "yes": True, "no": False, "both": "ALL",
    "principal investigator": "PRINCIPAL_INVESTIGATOR", "sponsor-investigator": "SPONSOR_INVESTIGATOR",
    "results_reference": "RESULT", "result": "RESULT", "background": "BACKGROUND", "derived": "DERIVED",
    # Where v2 does not simply upper-case the classic spelling (its API migration guide).
    "unknown status": "UNKNOWN", "educational/counseling/training": "ECT", "open label": "NONE",
    "other grant/funding number": "OTHER_GRANT", "eudract number": "EUDRACT_NUMBER",
    "eu trial (ctis) number": "CTIS", "registry identifier": "REGISTRY", "other identifier": "OTHER",
    **{f"u.s. {agency.lower()} grant/contract": agency for agency in ("NIH", "FDA", "VA", "CDC", "AHRQ", "SAMHSA")},
}
# The legacy export's and XML's names of v2's expandedAccessTypes keys.
EXPANDED_ACCESS = {"individual patients": "individual", "intermediate-size population": "intermediate",
                   "treatment ind/protocol": "treatment"}
MONTH_NAMES = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], 1)}


def enum(value):
    """A v2-style enum value from any generation's spelling; unknown values kept as text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    mapped = ENUMS.get(text.lower())
    if mapped is not None:
        return mapped
    phase = re.fullmatch(r"phase\s*(\d)", text, re.I)
    if phase:
        return f"PHASE{phase.group(1)}"
    masking = re.match(r"(none|single|double|triple|quadruple)\b", text, re.I)
    # "Double (Participant, Investigator)", and before 2017 "Double Blind (Subject, Caregiver)".
    if masking and ("(" in text or "blind" in text.lower()):
        return masking.group(1).upper()
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def iso_date(text):
    """'March 4, 2021' / 'March 2021' / '2021-03-04' / '2021-03' -> ISO with the same precision."""
    if not text:
        return None
    text = text.strip()
    if re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
        return text
    found = re.fullmatch(r"([A-Za-z]+)\s+(?:(\d{1,2}),\s*)?(\d{4})", text)
    if found and found.group(1).lower() in MONTH_NAMES:
        month = MONTH_NAMES[found.group(1).lower()]
        day = found.group(2)
        return f"{found.group(3)}-{month:02d}" + (f"-{int(day):02d}" if day else "")
    return text


def phases_from(values):
    """Phase list from v2 values, 'Phase 1|Phase 2', 'Phase 1/Phase 2' or ['Phase 1', 'Phase 2'];
    'N/A' is one value (NA), so only a slash before another phase separates."""
    result = []
    for value in values or []:
        for part in re.split(r"\||/(?=\s*phase)", value, flags=re.I):
            if part.strip():
                result.append(enum(part))
    return result


def study_type_of(value):
    """(study_type, expanded_access_types, patient_registry) from a legacy study type, which
    carries v2's subtypes in its text: 'Expanded Access:Intermediate-size Population|Treatment
    IND/Protocol' -> ('EXPANDED_ACCESS', ['intermediate', 'treatment'], None);
    'Observational [Patient Registry]' -> ('OBSERVATIONAL', [], True). A withheld record's 'N/A'
    is no study type: v2's StudyType has no such value."""
    if not value or enum(value) == "NA":
        return None, [], None
    kind, _, subtypes = value.partition(":")
    kind, registry = re.subn(r"\[patient registry\]", "", kind, flags=re.I)
    kind = enum(kind)
    access = [EXPANDED_ACCESS.get(s.lower(), s) for s in split_bar(subtypes)]
    return kind, access, bool(registry) if kind == "OBSERVATIONAL" else None


def expanded_access_types(flags):
    """v2's expandedAccessTypes ({"individual": true, ...}) as the list of its true keys, in v2's order."""
    return [key for key in ("individual", "intermediate", "treatment") if enum((flags or {}).get(key))]


def age(text):
    """A minimum or maximum age; the legacy 'N/A' (no limit) is absent, as in v2."""
    return None if enum(text) == "NA" else text


def new_trial(**fields):
    """A trial record with every key the loader reads; absent fields are empty."""
    record = {
        "nct_id": None, "org_study_id": None, "secondary_ids": [], "brief_title": None,
        "official_title": None, "acronym": None, "overall_status": None, "why_stopped": None,
        "start_date": None, "primary_completion_date": None, "completion_date": None,
        "first_posted": None, "last_update_posted": None, "study_type": None, "phases": [],
        "allocation": None, "intervention_model": None, "masking": None, "primary_purpose": None,
        "enrollment": None, "enrollment_type": None, "lead_sponsor": None, "collaborators": [],
        "responsible_party": None, "people": [], "conditions": [], "keywords": [],
        "condition_mesh": [], "arms": [], "interventions": [], "outcomes": [], "min_age": None,
        "max_age": None, "sex": None, "healthy_volunteers": None, "std_ages": [], "eligibility_criteria": None,
        "study_population": None, "sites": [], "references": [],
        "has_results": None, "brief_summary": None, "expanded_access_types": [], "patient_registry": None,
        "results": None, "completeness": FULL,
    }
    unknown = set(fields) - set(record) - {"raw"}
    if unknown:
        raise KeyError(f"unknown trial fields: {sorted(unknown)}")
    record.update(fields)
    record = {key: clipped_text(value, TITLE_CHARS if key in TITLE_FIELDS else TEXT_CHARS)
              for key, value in record.items()}
    record["secondary_ids"] = [dict(s, registry=registry_name(s["id"])) for s in record["secondary_ids"]]
    return record


# What the KB indexes and compares of a trial's text, as for works (harvest.limits): titles and
# names are cut at TITLE_CHARS, descriptions and every other text at TEXT_CHARS; the raw record
# keeps all.
TITLE_FIELDS = {"brief_title", "official_title", "acronym", "lead_sponsor", "collaborators", "conditions",
                "keywords", "title", "name", "affiliation", "facility", "city", "state", "country", "label", "term",
                "measure", "time_frame"}


def clipped_text(value, limit):
    """Every text in `value` (a string, or lists and dicts of them) cut to its limit."""
    if isinstance(value, str):
        return clipped(value, limit)
    if isinstance(value, list):
        return [clipped_text(item, limit) for item in value]
    if isinstance(value, dict):
        return {key: clipped_text(item, TITLE_CHARS if key in TITLE_FIELDS else limit) for key, item in value.items()}
    return value


def registry_name(identifier):
    found = registries.scheme_of(identifier)
    return registries.NAMES[found[0]] if found else None


def enrollment_count(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- API v2

def parse_v2_study(study):
    """One API v2 study object -> trial record."""
    protocol = study.get("protocolSection", {})
    ident = protocol.get("identificationModule", {})
    status = protocol.get("statusModule", {})
    sponsors = protocol.get("sponsorCollaboratorsModule", {})
    design = protocol.get("designModule", {})
    info = design.get("designInfo", {})
    arms = protocol.get("armsInterventionsModule", {})
    outcomes = protocol.get("outcomesModule", {})
    eligibility = protocol.get("eligibilityModule", {})
    contacts = protocol.get("contactsLocationsModule", {})
    party = sponsors.get("responsibleParty", {})
    people = [{"role": official.get("role") or "OFFICIAL", "name": official.get("name"),
               "affiliation": official.get("affiliation")} for official in contacts.get("overallOfficials", [])]
    if party.get("investigatorFullName"):
        people.append({"role": "RESPONSIBLE_PARTY", "name": party["investigatorFullName"],
                       "affiliation": party.get("investigatorAffiliation")})
    enrollment = design.get("enrollmentInfo", {})
    return new_trial(
        nct_id=ident.get("nctId"),
        org_study_id=ident.get("orgStudyIdInfo", {}).get("id"),
        secondary_ids=[{"id": s.get("id"), "type": s.get("type"), "domain": s.get("domain")}
                       for s in ident.get("secondaryIdInfos", []) if s.get("id")],
        brief_title=ident.get("briefTitle"),
        official_title=ident.get("officialTitle"),
        acronym=ident.get("acronym"),
        overall_status=enum(status.get("overallStatus")),
        why_stopped=status.get("whyStopped"),
        start_date=status.get("startDateStruct", {}).get("date"),
        primary_completion_date=status.get("primaryCompletionDateStruct", {}).get("date"),
        completion_date=status.get("completionDateStruct", {}).get("date"),
        first_posted=status.get("studyFirstPostDateStruct", {}).get("date"),
        last_update_posted=status.get("lastUpdatePostDateStruct", {}).get("date"),
        study_type=enum(design.get("studyType")),
        phases=[enum(p) for p in design.get("phases", [])],
        allocation=enum(info.get("allocation")),
        intervention_model=enum(info.get("interventionModel")),
        masking=enum(info.get("maskingInfo", {}).get("masking")),
        primary_purpose=enum(info.get("primaryPurpose")),
        enrollment=enrollment_count(enrollment.get("count")),
        enrollment_type=enum(enrollment.get("type")),
        lead_sponsor=sponsors.get("leadSponsor", {}).get("name"),
        collaborators=[c.get("name") for c in sponsors.get("collaborators", []) if c.get("name")],
        responsible_party=enum(party.get("type")),
        people=people,
        conditions=protocol.get("conditionsModule", {}).get("conditions", []),
        keywords=protocol.get("conditionsModule", {}).get("keywords", []),
        condition_mesh=[{"id": m.get("id"), "term": m.get("term")} for m in
                        study.get("derivedSection", {}).get("conditionBrowseModule", {}).get("meshes", [])],
        arms=[{"label": a.get("label"), "type": enum(a.get("type")), "description": a.get("description")}
              for a in arms.get("armGroups", [])],
        interventions=[{"type": enum(i.get("type")), "name": i.get("name"), "description": i.get("description"),
                        "arm_labels": i.get("armGroupLabels", []), "other_names": i.get("otherNames", [])}
                       for i in arms.get("interventions", [])],
        outcomes=[{"kind": kind, "measure": o.get("measure"), "time_frame": o.get("timeFrame"),
                   "description": o.get("description")}
                  for kind, key in (("PRIMARY", "primaryOutcomes"), ("SECONDARY", "secondaryOutcomes"),
                                    ("OTHER", "otherOutcomes"))
                  for o in outcomes.get(key, [])],
        min_age=eligibility.get("minimumAge"),
        max_age=eligibility.get("maximumAge"),
        sex=enum(eligibility.get("sex")),
        healthy_volunteers=eligibility.get("healthyVolunteers"),
        std_ages=[enum(a) for a in eligibility.get("stdAges", [])],
        eligibility_criteria=eligibility.get("eligibilityCriteria"),
        study_population=eligibility.get("studyPopulation"),
        sites=[{"facility": loc.get("facility"), "city": loc.get("city"), "state": loc.get("state"),
                "zip": loc.get("zip"), "country": loc.get("country"), "latitude": loc.get("geoPoint", {}).get("lat"),
                "longitude": loc.get("geoPoint", {}).get("lon"), "status": enum(loc.get("status"))}
               for loc in contacts.get("locations", [])],
        references=[{"pmid": r.get("pmid"), "type": enum(r.get("type")), "citation": r.get("citation")}
                    for r in protocol.get("referencesModule", {}).get("references", [])],
        has_results=study.get("hasResults"),
        results=ctgov_results.parse_v2(study.get("resultsSection")),
        brief_summary=protocol.get("descriptionModule", {}).get("briefSummary"),
        expanded_access_types=expanded_access_types(design.get("expandedAccessTypes")),
        patient_registry=design.get("patientRegistry"),
    )


# ---------------------------------------------------------------- classic API (v1)

def listed(container, list_key, item_key):
    """Items of a classic-API list wrapper such as {"ConditionList": {"Condition": [...]}}."""
    return (container.get(list_key) or {}).get(item_key) or []


def parse_v1_study(study):
    """One classic-API (v1, retired 2024) full study -> trial record."""
    protocol = study.get("ProtocolSection", {})
    ident = protocol.get("IdentificationModule", {})
    status = protocol.get("StatusModule", {})
    sponsors = protocol.get("SponsorCollaboratorsModule", {})
    design = protocol.get("DesignModule", {})
    info = design.get("DesignInfo", {})
    arms = protocol.get("ArmsInterventionsModule", {})
    outcomes = protocol.get("OutcomesModule", {})
    eligibility = protocol.get("EligibilityModule", {})
    contacts = protocol.get("ContactsLocationsModule", {})
    party = sponsors.get("ResponsibleParty", {})
    conditions = protocol.get("ConditionsModule", {})
    people = [{"role": enum(o.get("OverallOfficialRole")) or "OFFICIAL", "name": o.get("OverallOfficialName"),
               "affiliation": o.get("OverallOfficialAffiliation")}
              for o in listed(contacts, "OverallOfficialList", "OverallOfficial")]
    if party.get("ResponsiblePartyInvestigatorFullName"):
        people.append({"role": "RESPONSIBLE_PARTY", "name": party["ResponsiblePartyInvestigatorFullName"],
                       "affiliation": party.get("ResponsiblePartyInvestigatorAffiliation")})
    enrollment = design.get("EnrollmentInfo", {})
    browse = study.get("DerivedSection", {}).get("ConditionBrowseModule", {})
    return new_trial(
        nct_id=ident.get("NCTId"),
        org_study_id=ident.get("OrgStudyIdInfo", {}).get("OrgStudyId"),
        secondary_ids=[{"id": s.get("SecondaryId"), "type": enum(s.get("SecondaryIdType")),
                        "domain": s.get("SecondaryIdDomain")}
                       for s in listed(ident, "SecondaryIdInfoList", "SecondaryIdInfo") if s.get("SecondaryId")],
        brief_title=ident.get("BriefTitle"),
        official_title=ident.get("OfficialTitle"),
        acronym=ident.get("Acronym"),
        overall_status=enum(status.get("OverallStatus")),
        why_stopped=status.get("WhyStopped"),
        start_date=iso_date(status.get("StartDateStruct", {}).get("StartDate")),
        primary_completion_date=iso_date(status.get("PrimaryCompletionDateStruct", {}).get("PrimaryCompletionDate")),
        completion_date=iso_date(status.get("CompletionDateStruct", {}).get("CompletionDate")),
        first_posted=iso_date(status.get("StudyFirstPostDateStruct", {}).get("StudyFirstPostDate")),
        last_update_posted=iso_date(status.get("LastUpdatePostDateStruct", {}).get("LastUpdatePostDate")),
        study_type=enum(design.get("StudyType")),
        expanded_access_types=expanded_access_types(
            {key.removeprefix("ExpAccType").lower(): value
             for key, value in design.get("ExpandedAccessTypes", {}).items()}),
        patient_registry=enum(design.get("PatientRegistry")),
        phases=phases_from(listed(design, "PhaseList", "Phase")),
        allocation=enum(info.get("DesignAllocation")),
        intervention_model=enum(info.get("DesignInterventionModel")),
        masking=enum(info.get("DesignMaskingInfo", {}).get("DesignMasking")),
        primary_purpose=enum(info.get("DesignPrimaryPurpose")),
        enrollment=enrollment_count(enrollment.get("EnrollmentCount")),
        enrollment_type=enum(enrollment.get("EnrollmentType")),
        lead_sponsor=sponsors.get("LeadSponsor", {}).get("LeadSponsorName"),
        collaborators=[c.get("CollaboratorName") for c in listed(sponsors, "CollaboratorList", "Collaborator")],
        responsible_party=enum(party.get("ResponsiblePartyType")),
        people=people,
        conditions=listed(conditions, "ConditionList", "Condition"),
        keywords=listed(conditions, "KeywordList", "Keyword"),
        condition_mesh=[{"id": m.get("ConditionMeshId"), "term": m.get("ConditionMeshTerm")}
                        for m in listed(browse, "ConditionMeshList", "ConditionMesh")],
        arms=[{"label": a.get("ArmGroupLabel"), "type": enum(a.get("ArmGroupType")),
               "description": a.get("ArmGroupDescription")} for a in listed(arms, "ArmGroupList", "ArmGroup")],
        interventions=[{"type": enum(i.get("InterventionType")), "name": i.get("InterventionName"),
                        "description": i.get("InterventionDescription"),
                        "arm_labels": listed(i, "InterventionArmGroupLabelList", "InterventionArmGroupLabel"),
                        "other_names": listed(i, "InterventionOtherNameList", "InterventionOtherName")}
                       for i in listed(arms, "InterventionList", "Intervention")],
        outcomes=[{"kind": kind.upper(), "measure": o.get(f"{kind}OutcomeMeasure"),
                   "time_frame": o.get(f"{kind}OutcomeTimeFrame"), "description": o.get(f"{kind}OutcomeDescription")}
                  for kind in ("Primary", "Secondary", "Other")
                  for o in listed(outcomes, f"{kind}OutcomeList", f"{kind}Outcome")],
        min_age=eligibility.get("MinimumAge"),
        max_age=eligibility.get("MaximumAge"),
        sex=enum(eligibility.get("Gender")),
        healthy_volunteers=enum(eligibility.get("HealthyVolunteers")),
        std_ages=[enum(a) for a in listed(eligibility, "StdAgeList", "StdAge")],
        eligibility_criteria=eligibility.get("EligibilityCriteria"),
        study_population=eligibility.get("StudyPopulation"),
        sites=[{"facility": loc.get("LocationFacility"), "city": loc.get("LocationCity"),
                "state": loc.get("LocationState"), "zip": loc.get("LocationZip"), "country": loc.get("LocationCountry"),
                "latitude": None, "longitude": None, "status": enum(loc.get("LocationStatus"))}
               for loc in listed(contacts, "LocationList", "Location")],
        references=[{"pmid": r.get("ReferencePMID"), "type": enum(r.get("ReferenceType")),
                     "citation": r.get("ReferenceCitation")}
                    for r in listed(protocol.get("ReferencesModule", {}), "ReferenceList", "Reference")],
        brief_summary=protocol.get("DescriptionModule", {}).get("BriefSummary"),
        has_results="ResultsSection" in study,
        results=ctgov_results.parse_v1(study.get("ResultsSection")),
    )


def parse_v1_study_fields(row):
    """One classic-API study_fields row (every value a list) -> thin trial record."""
    def first(key):
        values = row.get(key) or []
        return values[0] if values else None

    return new_trial(
        nct_id=first("NCTId"), brief_title=first("BriefTitle"), official_title=first("OfficialTitle"),
        overall_status=enum(first("OverallStatus")), first_posted=iso_date(first("StudyFirstPostDate")),
        last_update_posted=iso_date(first("LastUpdatePostDate")), start_date=iso_date(first("StartDate")),
        conditions=row.get("Condition") or [], phases=phases_from(row.get("Phase")),
        study_type=enum(first("StudyType")), lead_sponsor=first("LeadSponsorName"), completeness=SUMMARY)


# ---------------------------------------------------------------- legacy XML (ct2, public.xsd)

def text(elem, path):
    found = elem.find(path)
    if found is None:
        return None
    value = " ".join("".join(found.itertext()).split())
    return value or None


# A list item of a legacy text block: its indentation, its marker ("-", "1.", "a)", "(1)") and the
# spaces before its text, as the trial page reads items.
LEGACY_ITEM = re.compile(r"( *)((?:[-*•+]|\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)]|\([a-z]\)) +)\S")


def block(elem, path):
    """A <textblock>'s text: its paragraphs, each on one line with the XML's line breaks and
    indentation closed up, and a nested list item indented two spaces a level, as v2's markdown
    writes it (the trial page reads the levels from that).

    The XML writes a sub-item's marker under its parent's text ("          -  item" and
    "               -  sub-item") and right-aligns numbers ("          9." and "         10."),
    so an item is nested in the items above it whose text starts at or before its marker.
    """
    found = elem.find(path)
    if found is None or not (found.text or "").strip():
        return None
    lines, open_items = [], []  # the text columns of the items the next paragraph may be nested in
    for paragraph in re.split(r"\n[ \t]*\n", found.text.expandtabs(8)):
        paragraph = paragraph.strip("\n")
        if not paragraph.strip():
            continue
        item = LEGACY_ITEM.match(paragraph)
        indent = len(item.group(1)) if item else len(paragraph) - len(paragraph.lstrip())
        while open_items and indent < open_items[-1]:
            open_items.pop()
        text = " ".join(paragraph.split())
        if item:
            lines.append("  " * len(open_items) + text)
            open_items.append(item.end(2))
        else:
            lines.append(text)
    return "\n\n".join(lines)


def parse_legacy_xml(root):
    """One legacy <clinical_study> element -> trial record."""
    people = []
    for official in root.iterfind("overall_official"):
        name = text(official, "last_name")
        if text(official, "first_name"):
            name = f"{text(official, 'first_name')} {name}"
        people.append({"role": enum(text(official, "role")) or "OFFICIAL", "name": name,
                       "affiliation": text(official, "affiliation")})
    party = root.find("responsible_party")
    if party is not None and text(party, "investigator_full_name"):
        people.append({"role": "RESPONSIBLE_PARTY", "name": text(party, "investigator_full_name"),
                       "affiliation": text(party, "investigator_affiliation")})
    references = [{"pmid": text(ref, "PMID"), "type": enum(tag), "citation": text(ref, "citation")}
                  for tag in ("reference", "results_reference") for ref in root.iterfind(tag)]
    enrollment = root.find("enrollment")
    design = root.find("study_design_info")
    study_type, _, patient_registry = study_type_of(text(root, "study_type"))
    access = {key: text(root, f"expanded_access_info/expanded_access_type_{key}")
              for key in ("individual", "intermediate", "treatment")}
    return new_trial(
        nct_id=text(root, "id_info/nct_id"),
        org_study_id=text(root, "id_info/org_study_id"),
        secondary_ids=[{"id": " ".join(s.text.split()), "type": None, "domain": None}
                       for s in root.iterfind("id_info/secondary_id") if s.text and s.text.strip()],
        brief_title=text(root, "brief_title"),
        official_title=text(root, "official_title"),
        acronym=text(root, "acronym"),
        overall_status=enum(text(root, "overall_status")),
        why_stopped=text(root, "why_stopped"),
        start_date=iso_date(text(root, "start_date")),
        primary_completion_date=iso_date(text(root, "primary_completion_date")),
        completion_date=iso_date(text(root, "completion_date")),
        # Before 2017 the XML gave firstreceived_date and lastchanged_date: the days a record was
        # submitted (v2's studyFirstSubmitDate, lastUpdateSubmitDate), not the days it was posted.
        first_posted=iso_date(text(root, "study_first_posted")),
        last_update_posted=iso_date(text(root, "last_update_posted")),
        study_type=study_type,
        expanded_access_types=expanded_access_types(access),
        patient_registry=patient_registry,
        phases=phases_from([text(root, "phase")] if text(root, "phase") else []),
        allocation=enum(text(design, "allocation")) if design is not None else None,
        intervention_model=enum(text(design, "intervention_model")) if design is not None else None,
        masking=enum(text(design, "masking")) if design is not None else None,
        primary_purpose=enum(text(design, "primary_purpose")) if design is not None else None,
        enrollment=enrollment_count(enrollment.text if enrollment is not None else None),
        enrollment_type=enum(enrollment.get("type")) if enrollment is not None else None,
        lead_sponsor=text(root, "sponsors/lead_sponsor/agency"),
        collaborators=[text(c, "agency") for c in root.iterfind("sponsors/collaborator") if text(c, "agency")],
        responsible_party=enum(text(root, "responsible_party/responsible_party_type")),
        people=people,
        conditions=[" ".join(c.text.split()) for c in root.iterfind("condition") if c.text],
        keywords=[" ".join(k.text.split()) for k in root.iterfind("keyword") if k.text],
        condition_mesh=[{"id": None, "term": " ".join(m.text.split())}
                        for m in root.iterfind("condition_browse/mesh_term") if m.text],
        arms=[{"label": text(a, "arm_group_label"), "type": enum(text(a, "arm_group_type")),
               "description": text(a, "description")} for a in root.iterfind("arm_group")],
        interventions=[{"type": enum(text(i, "intervention_type")), "name": text(i, "intervention_name"),
                        "description": text(i, "description"),
                        "arm_labels": [" ".join(a.text.split()) for a in i.iterfind("arm_group_label") if a.text],
                        "other_names": [" ".join(o.text.split()) for o in i.iterfind("other_name") if o.text]}
                       for i in root.iterfind("intervention")],
        outcomes=[{"kind": kind.upper(), "measure": text(o, "measure"), "time_frame": text(o, "time_frame"),
                   "description": text(o, "description")}
                  for kind in ("primary", "secondary", "other") for o in root.iterfind(f"{kind}_outcome")],
        min_age=age(text(root, "eligibility/minimum_age")),
        max_age=age(text(root, "eligibility/maximum_age")),
        sex=enum(text(root, "eligibility/gender")),
        healthy_volunteers=enum(text(root, "eligibility/healthy_volunteers")),
        eligibility_criteria=block(root, "eligibility/criteria/textblock"),
        study_population=block(root, "eligibility/study_pop/textblock"),
        sites=[{"facility": text(loc, "facility/name"), "city": text(loc, "facility/address/city"),
                "state": text(loc, "facility/address/state"), "zip": text(loc, "facility/address/zip"),
                "country": text(loc, "facility/address/country"),
                "latitude": None, "longitude": None, "status": enum(text(loc, "status"))}
               for loc in root.iterfind("location")],
        references=references,
        has_results=root.find("clinical_results") is not None,
        results=ctgov_results.parse_xml(root.find("clinical_results")),
        brief_summary=block(root, "brief_summary/textblock"),
    )


def parse_rss_item(item):
    """One item of the legacy RSS search feed -> thin trial record (id, title, what the description says)."""
    description = etree.fromstring(f"<d>{item.findtext('description') or ''}</d>", etree.HTMLParser())
    fields = {}
    for label in description.iter("b"):
        fields[label.text.strip()] = (label.tail or "").strip(" :\xa0")

    def listed_after(prefix):
        """'Condition' or 'Conditions', 'Sponsor' or 'Sponsors': the feed uses both, ';'-separated."""
        value = next((v for k, v in fields.items() if k.startswith(prefix)), "")
        return [part.strip() for part in value.split(";") if part.strip()]

    status = next((key for key, value in fields.items() if not value), None)
    sponsors = listed_after("Sponsor")
    return new_trial(
        nct_id=item.findtext("guid"), brief_title=item.findtext("title"), overall_status=enum(status),
        conditions=listed_after("Condition"),
        interventions=[intervention_from_label(i) for i in listed_after("Intervention")],
        lead_sponsor=sponsors[0] if sponsors else None, collaborators=sponsors[1:], completeness=SUMMARY)


def intervention_from_label(label):
    """'Drug: Placebo' -> an intervention dict."""
    kind, _, name = label.strip().partition(": ")
    if not name:
        kind, name = None, kind
    return {"type": enum(kind), "name": name.strip(), "description": None, "arm_labels": [], "other_names": []}


# ---------------------------------------------------------------- CSV exports (legacy and current site)

CSV_DESIGN_KEYS = {"Allocation": "allocation", "Intervention Model": "intervention_model",
                   "Masking": "masking", "Primary Purpose": "primary_purpose"}
# The current site's export (ctg-studies.csv) names these columns apart from the legacy one.
CSV_COLUMNS = {"Study Title": "Title", "Study Status": "Status", "Sex": "Gender", "Study Design": "Study Designs"}
CSV_OUTCOMES = {"Outcome Measures": "UNSPECIFIED", "Primary Outcome Measures": "PRIMARY",
                "Secondary Outcome Measures": "SECONDARY", "Other Outcome Measures": "OTHER"}


# Countries whose ClinicalTrials.gov name holds a comma: "Iran, Islamic Republic of", "Congo, The
# Democratic Republic of the", "Palestinian Territory, occupied".
COMMA_COUNTRY = re.compile(r"\b(?:of|of the|occupied)$", re.I)
# A postcode has a digit and no lower-case word: "77030", "H3T 1E2", "N-2390", "CEP 90610-000"
# (and, typed in its place, a dialling code: "+5581").
POSTCODE = re.compile(r"(?=[^,]*\d)[+A-Z\d][A-Z\d -]{1,12}")
# Words that name an institution or a part of one, never a city: in "Xiangya Hospital, Central
# South University, Changsha, China" the part before Changsha is the facility's, not a city.
FACILITY_WORD = re.compile(
    r"hospi|h[oô]pital|ospedale|klinik|clinic|univers|college|school|institu|\bcent(?:er|re|ro)\b|"
    r"foundation|department|\bdept\b|division|faculty|laborator|research|medical|health|\bunit\b|"
    r"\bward\b|\bsite\b|\b(?:ltd|inc|llc|gmbh)\b|"
    # A specialty ('Cardiologia', 'Endocrinology and Metabolism'), a hospital in Nordic or Polish
    # ('Drammen Sykehus', 'Szpital im. Fryderyka Chopina'), a doctor ('Dr. Kohler') and company forms
    # ('S.A. de C.V.', 'E.P.E', 's.r.o.').
    r"\w\wolog(?:y|ia|ie|ía)\b|sykehus|sjukhus|sygehus|szpital|przychodnia|poradnia|\bdr\.|"
    r"\b(?:s\.a|s\.c|c\.v|e\.p\.e|s\.r\.o)\b", re.I)


def split_bar(value):
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def parse_site(text):
    """One site of the export: 'Xiangya Hospital, Central South University, Changsha, Hunan, China'
    -> facility 'Xiangya Hospital, Central South University', city Changsha, state Hunan, country China.

    The export joins facility, city, state, postcode and country with ', ' and leaves out empty
    ones (or not: ',,'), and a facility's own name may hold commas; so the place is read from
    the right and what is left is the facility.
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    country = parts.pop() if parts else None
    if parts and COMMA_COUNTRY.search(country):
        country = f"{parts.pop()}, {country}"
    postcode = parts.pop() if len(parts) > 1 and POSTCODE.fullmatch(parts[-1]) else None
    state = None
    # A US site always names its state (the registry requires one); elsewhere a state is read
    # when what precedes it is a place too, not a part of the facility's name or a sentence's
    # tail ("..., or speak with your personal physician., Pierre Benite, 69495, France"), and
    # a site with no facility ("Changsha, Hunan, 410008, China") when the gazetteer knows the
    # two as a city and a region of that country.
    if (country == "United States" and len(parts) > 1) or (
            len(parts) > 2 and not FACILITY_WORD.search(parts[-2]) and not parts[-2][0].islower()) or (
            len(parts) == 2 and city_and_region(parts[0], parts[1], country)):
        state = parts.pop()
    city = parts.pop() if parts else None
    return {"facility": ", ".join(parts) or None, "city": city, "state": state, "zip": postcode,
            "country": country, "latitude": None, "longitude": None, "status": None}


def city_and_region(city, region, country):
    """Are `city` and `region` a city and a state or province of `country` ('Changsha, Hunan'),
    rather than a facility and its city ('Peking Union Medical College Hospital, Beijing')? The
    city must be one the gazetteer knows in that country, and by that very name when a facility's
    word is in it ("L'Hospitalet de Llobregat"); the region an ISO 3166-2 one ('Pontevedra'), the
    city's own name ('Osaka, Osaka') or a name that is no city of that country (the registry
    writes regions in English: 'Lombardy', 'Bavaria'). A city the gazetteer does not know counts
    before a region it knows, or one slip from one ('Petlaing Jaya, Salangor'), that is no city."""
    code = places.country_code(country)
    if not code or FACILITY_WORD.search(region) or region[0].islower():
        return False
    known = places.city(city, code)
    if not known:
        # A city the gazetteer does not know, misspelled ('Belagum, Karnataka') or too small,
        # before a region that is no city: every site has a city, and a region is none, so the
        # place before it is the city (as written: it stays unplaced, never put at the region).
        return not FACILITY_WORD.search(city) and not re.search(r"^[a-z]|\d", city) and not places.city(
            region, code) and (places.is_region(region, code) or places.misspelled_region(region, code))
    if FACILITY_WORD.search(city) and places.key(known.name) != places.key(city):
        return False
    return places.is_region(region, code) or region == city or not places.city(region, code)


def std_ages_of(age):
    """The age groups of an export's Age column: the legacy '18 Years to 80 Years   (Adult, Older
    Adult)' gives them in brackets after the ages, the current site's 'ADULT, OLDER_ADULT' alone."""
    age = age or ""
    found = re.search(r"\(([^()]*)\)\s*$", age)
    groups = found.group(1) if found else "" if re.search(r"\d", age) else age
    return [enum(group) for group in groups.split(",") if group.strip()]


def parse_csv_row(row):
    """One row of a 'Download CSV' export -> trial record; lists are joined with '|'.

    Two layouts, read by column name (the current site lets a user pick the columns): the
    legacy site's (ct2/results/download_fields: values as the site showed them, 'Sponsor/
    Collaborators' in one column) and the current site's (ctg-studies.csv: v2 enum values and
    ISO dates, 'Sponsor' and 'Collaborators' apart, outcomes by kind, each written 'measure,
    description, time frame' and kept whole as its measure).
    """
    row = {CSV_COLUMNS.get(column, column): value for column, value in row.items()}
    design = {}
    for part in split_bar(row.get("Study Designs")):
        key, _, value = part.partition(": ")
        if key in CSV_DESIGN_KEYS:
            design[CSV_DESIGN_KEYS[key]] = enum(value)
    ages = re.match(r"(?:(\d+ \w+) to (\d+ \w+)|(\d+ \w+) and older|up to (\d+ \w+))", row.get("Age") or "")
    min_age = max_age = None
    if ages:
        min_age = ages.group(1) or ages.group(3)
        max_age = ages.group(2) or ages.group(4)
    other_ids = split_bar(row.get("Other IDs"))
    sponsors = split_bar(row.get("Sponsor/Collaborators")) or split_bar(row.get("Sponsor")) + split_bar(
        row.get("Collaborators"))
    study_type, access, patient_registry = study_type_of(row.get("Study Type"))
    results = (row.get("Study Results") or "").lower()
    return new_trial(
        nct_id=row.get("NCT Number"), brief_title=row.get("Title"), acronym=row.get("Acronym") or None,
        overall_status=enum(row.get("Status")),
        has_results=results in ("has results", "yes") if results else None,
        conditions=split_bar(row.get("Conditions")),
        interventions=[intervention_from_label(i) for i in split_bar(row.get("Interventions"))],
        outcomes=[{"kind": kind, "measure": m, "time_frame": None, "description": None}
                  for column, kind in CSV_OUTCOMES.items() for m in split_bar(row.get(column))],
        lead_sponsor=sponsors[0] if sponsors else None, collaborators=sponsors[1:],
        sex=enum(row.get("Gender")), min_age=min_age, max_age=max_age, std_ages=std_ages_of(row.get("Age")),
        phases=phases_from([row.get("Phases")] if row.get("Phases") else []),
        enrollment=enrollment_count(row.get("Enrollment")), study_type=study_type,
        expanded_access_types=access, patient_registry=patient_registry,
        org_study_id=other_ids[0] if other_ids else None,
        secondary_ids=[{"id": i, "type": None, "domain": None} for i in other_ids[1:]],
        start_date=iso_date(row.get("Start Date")),
        primary_completion_date=iso_date(row.get("Primary Completion Date")),
        completion_date=iso_date(row.get("Completion Date")), first_posted=iso_date(row.get("First Posted")),
        last_update_posted=iso_date(row.get("Last Update Posted")),
        sites=[parse_site(location) for location in split_bar(row.get("Locations"))],
        brief_summary=row.get("Brief Summary") or None, completeness=SUMMARY, **design)


def csv_rows(data, origin):
    """Each row of a CSV export as a {column: value} dict, or a ParseError naming its line when
    it has another number of fields than the header or an unclosed quote. A download stopped
    in the middle of a row leaves a half row (a phase cut to 'P', no enrollment), which must
    not load as a trial: the last row cut short is a fatal fault, the rows before it load."""
    consumed = []

    def lines():
        for line in io.StringIO(data.decode("utf-8-sig")):
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), strict=True)
    header = next(reader, [])
    found, first_line = [], reader.line_num + 1
    while True:
        consumed.clear()
        try:
            fields = next(reader)
            problem = None if len(fields) == len(header) else f"{len(fields)} fields where the header has {len(header)}"
        except StopIteration:
            break
        except csv.Error as error:  # an unclosed quote, or text after a closing one
            fields, problem = None, f"unreadable ({error})"
        found.append((first_line, fields, problem, "".join(consumed) if problem else None))
        first_line = reader.line_num + 1
    for number, (line, fields, problem, raw) in enumerate(found, 1):
        if fields == []:  # a blank line
            continue
        if not problem:
            yield dict(zip(header, fields))
            continue
        cut = number == len(found) and (fields is None or not raw.endswith(("\n", "\r")))
        yield ParseError(f"{problem}: " + ("the file is cut short in this row" if cut else
                         "a malformed row, not loaded"), source=SOURCE, origin=origin, record_id=f"line {line}",
                         raw=raw.encode(), fatal=cut)


# ---------------------------------------------------------------- any payload

def sniff(data):
    """Which format a payload is: v2-page, v2-study, v1-full, v1-fields, xml, rss, csv, csv-row
    (one row of an export as a {column: value} JSON object: the raw record the KB keeps of it),
    or error."""
    head = data.lstrip()[:2048]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith((b"{", b"[")):
        try:
            payload = json.loads(data)
        except ValueError:
            return "error"
        if isinstance(payload, list):
            return "v2-list"
        for key, kind in (("studies", "v2-page"), ("protocolSection", "v2-study"),
                          ("FullStudiesResponse", "v1-full"), ("StudyFieldsResponse", "v1-fields"),
                          ("NCT Number", "csv-row")):
            if key in payload:
                return kind
        return "error"
    if b"<clinical_study" in head:
        return "xml"
    if b"<rss" in head:
        return "rss"
    first_line = head.splitlines()[0] if head else b""
    if b"NCT Number" in first_line:
        return "csv"
    return "error"


def guarded(parse, item, origin, record_id, raw):
    return guarded_parse(parse, item, source=SOURCE, origin=origin, record_id=record_id, raw=raw, key="nct_id",
                         valid=lambda nct_id: bool(nct_id and re.fullmatch(r"NCT\d{8}", nct_id)))


@payload_guarded(SOURCE)
def parse_payload(data, origin):
    """Every trial in a payload of any supported format: records, or ParseErrors for bad ones.

    Returns (items, meta); meta holds `next_page_token` and `total_count` for v2 pages.
    A payload of no known format gives one fatal ParseError.
    """
    kind = sniff(data)
    meta = {}
    items = []

    def dump(obj):
        return json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()

    def v2_id(study):
        return study.get("protocolSection", {}).get("identificationModule", {}).get("nctId")

    if kind in ("v2-page", "v2-study", "v2-list"):
        payload = json.loads(data)
        studies = payload.get("studies", []) if kind == "v2-page" else (
            payload if kind == "v2-list" else [payload])
        if kind == "v2-page":
            meta = {"next_page_token": payload.get("nextPageToken"), "total_count": payload.get("totalCount")}
        items = [guarded(parse_v2_study, s, origin, v2_id(s), dump(s)) for s in studies]
    elif kind == "v1-full":
        response = json.loads(data)["FullStudiesResponse"]
        for entry in response.get("FullStudies") or []:
            study = entry.get("Study", {})
            nct = study.get("ProtocolSection", {}).get("IdentificationModule", {}).get("NCTId")
            items.append(guarded(parse_v1_study, study, origin, nct, dump(study)))
    elif kind == "v1-fields":
        for row in json.loads(data)["StudyFieldsResponse"].get("StudyFields") or []:
            items.append(guarded(parse_v1_study_fields, row, origin, (row.get("NCTId") or [None])[0], dump(row)))
    elif kind == "xml":
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
        items = [guarded(parse_legacy_xml, root, origin, root.findtext("id_info/nct_id"), data)]
    elif kind == "rss":
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        items = [guarded(parse_rss_item, item, origin, item.findtext("guid"), etree.tostring(item))
                 for item in root.iterfind("channel/item")]
    elif kind == "csv":
        items = [guarded(parse_csv_row, row, origin, row.get("NCT Number"), dump(row)) if isinstance(row, dict)
                 else row for row in csv_rows(data, origin)]
    elif kind == "csv-row":
        row = json.loads(data)
        items = [guarded(parse_csv_row, row, origin, row.get("NCT Number"), data)]
    else:
        items = [ParseError(f"not a ClinicalTrials.gov payload: {error_message(data)}", source=SOURCE,
                            origin=origin, raw=data[:65536], fatal=True)]
    return items, meta


# ---------------------------------------------------------------- the client


class CtGov:
    """API v2 client. `harvest(...)` yields /studies pages; pass the last stored state to resume."""

    def __init__(self, client=None, base_url=API, page_size=PAGE_SIZE, email=None):
        # About one request a second: robots.txt asks for Crawl-delay 1.
        self.client = client or Client(SOURCE, rate_per_second=1, email=email, uncached=(r"/studies\?",))
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size

    def query(self, condition=None, intervention=None, term=None, since=None):
        params = {"query.cond": condition, "query.intr": intervention, "query.term": term,
                  "pageSize": self.page_size, "format": "json"}
        if since:
            params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
        return {k: v for k, v in params.items() if v is not None}

    def study(self, nct_id):
        """One study's v2 JSON bytes (GET /studies/{nctId})."""
        return self.client.get(f"{self.base_url}/studies/{nct_id}", {"format": "json"}).content

    def harvest(self, condition=None, intervention=None, term=None, since=None, state=None):
        """Yield Pages of studies matching the query; only those updated on or after `since` when given."""
        state = dict(state or {"page_token": None, "pages": 0,
                               "since": since.isoformat() if since else None})
        params = self.query(condition, intervention, term,
                            dt.date.fromisoformat(state["since"]) if state["since"] else None)
        seen_tokens = set()
        while True:
            page_params = dict(params)
            if state["page_token"]:
                page_params["pageToken"] = state["page_token"]
            else:
                page_params["countTotal"] = "true"
            response = self.client.get(f"{self.base_url}/studies", page_params)
            kind = sniff(response.content)
            origin = f"ctgov /studies {params} page {state['pages'] + 1}"
            if kind != "v2-page":
                self.client.forget(response)
                raise HarvestError(f"{origin} answered {error_message(response.content)}")
            token = json.loads(response.content).get("nextPageToken")
            state = {"page_token": token, "pages": state["pages"] + 1, "since": state["since"]}
            yield Page(response.content, origin, dict(state))
            if not token:
                return
            follow(seen_tokens, token, origin, "page token")
