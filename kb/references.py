"""Reference lists of works and trials: every entry kept, in order, with its citation text,
and resolved to the work it cites when an identifier or a confident title match allows.

A reference whose identifiers name no work in the KB stays unresolved (`cited_work_id`
NULL): a work loaded later under one of them resolves it (`resolve_to`), and `kb expand`
tries the others by title (`resolve_by_title`). Reloading a record rewrites its rows, so a
title match is found again by the next `kb expand`.
"""

import re

from harvest.records import new_reference

from .merge import same_title, title_key

# A reference table's identifier columns, most trusted first; each names the works column of that name.
ID_COLUMNS = {"work_references": ("pmid", "doi", "pmcid", "openalex_id"), "trial_references": ("pmid", "doi")}
OWNER = {"work_references": "work_id", "trial_references": "trial_id"}
# A title of fewer words ("Stroke", "Introduction", "Stem cell therapy") names many works.
MIN_TITLE_WORDS = 4
# A cited work published a year before or after the year the citation gives (print vs. online).
YEAR_SLACK = 1
YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
# Where a citation's parts end: "Authors. Title. Journal. 2020;1:2." (also "?" and "!").
PART_END = re.compile(r"(?<=[.?!])\s+")


# A work_references row as work_reference_rows builds it: the entry's fields between its place and its resolution.
FIELDS = ("citation", "title", "year", "doi", "pmid", "pmcid", "openalex_id")
COLUMNS = ("work_id", "source", "position", *FIELDS, "cited_work_id", "resolved_by")


def work_reference_rows(work_id, source, record):
    """The work_references rows (tuples in COLUMNS order) of a record's reference list."""
    return [(work_id, source, position, *map(reference.__getitem__, FIELDS), None, None)
            for position, reference in enumerate(record["references"], 1)]


def trial_reference_rows(trial_id, record):
    rows = []
    for position, reference in enumerate(record["references"], 1):
        parsed = new_reference(citation=reference["citation"], pmid=reference["pmid"])
        rows.append({"trial_id": trial_id, "position": position, "type": reference["type"],
                     "citation": parsed["citation"], "doi": parsed["doi"], "pmid": parsed["pmid"],
                     "cited_work_id": None, "resolved_by": None})
    return rows


def resolve_by_ids(db, table, where, arguments):
    """Resolve the unresolved references of `table` matching `where` to the works their
    identifiers name, trying the columns in ID_COLUMNS order; of two works with one
    identifier the later wins, as for links."""
    for column in ID_COLUMNS[table]:
        named = f"FROM works WHERE works.{column} = {table}.{column}"
        # The unary + keeps SQLite on `where`'s rows instead of every reference with an identifier.
        db.execute(f"UPDATE {table} SET cited_work_id = (SELECT id {named} ORDER BY id DESC LIMIT 1), "
                   f"resolved_by = ? WHERE ({where}) AND +cited_work_id IS NULL AND +{column} IS NOT NULL "
                   f"AND EXISTS (SELECT 1 {named})", [column, *arguments])


def resolve_in(db, table, ids):
    """resolve_by_ids for the references of these works (or trials)."""
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        resolve_by_ids(db, table, f"{OWNER[table]} IN ({', '.join('?' for _ in chunk)})", chunk)


def resolve_to(db, named):
    """References stored earlier that name works just written: (column, value, work id) each."""
    for table, columns in ID_COLUMNS.items():
        for column in columns:
            db.conn.executemany(
                f"UPDATE {table} SET cited_work_id = ?, resolved_by = '{column}' WHERE {column} = ? "
                "AND cited_work_id IS NULL", [(work_id, value) for named_column, value, work_id in named
                                              if named_column == column])


def forget(db, work_id):
    """A work that is gone is cited by no reference: they are unresolved again."""
    for table in ID_COLUMNS:
        db.execute(f"UPDATE {table} SET cited_work_id = NULL, resolved_by = NULL WHERE cited_work_id = ?", [work_id])


def title_parts(citation):
    """The stretches of a citation that may be its title: each part between full stops, and
    two or three parts together (a title may hold a full stop: 'Stroke. A review')."""
    parts = [part for part in PART_END.split(citation or "") if part]
    return [" ".join(parts[start:start + size]) for size in (1, 2, 3) for start in range(len(parts) - size + 1)]


def title_match(db, citation, title=None, year=None, citing=None):
    """(work id, score) of the one work in the KB whose title is the reference's title (its
    own, or a part of its citation) under the strict threshold merging uses, published
    within YEAR_SLACK of a year the reference gives; None when no work or two works match."""
    years = {year} if year else {int(y) for y in YEAR.findall(citation or "")}
    found = {}
    for candidate in [title] if title else title_parts(citation):
        words = title_key(candidate).split()
        if len(words) < MIN_TITLE_WORDS:
            continue
        for work_id, work_title, work_year in db.execute(
                "SELECT w.id, w.title, w.year FROM works_fts JOIN works w ON w.id = works_fts.rowid "
                "WHERE works_fts MATCH ? LIMIT 50", [f'title : "{" ".join(words[:8])}"']):
            same, score = same_title(candidate, work_title)
            if same and work_id != citing and (
                    not years or not work_year or any(abs(work_year - y) <= YEAR_SLACK for y in years)):
                found[work_id] = max(score, found.get(work_id, 0))
    return next(iter(found.items())) if len(found) == 1 else None


def resolve_by_title(db, batch=1000):
    """Resolve every unresolved reference with a citation or title that names exactly one
    work of the KB by title (`title_match`), `batch` references at a time; returns how many
    it resolved."""
    resolved = 0
    for table, owner in OWNER.items():
        title = "title, year" if table == "work_references" else "NULL, NULL"
        # The work a reference list belongs to never cites itself.
        citing = owner if table == "work_references" else "NULL"
        last = 0
        while True:
            rows = db.execute(f"SELECT rowid, citation, {title}, {citing} FROM {table} WHERE rowid > ? "
                              "AND cited_work_id IS NULL AND coalesce(citation, '') != '' ORDER BY rowid LIMIT ?",
                              [last, batch]).fetchall()
            if not rows:
                break
            for rowid, citation, own_title, year, citing_id in rows:
                match = title_match(db, citation, own_title, year, citing_id)
                if match:
                    work_id, score = match
                    db.execute(f"UPDATE {table} SET cited_work_id = ?, resolved_by = ? WHERE rowid = ?",
                               [work_id, f"title ({score:.0f}/100)", rowid])
                    resolved += 1
            last = rows[-1][0]
    return resolved
