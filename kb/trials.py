"""Registered trials in the KB: rows from ClinicalTrials.gov records, and the links they assert."""

import json
import zlib

from harvest import ctgov, registries

from . import references
from .db import TRIAL_FTS_COLUMNS, insert_rows
from .load import Loader, affiliation_rows, link_row
from .mesh import descriptor_ui

# A trial reference's type -> the relation from the trial to the referenced work.
REFERENCE_RELATIONS = {"RESULT": "reported_in", "DERIVED": "reported_in", "BACKGROUND": "background_for"}


def as_json(values):
    return json.dumps(values, ensure_ascii=False) if values else None


def trial_identifiers(record):
    """(scheme, identifier, row) for the NCT id, the sponsor's id and every secondary id, in the
    record's order: one id listed twice (under two domains) is two rows. The scheme is None for
    an id that is no registry number."""
    found = [("nct", record["nct_id"], {"identifier": record["nct_id"], "registry": "ClinicalTrials.gov",
                                          "id_type": "NCT", "domain": None})]
    if record["org_study_id"]:
        found.append((None, record["org_study_id"], {"identifier": record["org_study_id"], "registry": None,
                                                     "id_type": "ORG_STUDY_ID", "domain": None}))
    for secondary in record["secondary_ids"]:
        known = registries.scheme_of(secondary["id"])
        identifier = known[1] if known else secondary["id"]
        found.append((known[0] if known else None, identifier, {
            "identifier": identifier, "registry": secondary["registry"], "id_type": secondary["type"],
            "domain": secondary["domain"]}))
    return [entry for entry in found if entry[1]]


def trial_row(trial_id, record):
    start_year = int(record["start_date"][:4]) if (record["start_date"] or "")[:4].isdigit() else None
    countries = sorted({site["country"] for site in record["sites"] if site["country"]})
    return {
        "id": trial_id,
        **{key: record[key] for key in (
            "nct_id", "org_study_id", "brief_title", "official_title", "acronym", "overall_status",
            "why_stopped", "start_date", "primary_completion_date", "completion_date", "first_posted",
            "last_update_posted", "study_type", "allocation", "intervention_model", "masking",
            "primary_purpose", "enrollment", "enrollment_type", "lead_sponsor", "responsible_party",
            "min_age", "max_age", "sex", "brief_summary", "eligibility_criteria", "study_population")},
        "start_year": start_year,
        "phases": as_json(record["phases"]),
        "collaborators": as_json(record["collaborators"]),
        "conditions": as_json(record["conditions"]),
        "keywords": as_json(record["keywords"]),
        "condition_mesh": as_json([m["term"] for m in record["condition_mesh"] if m["term"]]),
        "intervention_types": as_json(sorted({i["type"] for i in record["interventions"] if i["type"]})),
        "countries": as_json(countries),
        "healthy_volunteers": None if record["healthy_volunteers"] is None else int(record["healthy_volunteers"]),
        "has_results": None if record["has_results"] is None else int(record["has_results"]),
        "expanded_access_types": as_json(record["expanded_access_types"]),
        "patient_registry": None if record["patient_registry"] is None else int(record["patient_registry"]),
        "std_ages": as_json(record["std_ages"]),
    }


def trial_fts_row(trial_id, record):
    values = {
        "title": " ".join(filter(None, (record["brief_title"], record["official_title"], record["acronym"]))),
        "conditions": "; ".join(record["conditions"] + [m["term"] for m in record["condition_mesh"] if m["term"]]),
        "interventions": "; ".join(" ".join(filter(None, (i["name"], i["description"], *i["other_names"])))
                                   for i in record["interventions"]),
        "outcomes": "; ".join(o["measure"] for o in record["outcomes"] if o["measure"]),
        "sponsor": "; ".join(filter(None, [record["lead_sponsor"], *record["collaborators"]])),
        "summary": record["brief_summary"],
        "keywords": "; ".join(record["keywords"]),
        # Where a researcher would go: a search for a city or a hospital finds the trials held there.
        "sites": "; ".join(", ".join(filter(None, (site["facility"], site["city"], site["state"], site["country"])))
                           for site in record["sites"]),
        "eligibility": " ".join(filter(None, (record["eligibility_criteria"], record["study_population"]))),
    }
    return {"rowid": trial_id, **{column: values[column] for column in TRIAL_FTS_COLUMNS}}


def stored_records(db):
    """Each trial's stored raw records parsed again, the most complete last: (trial id, record),
    or (trial id, None) for a raw record that no longer parses."""
    for trial_id, raw in db.execute(
            "SELECT trial_id, raw FROM records WHERE trial_id IS NOT NULL ORDER BY trial_id, completeness"):
        items, _ = ctgov.parse_payload(zlib.decompress(raw), "records")
        yield trial_id, next((item for item in items if isinstance(item, dict)), None)


ELIGIBILITY_COLUMNS = ("std_ages", "eligibility_criteria", "study_population")


def eligibility_read_again(db):
    """The eligibility columns of a KB loaded before they were kept, from each trial's stored raw
    records (the most complete one is read last, so its values stand)."""
    marks = ", ".join(f"{column} = ?" for column in ELIGIBILITY_COLUMNS)
    rows = (trial_row(trial_id, record) for trial_id, record in stored_records(db) if record)
    db.conn.executemany(f"UPDATE trials SET {marks} WHERE id = ?",
                        ([*(row[column] for column in ELIGIBILITY_COLUMNS), row["id"]] for row in rows))


def numbered(trial_id, items):
    return [{"trial_id": trial_id, "position": position, **item} for position, item in enumerate(items, 1)]


RESULT_TABLES = {"groups": "trial_result_groups", "flow": "trial_flow", "baseline": "trial_baseline",
                 "outcomes": "trial_result_outcomes", "outcome_values": "trial_outcome_values",
                 "analyses": "trial_outcome_analyses", "events": "trial_adverse_events"}


def arm_of(title, arms):
    """The arm a result group reports on: the arm whose label is the group's title (case and
    spacing aside); a group of several arms, a 'Total' or a retitled group maps to none."""
    key = " ".join((title or "").split()).casefold()
    return next((arm["label"] for arm in arms if key and " ".join((arm["label"] or "").split()).casefold() == key),
                None)


def result_rows(trial_id, record):
    """{table: rows} of a trial's posted results; nothing when it posted none."""
    results = record.get("results")
    if not results:
        return {}
    details = {key: int(value) if isinstance(value, bool) else value for key, value in results["details"].items()}
    rows = {"trial_results": [{"trial_id": trial_id, **details}]}
    for key, table in RESULT_TABLES.items():
        items = results[key]
        if key == "groups":
            items = [{**g, "arm_label": arm_of(g["title"], record["arms"])} for g in items]
        elif key == "analyses":
            items = [{**a, "group_codes": as_json(a["group_codes"])} for a in items]
        rows[table] = numbered(trial_id, items)
    return rows


class TrialLoader(Loader):
    """Trials from ClinicalTrials.gov records of any format."""

    table, key, fk, fts = "trials", "nct_id", "trial_id", "trials_fts"
    derived_tables = ("trial_ids", "trial_conditions", "trial_arms", "trial_interventions", "trial_outcomes",
                      "trial_sites", "trial_people", "trial_references", "trial_results", *RESULT_TABLES.values())

    def identifiers(self, record):
        return [(scheme, identifier) for scheme, identifier, _ in trial_identifiers(record) if scheme]

    def write_rows(self, changed):
        rows = {table: [] for table in ("trials", "trials_fts", *self.derived_tables)}
        affiliations, links = {}, []
        for trial_id, record in changed:
            rows["trials"].append(trial_row(trial_id, record))
            rows["trials_fts"].append(trial_fts_row(trial_id, record))
            rows["trial_ids"].extend(numbered(trial_id, [row for _, _, row in trial_identifiers(record)]))
            rows["trial_conditions"].extend(
                numbered(trial_id, [{"kind": "condition", "condition": c, "mesh_id": None}
                                    for c in record["conditions"]])
                + numbered(trial_id, [{"kind": "mesh", "condition": m["term"], "mesh_id": descriptor_ui(m["id"])}
                                      for m in record["condition_mesh"]]))
            rows["trial_arms"].extend(numbered(trial_id, record["arms"]))
            rows["trial_interventions"].extend(numbered(trial_id, [
                {**i, "arm_labels": as_json(i["arm_labels"]), "other_names": as_json(i["other_names"])}
                for i in record["interventions"]]))
            rows["trial_outcomes"].extend(numbered(trial_id, record["outcomes"]))
            rows["trial_sites"].extend(numbered(trial_id, record["sites"]))
            people = []
            for person in record["people"]:
                affiliation_id = None
                if person["affiliation"]:
                    # A trial person has one affiliation, however it is written.
                    aff = next(iter(affiliation_rows({"name": person["affiliation"], "identifiers": {}})), None)
                    if aff:
                        affiliations[aff["id"]] = aff
                        affiliation_id = aff["id"]
                people.append({"role": person["role"], "name": person["name"], "affiliation_id": affiliation_id})
            rows["trial_people"].extend(numbered(trial_id, people))
            rows["trial_references"].extend(references.trial_reference_rows(trial_id, record))
            for table, table_rows in result_rows(trial_id, record).items():
                rows[table].extend(table_rows)
            for reference in record["references"]:
                if reference["pmid"]:
                    links.append(link_row(
                        from_scheme="nct", from_id=record["nct_id"],
                        relation=REFERENCE_RELATIONS.get(reference["type"], "references"),
                        to_scheme="pmid", to_id=reference["pmid"].strip(), from_trial_id=trial_id,
                        evidence=f"{reference['type'] or 'reference'}: {reference['citation'] or ''}".strip(),
                        asserted_by=self.source))
        self.insert_entities("affiliations", affiliations)
        for table, table_rows in rows.items():
            insert_rows(self.db, table, table_rows)
        references.resolve_in(self.db, "trial_references", [trial_id for trial_id, _ in changed])
        self.add_links(links)
