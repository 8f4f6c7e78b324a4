"""Opening a knowledge base and creating its schema.

Table and column names are the public API: users query them through Datasette.
Every table and column is described in datasette-metadata.json.
"""

import hashlib
import itertools
import json
import operator
import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

if "pandas" in sys.modules:
    import sqlite_utils
else:
    # sqlite-utils imports pandas when it is installed (statsmodels brings it) only to store
    # its Timestamps as TEXT, and we never hand it pandas values; the import costs every `kb`
    # process, bulk workers included, 65 MB of memory. A None in sys.modules makes that one
    # import fail as if pandas were missing; whoever needs pandas later imports it as usual.
    sys.modules["pandas"] = None
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]

DEFAULT_DB = "regenkb.db"

# Title hits outrank MeSH and keyword hits, which outrank author, journal, abstract and affiliation hits.
FTS_COLUMNS = ("title", "abstract", "mesh", "keywords", "authors", "journal", "affiliations")
FTS_WEIGHTS = (10.0, 1.0, 4.0, 4.0, 2.0, 1.0, 1.0)
# Columns added to works_fts and trials_fts since they were first made, and how an older KB's rows
# get them (FTS5 has no ADD COLUMN, so the table is made again from its rows).
FTS_ADDED = {"affiliations": """(SELECT group_concat(name, '; ') FROM (SELECT DISTINCT af.name
    FROM work_author_affiliations waa JOIN affiliations af ON af.id = waa.affiliation_id
    WHERE waa.work_id = old.rowid))""",
             "sites": """(SELECT group_concat(place, '; ') FROM (SELECT coalesce(facility, '') || ' ' ||
    coalesce(city, '') || ' ' || coalesce(state, '') || ' ' || coalesce(country, '') AS place
    FROM trial_sites WHERE trial_id = old.rowid ORDER BY position))""",
             "eligibility": """(SELECT coalesce(eligibility_criteria, '') || ' ' || coalesce(study_population, '')
    FROM trials WHERE id = old.rowid)"""}
# A site's city or a word of the eligibility criteria ranks a trial below its title, conditions and
# interventions: criteria name many conditions a trial excludes.
TRIAL_FTS_COLUMNS = ("title", "conditions", "interventions", "outcomes", "sponsor", "summary", "keywords", "sites",
                     "eligibility")
TRIAL_FTS_WEIGHTS = (10.0, 5.0, 5.0, 2.0, 2.0, 1.0, 3.0, 1.0, 0.5)
FTS_TABLES = {"works_fts": (FTS_COLUMNS, FTS_WEIGHTS), "trials_fts": (TRIAL_FTS_COLUMNS, TRIAL_FTS_WEIGHTS)}
# Tables whose names (name, name_forms) are indexed for search in <table>_fts, its rowid the row's
# id: kb.search.named finds each word of a query as the start of a word of a name there, where a
# LIKE scan of every row took over 100 ms a search at 400,000 people (benchmarks/names.py).
NAMED = ("authors", "institutions")
# The name forms as the index holds them: the JSON list's items as text ("Li Y; Li Yi"), so that
# no column of the index reads as a list; a value that is no JSON list is taken as it is.
NAME_FORMS_TEXT = """(SELECT group_concat(value, '; ') FROM json_each(CASE WHEN json_valid({table}.name_forms)
    THEN {table}.name_forms ELSE json_array({table}.name_forms) END))"""

SCHEMA = {
    "works": ({
        "id": int, "title": str, "vernacular_title": str, "abstract": str, "year": int,
        "pub_date": str, "article_date": str, "journal": str, "journal_iso": str, "issn": str,
        "volume": str, "issue": str, "pages": str, "doi": str, "pmid": str, "pmcid": str,
        "language": str, "pub_types": str, "keywords": str, "grants": str, "author_list": str,
        "is_retracted": int, "openalex_id": str, "is_preprint": int, "cited_by_count": int,
        "oa_status": str, "topics": str, "first_author": str, "sources": str, "provenance": str,
        "copyright": str, "match_key": str, "pub_date_text": str, "eissn": str, "languages": str,
    }, "id"),
    "merges": ({
        "id": int, "work_id": int, "source": str, "source_id": str, "matched_by": str, "score": float,
        "merged_at": str,
    }, "id"),
    "merge_blocks": ({
        "source": str, "source_id": str, "other_source": str, "other_source_id": str, "created_at": str,
    }, ("source", "source_id", "other_source", "other_source_id")),
    "work_conflicts": ({"work_id": int, "field": str, "source": str, "value": str},
                       ("work_id", "field", "source")),
    "graph_nodes": ({
        "network": str, "node": str, "kind": str, "label": str, "degree": int, "weighted_degree": float,
        "pagerank": float, "betweenness": float, "component": int, "community": int, "community_label": str,
        "first_year": int, "last_year": int,
    }, ("network", "node")),
    "graph_edges": ({
        "id": int, "network": str, "source": str, "target": str, "kind": str, "weight": float, "evidence": str,
    }, "id"),
    "graph_runs": ({
        "network": str, "counting": str, "query": str, "years": str, "on_topic": int, "nodes": int, "edges": int,
    }, "network"),
    "institutions": ({
        "id": int, "name": str, "ror": str, "openalex_id": str, "type": str, "city": str, "country": str,
        "latitude": float, "longitude": float, "works": int, "authors": int, "first_year": int,
        "last_year": int, "name_forms": str, "matched_by": str, "fetched_from": str, "geo_source": str,
    }, "id"),
    "departments": ({"id": int, "institution_id": int, "name": str, "works": int}, "id"),
    "author_names": ({
        "id": int, "name": str, "last_name": str, "fore_name": str, "initials": str, "suffix": str,
        "orcid": str, "is_collective": int,
    }, "id"),
    "authors": ({
        "id": int, "name": str, "last_name": str, "fore_name": str, "orcid": str, "is_collective": int,
        "works": int, "first_year": int, "last_year": int, "name_forms": str, "institutions": str,
        "top_coauthors": str, "confidence": float, "evidence": str,
    }, "id"),
    "author_curations": ({
        "id": int, "decision": str, "work_id": int, "position": int, "other_work_id": int, "other_position": int,
        "note": str, "created_at": str,
    }, "id"),
    "work_authors": ({
        "work_id": int, "position": int, "name_id": int, "author_id": int, "written_name": str,
    }, ("work_id", "position")),
    "affiliations": ({
        "id": int, "name": str, "ror": str, "ringgold": str, "openalex_id": str, "department": str,
        "institution_name": str, "city": str, "country": str, "institution_id": int, "department_id": int,
    }, "id"),
    "work_author_affiliations": ({
        "work_id": int, "position": int, "affiliation_id": int, "number": int,
    }, ("work_id", "position", "affiliation_id")),
    "mesh_terms": ({"id": str, "name": str}, "id"),
    "mesh_descriptors": ({"id": str, "name": str, "tree_numbers": str, "loaded_from": str}, "id"),
    "mesh_entry_terms": ({"descriptor_id": str, "position": int, "term": str, "key": str},
                         ("descriptor_id", "position")),
    "work_mesh": ({
        "work_id": int, "mesh_id": str, "major_topic": int, "qualifiers": str, "descriptor_major": int,
        "major_qualifiers": str,
    }, ("work_id", "mesh_id")),
    "work_investigators": ({
        "work_id": int, "position": int, "name": str, "last_name": str, "fore_name": str, "initials": str,
        "suffix": str, "orcid": str, "affiliations": str,
    }, ("work_id", "position")),
    "registry_ids": ({"work_id": int, "registry": str, "accession": str, "scheme": str, "found_in": str},
                     ("work_id", "registry", "accession")),
    "links": ({
        "id": int, "from_scheme": str, "from_id": str, "relation": str, "to_scheme": str,
        "to_id": str, "from_work_id": int, "to_work_id": int, "from_trial_id": int, "to_trial_id": int,
        "score": float, "evidence": str, "asserted_by": str,
    }, "id"),
    "work_references": ({
        "work_id": int, "source": str, "position": int, "citation": str, "title": str, "year": int, "doi": str,
        "pmid": str, "pmcid": str, "openalex_id": str, "cited_work_id": int, "resolved_by": str,
    }, ("work_id", "source", "position")),
    "records": ({
        "source": str, "source_id": str, "work_id": int, "trial_id": int, "completeness": int,
        "version": str, "sha1": str, "origin": str, "retrieved_at": str, "raw": bytes,
    }, ("source", "source_id")),
    "trials": ({
        "id": int, "nct_id": str, "org_study_id": str, "brief_title": str, "official_title": str,
        "acronym": str, "overall_status": str, "why_stopped": str, "start_date": str, "start_year": int,
        "primary_completion_date": str, "completion_date": str, "first_posted": str,
        "last_update_posted": str, "study_type": str, "phases": str, "allocation": str,
        "intervention_model": str, "masking": str, "primary_purpose": str, "enrollment": int,
        "enrollment_type": str, "lead_sponsor": str, "collaborators": str, "responsible_party": str,
        "conditions": str, "keywords": str, "condition_mesh": str, "intervention_types": str,
        "countries": str, "min_age": str, "max_age": str, "sex": str, "healthy_volunteers": int,
        "has_results": int, "brief_summary": str, "expanded_access_types": str, "patient_registry": int,
        "std_ages": str, "eligibility_criteria": str, "study_population": str,
    }, "id"),
    "trial_ids": ({"trial_id": int, "position": int, "identifier": str, "registry": str, "id_type": str,
                   "domain": str}, ("trial_id", "position")),
    "trial_conditions": ({"trial_id": int, "position": int, "kind": str, "condition": str, "mesh_id": str},
                         ("trial_id", "kind", "position")),
    "trial_arms": ({"trial_id": int, "position": int, "label": str, "type": str, "description": str},
                   ("trial_id", "position")),
    "trial_interventions": ({
        "trial_id": int, "position": int, "type": str, "name": str, "description": str,
        "arm_labels": str, "other_names": str,
    }, ("trial_id", "position")),
    "trial_outcomes": ({
        "trial_id": int, "position": int, "kind": str, "measure": str, "time_frame": str, "description": str,
    }, ("trial_id", "position")),
    "trial_sites": ({
        "trial_id": int, "position": int, "facility": str, "city": str, "state": str, "zip": str, "country": str,
        "latitude": float, "longitude": float, "status": str, "geo_source": str,
    }, ("trial_id", "position")),
    "trial_references": ({
        "trial_id": int, "position": int, "type": str, "citation": str, "doi": str, "pmid": str,
        "cited_work_id": int, "resolved_by": str,
    }, ("trial_id", "position")),
    "trial_people": ({
        "trial_id": int, "position": int, "role": str, "name": str, "affiliation_id": int,
    }, ("trial_id", "position")),
    # Posted results (harvest/ctgov_results.py): one row per posted value; values as posted text.
    "trial_results": ({
        "trial_id": int, "recruitment_details": str, "pre_assignment_details": str, "baseline_population": str,
        "events_time_frame": str, "events_frequency_threshold": str, "events_description": str,
        "limitations": str, "pi_sponsor_employee": int, "restrictive_agreement": int, "restriction_type": str,
        "contact_organization": str,
    }, "trial_id"),
    "trial_result_groups": ({
        "trial_id": int, "position": int, "module": str, "outcome": int, "code": str, "title": str,
        "description": str, "arm_label": str, "analysed": int, "analysed_units": str, "deaths_affected": int,
        "deaths_at_risk": int, "serious_affected": int, "serious_at_risk": int, "other_affected": int,
        "other_at_risk": int,
    }, ("trial_id", "position")),
    "trial_flow": ({
        "trial_id": int, "position": int, "period": str, "kind": str, "title": str, "group_code": str,
        "count": int, "units": int, "comment": str, "note": str,
    }, ("trial_id", "position")),
    "trial_baseline": ({
        "trial_id": int, "position": int, "measure": str, "description": str, "population": str, "unit": str,
        "param_type": str, "dispersion_type": str, "class": str, "category": str, "group_code": str,
        "value": str, "spread": str, "lower_limit": str, "upper_limit": str, "comment": str, "analysed": int,
    }, ("trial_id", "position")),
    "trial_result_outcomes": ({
        "trial_id": int, "position": int, "type": str, "title": str, "description": str, "population": str,
        "time_frame": str, "unit": str, "param_type": str, "dispersion_type": str, "reporting_status": str,
        "posting_date": str,
    }, ("trial_id", "position")),
    "trial_outcome_values": ({
        "trial_id": int, "position": int, "outcome": int, "class": str, "category": str, "group_code": str,
        "value": str, "spread": str, "lower_limit": str, "upper_limit": str, "comment": str, "analysed": int,
    }, ("trial_id", "position")),
    "trial_outcome_analyses": ({
        "trial_id": int, "position": int, "outcome": int, "group_codes": str, "groups_description": str,
        "non_inferiority_type": str, "non_inferiority_comment": str, "p_value": str, "p_value_comment": str,
        "method": str, "method_comment": str, "param_type": str, "param_value": str, "ci_percent": str,
        "ci_sides": str, "ci_lower": str, "ci_upper": str, "ci_comment": str, "dispersion_type": str,
        "dispersion_value": str, "estimate_comment": str, "other_description": str,
    }, ("trial_id", "position")),
    "trial_adverse_events": ({
        "trial_id": int, "position": int, "kind": str, "term": str, "organ_system": str, "vocabulary": str,
        "assessment": str, "notes": str, "group_code": str, "affected": int, "at_risk": int, "events": int,
    }, ("trial_id", "position")),
    "tags": ({
        "subject": str, "subject_id": int, "tag": str, "value": str, "field": str, "span": str, "rule": str,
    }, ("subject", "subject_id", "tag", "value")),
    "tagged": ({"subject": str, "subject_id": int, "digest": str, "found": str}, ("subject", "subject_id")),
    "evidence": ({
        "study_id": str, "kind": str, "title": str, "year": int, "nct_id": str, "registry_ids": str, "pmids": str,
        "work_id": int, "trial_id": int, "work_ids": str, "on_topic": int, "design": str, "phase": str, "n": int,
        "species": str, "intervention": str, "cell_source": str, "origin": str, "route": str, "stroke_type": str,
        "stroke_detail": str, "outcomes": str, "safety": str, "possibly_same_as": str, "animal_model": str,
    }, "study_id"),
    "related_trials": ({
        "work_id": int, "trial_id": int, "rank": int, "score": float, "reasons": str,
    }, ("work_id", "trial_id")),
    # Pooled safety and outcomes (kb/synthesis.py), recomputed after each classify.
    "synthesis_safety": ({
        "intervention": str, "route": str, "studies": int, "patients": int, "events": int, "proportion": float,
        "ci_low": float, "ci_high": float, "study_list": str,
    }, ("intervention", "route")),
    "synthesis_meta": ({
        "id": int, "outcome": str, "kind": str, "unit": str, "time_window": str, "k": int, "effect_measure": str,
        "pooled": float, "ci_low": float, "ci_high": float, "tau2": float, "i2": float, "method": str,
        "studies": str,
    }, "id"),
    "synthesis_meta_studies": ({
        "meta_id": int, "study_id": str, "trial_id": int, "outcome_title": str, "groups": str, "time_frame": str,
        "days": float,
        "treated_n": int, "treated_mean": float, "treated_sd": float, "control_n": int, "control_mean": float,
        "control_sd": float, "effect": float, "se": float, "ci_low": float, "ci_high": float, "weight": float,
    }, ("meta_id", "study_id")),
    "synthesis_excluded": ({
        "id": int, "part": str, "study_id": str, "trial_id": int, "work_id": int, "outcome": str, "reason": str,
    }, "id"),
    "gap_map": ({
        "map": str, "row": str, "intervention": str, "species": str, "animal_model": str, "outcome": str,
        "studies": int, "strongest_design": str, "study_ids": str,
    }, ("map", "row", "outcome")),
    # What each derived row of the refresh was last computed from (a digest), so a refresh
    # writes again only the rows whose inputs changed (kb/evidence.py, gapmap, synthesis, linking).
    "refresh_inputs": ({"step": str, "item": str, "digest": str}, ("step", "item")),
    "quarantine": ({
        "id": int, "source": str, "origin": str, "record_id": str, "error": str, "raw": bytes,
        "quarantined_at": str,
    }, "id"),
    "library_entries": ({
        "source_id": str, "format": str, "origin": str, "entry_type": str, "isbn": str, "urls": str, "notes": str,
        "attachments": str,
    }, "source_id"),
    "loaded_files": ({"path": str, "size": int, "mtime": int, "records": int, "loaded_at": str, "topic": str},
                     "path"),
    "harvest_runs": ({
        "id": int, "source": str, "query": str, "started_at": str, "finished_at": str,
        "status": str, "state": str, "pages": int, "records_loaded": int, "error": str, "pid": int, "host": str,
    }, "id"),
}

# Tables whose rows are found by their whole key: stored in the key's own B-tree, a new KB
# writes each row once instead of twice (a table and its primary-key index). They are a
# load's most numerous rows (some 40 a record). A KB made before keeps its tables, which
# answer the same. (work_authors keeps its rowid: SQL written against the KB names its rows by it.)
WITHOUT_ROWID = ("work_author_affiliations", "work_mesh")

FOREIGN_KEYS = {
    "work_authors": [("work_id", "works", "id"), ("name_id", "author_names", "id"), ("author_id", "authors", "id")],
    "affiliations": [("institution_id", "institutions", "id"), ("department_id", "departments", "id")],
    "departments": [("institution_id", "institutions", "id")],
    "evidence": [("work_id", "works", "id"), ("trial_id", "trials", "id")],
    "related_trials": [("work_id", "works", "id"), ("trial_id", "trials", "id")],
    "synthesis_meta_studies": [("meta_id", "synthesis_meta", "id"), ("trial_id", "trials", "id")],
    "synthesis_excluded": [("work_id", "works", "id"), ("trial_id", "trials", "id")],
    "work_author_affiliations": [("work_id", "works", "id"), ("affiliation_id", "affiliations", "id")],
    "work_mesh": [("work_id", "works", "id"), ("mesh_id", "mesh_terms", "id")],
    "mesh_entry_terms": [("descriptor_id", "mesh_descriptors", "id")],
    "work_investigators": [("work_id", "works", "id")],
    "registry_ids": [("work_id", "works", "id")],
    "links": [("from_work_id", "works", "id"), ("to_work_id", "works", "id"),
              ("from_trial_id", "trials", "id"), ("to_trial_id", "trials", "id")],
    "work_references": [("work_id", "works", "id"), ("cited_work_id", "works", "id")],
    "trial_references": [("trial_id", "trials", "id"), ("cited_work_id", "works", "id")],
    "records": [("work_id", "works", "id"), ("trial_id", "trials", "id")],
    "merges": [("work_id", "works", "id")],
    "work_conflicts": [("work_id", "works", "id")],
    "trial_ids": [("trial_id", "trials", "id")],
    "trial_conditions": [("trial_id", "trials", "id")],
    "trial_arms": [("trial_id", "trials", "id")],
    "trial_interventions": [("trial_id", "trials", "id")],
    "trial_outcomes": [("trial_id", "trials", "id")],
    "trial_sites": [("trial_id", "trials", "id")],
    "trial_people": [("trial_id", "trials", "id"), ("affiliation_id", "affiliations", "id")],
    **{table: [("trial_id", "trials", "id")] for table in (
        "trial_results", "trial_result_groups", "trial_flow", "trial_baseline", "trial_result_outcomes",
        "trial_outcome_values", "trial_outcome_analyses", "trial_adverse_events")},
}

INDEXES = [
    ("works", ["pmid"], False), ("works", ["doi"], False), ("works", ["pmcid"], False),
    ("works", ["year"], False), ("work_authors", ["author_id"], False),
    # The works table's default facets: a covering index each, or every page view scans the table.
    ("works", ["journal"], False), ("works", ["language"], False), ("works", ["is_preprint"], False),
    ("works", ["oa_status"], False),
    ("work_author_affiliations", ["affiliation_id"], False), ("work_mesh", ["mesh_id"], False),
    ("registry_ids", ["accession"], False), ("authors", ["orcid"], False), ("author_names", ["orcid"], False),
    ("work_authors", ["name_id"], False), ("affiliations", ["institution_id"], False),
    ("institutions", ["ror"], False), ("institutions", ["openalex_id"], False), ("institutions", ["country"], False),
    ("authors", ["last_name"], False), ("departments", ["institution_id"], False),
    ("links", ["from_scheme", "from_id", "relation", "to_scheme", "to_id", "asserted_by"], True),
    ("links", ["to_scheme", "to_id"], False), ("links", ["from_work_id"], False),
    ("links", ["to_work_id"], False), ("records", ["work_id"], False),
    # The home page's "since the last load" and the Atom feeds read the newest records; with the
    # ids in the index, counting a first load's million records reads no record (0.2 s, not 0.8).
    ("records", ["retrieved_at", "work_id", "trial_id"], False),
    ("links", ["from_trial_id"], False), ("links", ["to_trial_id"], False), ("records", ["trial_id"], False),
    ("trials", ["nct_id"], True), ("trial_ids", ["identifier"], False), ("trial_sites", ["country"], False),
    ("trial_people", ["affiliation_id"], False),
    # A work just loaded resolves the references that name it by one of these.
    ("work_references", ["pmid"], False), ("work_references", ["doi"], False),
    ("work_references", ["pmcid"], False), ("work_references", ["openalex_id"], False),
    ("work_references", ["cited_work_id"], False), ("trial_references", ["pmid"], False),
    ("trial_references", ["doi"], False), ("trial_references", ["cited_work_id"], False),
    ("works", ["openalex_id"], False), ("works", ["match_key", "year"], False), ("merges", ["work_id"], False),
    ("graph_edges", ["network", "source"], False), ("graph_edges", ["network", "target"], False),
    ("graph_nodes", ["network", "community"], False),
    # The home page's most central people: the top of a million-node network in no time, not 1.3 s.
    ("graph_nodes", ["network", "pagerank"], False),
    ("tags", ["tag", "value"], False), ("related_trials", ["work_id", "rank"], False),
    # Search widens a typed phrase by the MeSH heading it names, if a work or trial holds that heading.
    ("mesh_entry_terms", ["key"], False), ("trial_conditions", ["mesh_id"], False),
]

# Indexed columns that stay NULL on most rows: a reference or link to a work the KB does not
# hold, an identifier PubMed never gives a reference, a trial end on a link between works. Every
# lookup of them asks for a value, so their indexes hold only the rows with one: a load writes
# the others into no index (on 20,000 synthetic records, a sixth less time inserting references).
# A KB made before keeps its whole indexes, which answer the same.
VALUES_ONLY = {("work_references", "doi"), ("work_references", "pmcid"), ("work_references", "openalex_id"),
               ("work_references", "cited_work_id"), ("trial_references", "cited_work_id"),
               ("links", "to_work_id"), ("links", "from_trial_id"), ("links", "to_trial_id"), ("records", "trial_id")}


@contextmanager
def indexes_deferred(db, indexes):
    """Drop the (table, columns) indexes for a bulk write and build them again after it:
    sorting once is several times cheaper than updating an index per row."""
    dropped = []
    for table, columns in indexes:
        for index in db[table].indexes:
            if index.columns == columns and not index.name.startswith("sqlite_autoindex"):
                # IF EXISTS: another load into the same KB may have dropped it since it was listed.
                db.execute(f'DROP INDEX IF EXISTS "{index.name}"')
                dropped.append((table, columns, bool(index.unique)))
    try:
        yield
    finally:
        for table, columns, unique in dropped:
            create_index(db, table, columns, unique)


def create_index(db, table, columns, unique=False):
    """An index of INDEXES, named as sqlite-utils names it; one of VALUES_ONLY holds only the
    rows with a value."""
    if (table, *columns) in VALUES_ONLY:
        column, = columns
        db.execute(f'CREATE INDEX IF NOT EXISTS "idx_{table}_{column}" ON "{table}" ("{column}") '
                   f'WHERE "{column}" IS NOT NULL')
    else:
        db[table].create_index(columns, unique=unique, if_not_exists=True)


def indexes_rebuilt(db, table):
    """Every index INDEXES gives `table`, deferred (a bulk delete + insert of the table)."""
    return indexes_deferred(db, [(indexed, columns) for indexed, columns, _ in INDEXES if indexed == table])


def insert_rows(db, table, rows, on_conflict="REPLACE", columns=None):
    """Insert dicts (all with the same keys) in one executemany; or tuples, when `columns`
    names their columns in order.

    The load path's hot tables take tens of rows per record; sqlite-utils' insert_all
    builds and type-checks every value in Python and costs several times more per row
    (sqlite-utils issue #147), so bulk rows go straight to the connection, and the loader
    builds them as tuples in the first place.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    # Rows stream into executemany: a refresh's 600,000 tag rows are never held as a list.
    rows = itertools.chain([first], rows)
    if columns is None:
        columns = list(first)
        # itemgetter makes a row's tuple in C, about three times faster than a comprehension.
        values = operator.itemgetter(*columns)
        rows = map(values, rows) if len(columns) > 1 else ((values(row),) for row in rows)
    names = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("?" for _ in columns)
    db.conn.executemany(f'INSERT OR {on_conflict} INTO "{table}" ({names}) VALUES ({marks})', rows)


def inputs_digest(*parts):
    """A digest of JSON-able values (sets as sorted lists): what a derived row is computed from."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=sorted).encode()).hexdigest()


def rows_digest(*cursors):
    """A digest of the rows of SQL cursors, read a thousand at a time: what a derived table
    is computed from, when that is too many rows to hold at once for inputs_digest."""
    digest = hashlib.sha1()
    for cursor in cursors:
        while rows := cursor.fetchmany(1000):
            digest.update(json.dumps(rows).encode())
        digest.update(b"|")  # where one cursor's rows end
    return digest.hexdigest()


def inputs_of(db, step):
    """{item: digest} of the inputs `step` of the refresh last wrote its rows from."""
    return dict(db.execute("SELECT item, digest FROM refresh_inputs WHERE step = ?", [step]))


def inputs_kept(db, step, digests, gone=()):
    """Record the inputs of the items of `step` just written ({item: digest}) and forget `gone` ones."""
    db.conn.executemany("DELETE FROM refresh_inputs WHERE step = ? AND item = ?", [(step, item) for item in gone])
    insert_rows(db, "refresh_inputs", ((step, item, digest) for item, digest in digests.items()),
                columns=("step", "item", "digest"))


def db_path(path=None):
    return path or os.environ.get("REGENKB_DB") or DEFAULT_DB


class KnowledgeBase(sqlite_utils.Database):
    """A sqlite-utils Database whose transactions take the write lock as they begin.

    sqlite-utils' atomic() says BEGIN (deferred): a transaction that reads, then writes,
    fails at once with "database is locked" when another process wrote in between, busy
    timeout or not, because its snapshot is stale. BEGIN IMMEDIATE waits for the lock
    (up to the busy timeout) before reading, so two loads into one KB take turns."""

    @contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()


@contextmanager
def pragma_meanwhile(db, name, value):
    """An integer PRAGMA (cache_size, wal_autocheckpoint, busy_timeout) set to `value` for a
    while, then given back the value it had."""
    before = db.execute(f"PRAGMA {name}").fetchone()[0]
    db.execute(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        db.execute(f"PRAGMA {name} = {int(before)}")


def file_of(db):
    """The path of the KB's file ('' for a KB in memory)."""
    return next(row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main")


def read_only(path):
    """A Database over a read-only connection to the KB at path (a file URI, so any path opens)."""
    return sqlite_utils.Database(sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True))


def open_db(path):
    """Open (creating if needed) a knowledge base with its schema, in WAL mode."""
    if path != ":memory:":
        from .serve import refuse_if_served_immutable

        refuse_if_served_immutable(path)
    db = KnowledgeBase(path)
    db.execute("PRAGMA busy_timeout = 30000")
    # 64 MB of page cache: index inserts on a KB of millions of records stay off the disk.
    db.execute("PRAGMA cache_size = -65536")
    if path != ":memory:":
        db.enable_wal()
        # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last batches,
        # which a resumed harvest or a re-load writes again.
        db.execute("PRAGMA synchronous = NORMAL")
    ensure_schema(db)
    return db


def creation_order():
    """Table names with every table after the tables its foreign keys point to."""
    order = []
    while len(order) < len(SCHEMA):
        for name in SCHEMA:
            targets = {other for _, other, _ in FOREIGN_KEYS.get(name, [])} - {name}
            if name not in order and targets <= set(order):
                order.append(name)
    return order


def migrate(db, existing):
    """Reshape tables an older regenkb made: `authors` held name forms (now `author_names`;
    the people are clustered again from them), `institutions` was keyed by OpenAlex id,
    `trial_ids` by identifier, `evidence` held its list columns as text, and `trial_conditions`
    ClinicalTrials.gov's nine-digit MeSH UIs."""
    from .institutions import institution_id

    if "authors" in existing and "author_names" not in existing and "initials" in db["authors"].columns_dict:
        for index in db["authors"].indexes:
            db.execute(f'DROP INDEX "{index.name}"')
        db.execute("ALTER TABLE authors RENAME TO author_names")
        db["authors"].create(SCHEMA["authors"][0], pk="id")
        db["work_authors"].add_column("name_id", int)
        db.execute("UPDATE work_authors SET name_id = author_id, author_id = NULL")
        db["work_authors"].transform(foreign_keys=FOREIGN_KEYS["work_authors"])
    if "institutions" in existing and db["institutions"].pks == ["openalex_id"]:
        rows = list(db["institutions"].rows)
        db["institutions"].drop()
        db["institutions"].create(SCHEMA["institutions"][0], pk="id")
        db["institutions"].insert_all({**row, "id": institution_id(row["ror"], row["openalex_id"]),
                                       "fetched_from": "openalex"} for row in rows)
    if "trial_ids" in existing and db["trial_ids"].pks == ["trial_id", "identifier"]:
        # Keyed by position now: one id a trial lists under two domains is two rows.
        db["trial_ids"].add_column("position", int)
        db.execute("UPDATE trial_ids SET position = (SELECT count(*) FROM trial_ids t "
                   "WHERE t.trial_id = trial_ids.trial_id AND t.rowid <= trial_ids.rowid)")
        db["trial_ids"].transform(pk=("trial_id", "position"), column_order=list(SCHEMA["trial_ids"][0]))
    if "evidence" in existing:
        from .evidence import arrays_from_joined_text

        arrays_from_joined_text(db)
    if "trial_conditions" in existing:
        from .mesh import normalise_trial_conditions

        normalise_trial_conditions(db)


def ensure_schema(db):
    """Create missing tables, columns, indexes and FTS tables: a KB made by an older regenkb
    gains what this one needs, and nothing it holds is touched."""
    existing = set(db.table_names())
    with db.atomic():
        migrate(db, existing)
        existing = set(db.table_names())
        eligibility_unread = "trials" in existing and "eligibility_criteria" not in db["trials"].columns_dict
        languages_unread = "works" in existing and "languages" not in db["works"].columns_dict
        for name in creation_order():
            columns, pk = SCHEMA[name]
            if name not in existing and name in WITHOUT_ROWID:
                sql = db.create_table_sql(name, columns, pk=pk, foreign_keys=FOREIGN_KEYS.get(name, []))
                db.execute(sql.rstrip().removesuffix(";") + " WITHOUT ROWID")
            elif name not in existing:
                db[name].create(columns, pk=pk, foreign_keys=FOREIGN_KEYS.get(name, []))
            else:
                present = db[name].columns_dict
                for column, kind in columns.items():
                    if column not in present:
                        db[name].add_column(column, kind)
        for table, columns, unique in INDEXES:
            create_index(db, table, columns, unique)
        if eligibility_unread:  # an older regenkb kept no eligibility text: its raw records hold it
            from .trials import eligibility_read_again

            eligibility_read_again(db)
        if languages_unread:  # an older regenkb kept a PubMed record's first language only
            from .merge import languages_read_again

            languages_read_again(db)
        for fts, (columns, weights) in FTS_TABLES.items():
            if fts in existing and set(columns) - set(db[fts].columns_dict):
                widen_fts(db, fts, columns, weights)
            elif fts not in existing:
                create_fts(db, fts, columns, weights)
        for table in NAMED:
            if f"{table}_fts" not in existing:  # an older regenkb's rows are indexed as it is made
                db.execute(f"CREATE VIRTUAL TABLE {table}_fts USING fts5(name, name_forms, "
                           "tokenize='unicode61 remove_diacritics 2')")
                names_indexed(db, table)


def create_fts(db, fts, columns, weights):
    db.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({', '.join(columns)}, "
               "tokenize='porter unicode61 remove_diacritics 2')")
    db.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('rank', 'bm25({', '.join(map(str, weights))})')")


def widen_fts(db, fts, columns, weights):
    """An FTS table made again with the columns an older regenkb's lacks (FTS_ADDED), its rows copied."""
    present = set(db[fts].columns_dict)
    db.execute(f"ALTER TABLE {fts} RENAME TO {fts}_old")
    create_fts(db, fts, columns, weights)
    values = ", ".join(f"old.{c}" if c in present else FTS_ADDED[c] for c in columns)
    db.execute(f"INSERT INTO {fts} (rowid, {', '.join(columns)}) SELECT old.rowid, {values} FROM {fts}_old old")
    db.execute(f"DROP TABLE {fts}_old")


def names_indexed(db, table, ids=None):
    """Index again the names of `table`'s rows `ids` (every row when None) where they changed,
    any of them no longer in the table leaving the index: called where people and institutions
    are written. A person written again under the same names (most of a refresh's) costs a
    look at the index's copy of them. Two statements, rows in id order: FTS5 writes its pending
    terms out at the end of each statement and whenever a rowid is lower than the last, so a
    trigger on a row-by-row write (executemany) cost 36 µs a row, 6 times the write itself
    (100,000 people, hashed ids)."""
    forms = NAME_FORMS_TEXT.format(table="t")
    if ids is None:
        db.execute(f"DELETE FROM {table}_fts")
        db.execute(f"INSERT INTO {table}_fts (rowid, name, name_forms) SELECT id, name, {forms} FROM {table} t "
                   "ORDER BY id")
        return
    listed = json.dumps(sorted(ids))
    db.execute(f"""DELETE FROM {table}_fts WHERE rowid IN (SELECT value FROM json_each(?1) WHERE NOT EXISTS (
        SELECT 1 FROM {table} t JOIN {table}_fts f ON f.rowid = t.id
        WHERE t.id = value AND f.name IS t.name AND f.name_forms IS {forms}))""", [listed])
    db.execute(f"""INSERT INTO {table}_fts (rowid, name, name_forms) SELECT id, name, {forms} FROM {table} t
        WHERE id IN (SELECT value FROM json_each(?1)) AND NOT EXISTS (SELECT 1 FROM {table}_fts WHERE rowid = id)
        ORDER BY id""", [listed])
