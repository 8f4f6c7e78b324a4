"""Checking a KB, and rebuilding what can be derived again from the raw records it stores.

`diagnose` reads the file without changing it: whether SQLite can read it whole. A damaged
file (cut short, overwritten pages, a garbled header) is never repaired in place: `recover`
copies what it still yields (the raw records, links, curators' decisions, run history) into
a new KB, rebuilds everything else from the records there, and says what it could not save.
`check` reports problems in plain words: SQLite's own integrity check, FTS5's own
integrity check, full-text indexes out of step with their tables, rows pointing at rows that are gone, works and trials with
no source record behind them, and derived tables (people, evidence) not brought up to date.
`fix` rebuilds every work and trial from its stored raw records (the parsers are pure, so
this is exact), rebuilds the full-text indexes, deletes dangling rows, then refreshes
institutions, people, study links and evidence.
"""

import hashlib
import os
import shutil
import sqlite3
import tempfile
import zlib
from dataclasses import dataclass

from harvest import ctgov

from .db import NAMED, names_indexed
from .load import WorkLoader, in_clause, now

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
    ("trial_people", "affiliation_id", "affiliations"),
    ("evidence", "work_id", "works"), ("evidence", "trial_id", "trials"),
    ("related_trials", "work_id", "works"), ("related_trials", "trial_id", "trials"),
    ("work_references", "work_id", "works"), ("work_references", "cited_work_id", "works"),
    ("work_investigators", "work_id", "works"), ("mesh_entry_terms", "descriptor_id", "mesh_descriptors"),
    ("trial_references", "trial_id", "trials"), ("trial_references", "cited_work_id", "works"),
    *[(table, "trial_id", "trials") for table in (
        "trial_results", "trial_result_groups", "trial_flow", "trial_baseline", "trial_result_outcomes",
        "trial_outcome_values", "trial_outcome_analyses", "trial_adverse_events")],
]
# Columns that may point nowhere for a reason: a link to a work the KB lacks keeps its
# identifier (to_scheme, to_id) and a NULL id, never a dangling one.
NULLABLE = {("links", "from_work_id"), ("links", "to_work_id"), ("links", "from_trial_id"),
            ("links", "to_trial_id"), ("affiliations", "institution_id"), ("affiliations", "department_id"),
            ("work_authors", "author_id"), ("work_references", "cited_work_id"),
            ("trial_references", "cited_work_id"), ("trial_people", "affiliation_id")}
# Affiliation rows nothing names: what an earlier parse of a string made, left when a rebuild
# or reload parsed it anew. Institutions are made from every affiliation row, so each would
# still give an institution (of no works) to the institution pages, search and counts.
UNUSED_AFFILIATIONS = "SELECT id FROM affiliations WHERE " + " AND ".join(
    f"id NOT IN (SELECT {column} FROM {table} WHERE {column} IS NOT NULL)"
    for table, column, parent in REFERENCES if parent == "affiliations")


@dataclass
class Finding:
    problem: str  # in plain words
    count: int
    fix: str  # what `kb doctor --fix` does about it


SQLITE_MAGIC = b"SQLite format 3\x00"
# Tables whose rows cannot be derived again from the raw records: recovery copies them.
# Study links the matcher asserts are derived (kb link makes them again).
KEPT = {"records": "", "links": "asserted_by != 'regenkb-matcher'", "author_curations": "",
        "merge_blocks": "", "loaded_files": "", "harvest_runs": "", "quarantine": "",
        "mesh_descriptors": "", "mesh_entry_terms": ""}
# Each full-text index and the table it indexes.
FTS_OF = (("works_fts", "works"), ("trials_fts", "trials"), *((f"{table}_fts", table) for table in NAMED))
RECOVER_FIX = "recover what the stored records allow into a new KB file (the damaged file is left as it is)"


def diagnose(path):
    """Findings about the file itself, read without writing to it: [] when SQLite reads it whole."""
    with open(path, "rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return [Finding("the file's header is damaged: it does not begin as an SQLite database does",
                        1, RECOVER_FIX)]
    try:
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return [Finding(f"SQLite cannot read the file's pages ({error}): it is cut short or overwritten",
                        1, RECOVER_FIX)]
    if problems != ["ok"]:
        return [Finding("SQLite's integrity check found damaged pages: " + "; ".join(problems[:5]),
                        len(problems), RECOVER_FIX)]
    return []


def check(db):
    """Every problem found in a KB SQLite can read, as Findings (an empty list for a healthy KB)."""
    findings = []
    integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        findings.append(Finding("SQLite's integrity check failed: " + "; ".join(integrity[:5]), len(integrity),
                                "nothing: restore a backup, or rebuild the KB from the source files"))
    for fts, _ in FTS_OF:
        try:
            db.execute(f"INSERT INTO {fts}({fts}) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as error:
            findings.append(Finding(f"the full-text index {fts} is damaged ({error}): searches that use it fail",
                                    1, f"rebuild {fts} from the text it stores"))
    damaged = damaged_records(db)
    if damaged:
        findings.append(Finding(f"{len(damaged)} stored raw record(s) no longer match their checksum "
                                f"(first: {damaged[0][0]} {damaged[0][1]})", len(damaged),
                                "set them aside; load their source files again to restore them"))
    for fts, table in FTS_OF:
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
    unused = count(db, f"SELECT count(*) FROM ({UNUSED_AFFILIATIONS})")
    if unused:
        findings.append(Finding(f"{unused} affiliation(s) belong to no author or trial person (an earlier parse "
                                f"of their string): each still makes an institution", unused,
                                "delete those affiliations"))
    unassigned = count(db, "SELECT count(*) FROM work_authors WHERE author_id IS NULL")
    if unassigned:
        findings.append(Finding(f"{unassigned} author occurrence(s) are not assigned to a person", unassigned,
                                "run author disambiguation (kb authors resolve)"))
    subjects = count(db, "SELECT (SELECT count(*) FROM works) + (SELECT count(*) FROM trials)")
    tagged = count(db, "SELECT count(DISTINCT subject || subject_id) FROM tags")
    if subjects and not tagged:
        findings.append(Finding("no work or trial has evidence tags", subjects, "run kb classify"))
    return findings


def damaged_records(db):
    """(source, source_id, rowid) of raw records whose bytes do not decompress to their SHA-1."""
    damaged = []
    for rowid, source, source_id, sha1, raw in db.execute("SELECT rowid, source, source_id, sha1, raw FROM records"):
        try:
            intact = hashlib.sha1(zlib.decompress(raw)).hexdigest() == sha1
        except (zlib.error, TypeError):
            intact = False
        if not intact:
            damaged.append((source, source_id, rowid))
    return damaged


def count(db, sql):
    return db.execute(sql).fetchone()[0]


def fix(db):
    """Rebuild everything derived from the stored raw records; returns what was done, in words."""
    from .ingest import refresh
    from .trials import TrialLoader

    done = []
    with db.atomic():
        for fts, _ in FTS_OF:
            # A damaged index fails the row deletes below: rebuild it from its own text first.
            db.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
        damaged = damaged_records(db)
        if damaged:
            db["quarantine"].insert_all([{
                "source": source, "origin": "kb doctor", "record_id": source_id,
                "error": "the stored raw record no longer matches its checksum (damaged on disk)",
                "raw": raw, "quarantined_at": now()} for source, source_id, rowid in damaged
                for (raw,) in db.execute("SELECT raw FROM records WHERE rowid = ?", [rowid])])
            db.execute(f"DELETE FROM records WHERE rowid IN ({in_clause(damaged)})", [r for *_, r in damaged])
            done.append(f"set aside {len(damaged)} damaged raw record(s) in the quarantine table "
                        f"(load their source files again to restore them)")
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
        unused = count(db, f"SELECT count(*) FROM ({UNUSED_AFFILIATIONS})")
        if unused:
            db.execute(f"DELETE FROM affiliations WHERE id IN ({UNUSED_AFFILIATIONS})")
            done.append(f"deleted {unused} affiliation(s) that belong to no author or trial person")
    done.append(refresh(db))
    with db.atomic():
        for table in NAMED:
            names_indexed(db, table)
    done.append(f"indexed the names of {db['authors'].count} people and {db['institutions'].count} institutions again")
    return done


def rebuild_trials(db, loader):
    """Each trial's rows again from its stored raw record (the most complete one)."""
    from .trials import stored_records

    latest, failed = {}, 0
    for trial_id, record in stored_records(db):
        if record:
            latest[trial_id] = record
        else:
            failed += 1
    changed = list(latest.items())
    ids = [trial_id for trial_id, _ in changed]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        loader.clear_rows(chunk)
        db.execute(f"DELETE FROM trials WHERE id IN ({in_clause(chunk)})", chunk)
    loader.write_rows(changed)
    db.execute("DELETE FROM trials_fts WHERE rowid NOT IN (SELECT id FROM trials)")
    return len(changed), failed


def recover(path, target):
    """Copy what the damaged KB at `path` still yields into a new KB at `target` (which must
    not exist), then rebuild everything derived there. Returns what was done, and what could
    not be saved, in words. `path` itself is only read."""
    from .db import open_db

    if os.path.exists(target):
        raise FileExistsError(f"{target} exists already: move it away or name another file")
    with tempfile.TemporaryDirectory() as scratch:
        readable = readable_copy(path, os.path.join(scratch, "damaged.db"))
        done, lost = [], []
        try:
            source = sqlite3.connect(f"file:{readable}?immutable=1", uri=True)
            # Skip schema entries whose pages are gone instead of refusing the whole schema.
            source.execute("PRAGMA writable_schema = ON")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise RecoveryFailed(f"{path}: not even the list of tables can be read ({error}); "
                                 "rebuild the KB from the source files") from None
        db = open_db(target)
        for table, where in KEPT.items():
            columns = [c for c in db[table].columns_dict if c in table_columns(source, table)]
            if not columns:
                lost.append(f"table {table} could not be read")
                continue
            rows, unreadable = salvaged_rows(source, table, columns, where)
            with db.atomic():
                db[table].insert_all(rows, batch_size=500, replace=True)
            done.append(f"copied {db[table].count} row(s) of {table}")
            if unreadable:
                lost.append(f"rows of {table} on damaged or missing pages ({unreadable} rowid(s) could not "
                            "be read)")
        source.close()
    done += fix(db)
    db.conn.close()
    return done, lost


def readable_copy(path, copy):
    """A copy of a damaged KB with the two header fields SQLite needs to open it made right:
    the magic string, and the page count (a file cut short holds fewer pages than its
    header says). The page size and the rest of the header usually survive."""
    shutil.copyfile(path, copy)
    with open(copy, "r+b") as handle:
        header = bytearray(handle.read(100))
        if len(header) < 100:
            raise RecoveryFailed(f"{path}: shorter than an SQLite header; nothing can be recovered")
        header[:16] = SQLITE_MAGIC
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            raise RecoveryFailed(f"{path}: the header's page size ({page_size}) is damaged too")
        header[28:32] = (os.path.getsize(copy) // page_size).to_bytes(4, "big")
        handle.seek(0)
        handle.write(header)
    return copy


class RecoveryFailed(Exception):
    """Nothing could be read from a damaged KB."""


def table_columns(conn, table):
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        return set()


def salvaged_rows(conn, table, columns, where, step=256, give_up_after=4096):
    """(rows of `table` that can still be read, how many rowids could not be read).

    Rows come in rowid order, `step` at a time; where a range cannot be read, each rowid in
    it is tried alone, so one damaged page costs only the rows on it. A file cut short
    leaves no readable row after some point: the scan stops after `give_up_after` rowids
    in a row that neither exist nor can be read, past the last rowid SQLite reports."""
    names = ", ".join(columns)
    condition = f"({where}) AND " if where else ""
    try:
        top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = None
    rows, unreadable, last, barren = [], 0, 0, 0
    while True:
        try:
            batch = conn.execute(f"SELECT rowid, {names} FROM {table} WHERE {condition}rowid > ? "
                                 f"ORDER BY rowid LIMIT {step}", [last]).fetchall()
        except sqlite3.DatabaseError:
            batch = None
        if batch:
            rows += [dict(zip(columns, row[1:])) for row in batch]
            last, barren = batch[-1][0], 0
            continue
        if batch == []:
            break  # read to the end without a fault
        for rowid in range(last + 1, last + step + 1):
            try:
                row = conn.execute(f"SELECT {names} FROM {table} WHERE {condition}rowid = ?", [rowid]).fetchone()
            except sqlite3.DatabaseError:
                unreadable += 1
                row = None
            if row:
                rows.append(dict(zip(columns, row)))
            barren = 0 if row else barren + 1
        last += step
        if (top is None or last >= top) and barren >= give_up_after:
            break
    return rows, unreadable
