"""Checking a KB, and rebuilding what can be derived again from the raw records it stores.

`check` reports problems in plain words: SQLite's own integrity check, full-text indexes
out of step with their tables, rows pointing at rows that are gone, works and trials with
no source record behind them, and derived tables (people, evidence) not brought up to date.
`fix` rebuilds every work and trial from its stored raw records (the parsers are pure, so
this is exact), rebuilds the full-text indexes, deletes dangling rows, then refreshes
institutions, people, study links and evidence.
"""

import zlib
from dataclasses import dataclass

from harvest import ctgov

from .load import WorkLoader, in_clause

# (table, column, parent table): rows whose column names a parent row that is missing.
REFERENCES = [
    ("work_authors", "work_id", "works"), ("work_authors", "author_id", "authors"),
    ("work_authors", "name_id", "author_names"), ("work_author_affiliations", "work_id", "works"),
    ("work_author_affiliations", "affiliation_id", "affiliations"), ("work_mesh", "work_id", "works"),
    ("registry_ids", "work_id", "works"), ("records", "work_id", "works"), ("records", "trial_id", "trials"),
    ("merges", "work_id", "works"), ("links", "from_work_id", "works"), ("links", "to_work_id", "works"),
    ("links", "from_trial_id", "trials"), ("links", "to_trial_id", "trials"),
    ("affiliations", "institution_id", "institutions"), ("affiliations", "department_id", "departments"),
    ("trial_ids", "trial_id", "trials"), ("trial_conditions", "trial_id", "trials"),
    ("trial_interventions", "trial_id", "trials"), ("trial_outcomes", "trial_id", "trials"),
    ("trial_sites", "trial_id", "trials"), ("trial_people", "trial_id", "trials"),
    ("evidence", "work_id", "works"), ("evidence", "trial_id", "trials"),
    ("related_trials", "work_id", "works"), ("related_trials", "trial_id", "trials"),
]
# Columns that may point nowhere for a reason: a link to a work the KB lacks keeps its
# identifier (to_scheme, to_id) and a NULL id, never a dangling one.
NULLABLE = {("links", "from_work_id"), ("links", "to_work_id"), ("links", "from_trial_id"),
            ("links", "to_trial_id"), ("affiliations", "institution_id"), ("affiliations", "department_id"),
            ("work_authors", "author_id")}


@dataclass
class Finding:
    problem: str  # in plain words
    count: int
    fix: str  # what `kb doctor --fix` does about it


def check(db):
    """Every problem found, as Findings (an empty list for a healthy KB)."""
    findings = []
    integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        findings.append(Finding("SQLite's integrity check failed: " + "; ".join(integrity[:5]), len(integrity),
                                "nothing: restore a backup, or rebuild the KB from the source files"))
    for fts, table in (("works_fts", "works"), ("trials_fts", "trials")):
        missing = count(db, f"SELECT count(*) FROM {table} WHERE id NOT IN (SELECT rowid FROM {fts})")
        extra = count(db, f"SELECT count(*) FROM {fts} WHERE rowid NOT IN (SELECT id FROM {table})")
        if missing or extra:
            findings.append(Finding(f"the full-text index {fts} is out of step with {table}: {missing} row(s) "
                                    f"missing from it, {extra} row(s) in it for {table} that are gone",
                                    missing + extra, f"rebuild {fts} from the stored records"))
    for table, column, parent in REFERENCES:
        dangling = count(db, f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "
                             f"AND {column} NOT IN (SELECT id FROM {parent})")
        if dangling:
            findings.append(Finding(f"{dangling} row(s) of {table} point at {parent} ({column}) that do not exist",
                                    dangling, "rebuild them from their records" if table == "records" else
                                    "set the column to NULL" if (table, column) in NULLABLE else "delete those rows"))
    for table, column in (("works", "work_id"), ("trials", "trial_id")):
        orphans = count(db, f"SELECT count(*) FROM {table} WHERE id NOT IN "
                            f"(SELECT {column} FROM records WHERE {column} IS NOT NULL)")
        if orphans:
            findings.append(Finding(f"{orphans} {table} have no source record behind them (no provenance)",
                                    orphans, f"delete those {table}"))
    unassigned = count(db, "SELECT count(*) FROM work_authors WHERE author_id IS NULL")
    if unassigned:
        findings.append(Finding(f"{unassigned} author occurrence(s) are not assigned to a person", unassigned,
                                "run author disambiguation (kb authors resolve)"))
    subjects = count(db, "SELECT (SELECT count(*) FROM works) + (SELECT count(*) FROM trials)")
    tagged = count(db, "SELECT count(DISTINCT subject || subject_id) FROM tags")
    if subjects and not tagged:
        findings.append(Finding("no work or trial has evidence tags", subjects, "run kb classify"))
    return findings


def count(db, sql):
    return db.execute(sql).fetchone()[0]


def fix(db):
    """Rebuild everything derived from the stored raw records; returns what was done, in words."""
    from .ingest import refresh
    from .trials import TrialLoader

    done = []
    with db.atomic():
        for table, column in (("works", "work_id"), ("trials", "trial_id")):
            gone = count(db, f"SELECT count(*) FROM {table} WHERE id NOT IN "
                             f"(SELECT {column} FROM records WHERE {column} IS NOT NULL)")
            if gone:
                db.execute(f"DELETE FROM {table} WHERE id NOT IN (SELECT {column} FROM records "
                           f"WHERE {column} IS NOT NULL)")
                done.append(f"deleted {gone} {table} with no source record")
        # Every work a record names, including one whose row was lost: nothing stored is dropped.
        work_ids = [row[0] for row in db.execute(
            "SELECT DISTINCT work_id FROM records WHERE work_id IS NOT NULL ORDER BY work_id")]
        loader = WorkLoader(db, "doctor")
        for start in range(0, len(work_ids), 500):
            loader.rebuild(work_ids[start:start + 500])
        db.execute("DELETE FROM works_fts WHERE rowid NOT IN (SELECT id FROM works)")
        done.append(f"rebuilt {len(work_ids)} works and their full-text index from their records")
        rebuilt, failed = rebuild_trials(db, TrialLoader(db, ctgov.SOURCE))
        done.append(f"rebuilt {rebuilt} trials from their records" + (f" ({failed} could not be)" if failed else ""))
        for table, column, parent in REFERENCES:
            where = f"{column} IS NOT NULL AND {column} NOT IN (SELECT id FROM {parent})"
            dangling = count(db, f"SELECT count(*) FROM {table} WHERE {where}")
            if dangling:
                if (table, column) in NULLABLE:
                    db.execute(f"UPDATE {table} SET {column} = NULL WHERE {where}")
                else:
                    db.execute(f"DELETE FROM {table} WHERE {where}")
                done.append(f"{'cleared' if (table, column) in NULLABLE else 'deleted'} {dangling} dangling "
                            f"row(s) of {table} ({column})")
    done.append(refresh(db))
    return done


def rebuild_trials(db, loader):
    """Each trial's rows again from its stored raw record (the most complete one)."""
    changed, failed = [], 0
    for trial_id, raw in db.execute(
            "SELECT trial_id, raw FROM records WHERE trial_id IS NOT NULL ORDER BY trial_id, completeness"):
        items, _ = ctgov.parse_payload(zlib.decompress(raw), "records")
        records = [item for item in items if isinstance(item, dict)]
        if records:
            changed = [c for c in changed if c[0] != trial_id] + [(trial_id, records[0])]
        else:
            failed += 1
    ids = [trial_id for trial_id, _ in changed]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        loader.clear_rows(chunk)
        db.execute(f"DELETE FROM trials WHERE id IN ({in_clause(chunk)})", chunk)
    loader.write_rows(changed)
    db.execute("DELETE FROM trials_fts WHERE rowid NOT IN (SELECT id FROM trials)")
    return len(changed), failed
