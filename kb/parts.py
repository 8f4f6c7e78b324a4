"""Part KBs: a parsing worker loads part of a PubMed file into a KB of its own, and the
one writer copies that KB into the main one with INSERT ... SELECT.

SQLite copies rows between attached files several times faster than a loader writes them
one by one, so the writer's share of a record shrinks to the copy, and the rest of a load
(parsing, matching, building rows, inserting them) runs in parallel. The copy gives the
same KB as loading the part directly as long as nothing in the part meets what the KB
already holds: each work's id is the KB's highest id plus the id the part gave it, which
is the id a direct load gives. A part that meets the KB (a record the KB has, a deletion
of one, a work another source describes, a title that may be a work the KB has) is loaded
again directly instead; in a baseline that is rare, in an update file the rule.
docs/scale.md has the figures.
"""

from pathlib import Path

from harvest.pubmed import Deletion

from . import references
from .db import FTS_COLUMNS, open_db
from .load import WORK_SCHEMES, WorkLoader, link_end_table

# Columns that hold a work id: a part's ids move up by the KB's highest work id.
WORK_ID_COLUMNS = {"works": ("id",), "work_authors": ("work_id",), "work_author_affiliations": ("work_id",),
                   "work_mesh": ("work_id",), "registry_ids": ("work_id",), "work_conflicts": ("work_id",),
                   "work_investigators": ("work_id",),
                   "records": ("work_id",), "merges": ("work_id",), "links": ("from_work_id", "to_work_id"),
                   "work_references": ("work_id", "cited_work_id")}
# Shared rows keyed by a stable id: the KB's copy, if any, stays (as INSERT OR IGNORE keeps it).
ENTITY_TABLES = ("author_names", "affiliations", "mesh_terms")
# Row ids the KB numbers itself.
RENUMBERED = {"links": "id", "merges": "id"}
# The indexes a loader reads while it writes a part (matching records to works, resolving
# links); a throwaway part does without the others.
READ_INDEXES = [["pmid"], ["doi"], ["pmcid"], ["openalex_id"], ["match_key", "year"], ["work_id"],
                ["from_scheme", "from_id", "relation", "to_scheme", "to_id", "asserted_by"], ["to_scheme", "to_id"]]


def open_part(path):
    """A fresh KB for one part: no journal and no fsync, since a part lost is parsed again."""
    for stale in Path(path).parent.glob(Path(path).name + "*"):
        stale.unlink()
    db = open_db(str(path))
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    for name, table in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
                                  "AND sql IS NOT NULL").fetchall():
        if table not in ("works", "records", "links", "work_references") or not any(
                index.name == name and index.columns in READ_INDEXES for index in db[table].indexes):
            db.execute(f'DROP INDEX "{name}"')
    db.execute("CREATE TABLE part_keys (source_id TEXT, deleted INTEGER)")
    return db


def load_part(path, batches, origin, source):
    """Write (items, off-topic count) batches into a fresh part KB at `path`, as a loader
    writes them into any KB; the key of every record and deletion is kept in `part_keys`
    (`deleted` for a deletion's).
    Returns the part's LoadStats."""
    db = open_part(path)
    stats = WorkLoader(db, source).write_batches(keys_kept(db, batches), origin)
    db.conn.close()
    return stats


def keys_kept(db, batches):
    for items, off_topic in batches:
        keys = [(pmid, 1) for item in items if isinstance(item, Deletion) for pmid in item.pmids]
        keys += [(item["source_id"], 0) for item in items if isinstance(item, dict)]
        with db.atomic():
            db.conn.executemany("INSERT INTO part_keys VALUES (?, ?)", keys)
        yield items, off_topic


def meets_kb(db, loader):
    """Whether the attached part `part` holds anything a direct load would have matched or
    changed in the KB, so that copying it could give a different KB. (CROSS JOIN walks the
    small part and looks each row up in the KB, never the other way round.)"""
    queries = [
        # a record or deletion of a record the KB holds
        ("SELECT 1 FROM part.part_keys k CROSS JOIN main.records r ON r.source = ? AND r.source_id = k.source_id",
         [loader.source]),
        # records the part itself merged (the KB may hold a match for one of them)
        ("SELECT 1 FROM part.merges", []),
        # a work the KB holds under one of its identifiers
        *((f"SELECT 1 FROM part.works p CROSS JOIN main.works m ON m.{column} = p.{column}", [])
          for column in WORK_SCHEMES.values()),
        # a work the KB may hold under another source's record: same first author and title word
        ("SELECT 1 FROM part.works p CROSS JOIN main.works m ON m.match_key = p.match_key "
         "AND m.year BETWEEN p.year - 1 AND p.year + 1 AND (m.sources NOT LIKE ? OR m.is_preprint != p.is_preprint)",
         [f'%"{loader.source}"%']),
    ]
    if any(db.execute(query + " LIMIT 1", values).fetchone() for query, values in queries):
        return True
    # A work that names no author is matched through the title's words in the full-text index.
    unkeyed = db.query("SELECT title, year, is_preprint FROM part.works WHERE match_key IS NULL "
                       "AND title IS NOT NULL AND year IS NOT NULL")
    return any(next(iter(loader.title_candidates(row, None)), None) for row in unkeyed)


def copy_part(db, loader, path):
    """Copy the part KB at `path` into the KB if it meets nothing the KB holds (`meets_kb`);
    returns whether it did. One transaction: a copy cut short leaves the KB as it was."""
    db.execute("ATTACH DATABASE ? AS part", [str(path)])
    try:
        with db.atomic():
            if meets_kb(db, loader):
                return False
            offset = db.execute("SELECT coalesce(max(id), 0) FROM works").fetchone()[0]
            last_link = db.execute("SELECT coalesce(max(id), 0) FROM links").fetchone()[0]
            for table in (*ENTITY_TABLES, *WORK_ID_COLUMNS, "quarantine"):
                copy_table(db, table, offset)
            columns = ", ".join(FTS_COLUMNS)
            db.execute(f"INSERT INTO works_fts (rowid, {columns}) SELECT rowid + ?, {columns} FROM part.works_fts",
                       [offset])
            # What a direct load of these records would also have done to the KB around them.
            loader.unquarantine([key for key, in db.execute("SELECT source_id FROM part.part_keys WHERE NOT deleted")])
            resolve_new_links(db, last_link)
            references.resolve_by_ids(db, "work_references", "work_id > ?", [offset])
            works = db.query(f"SELECT id, {', '.join(WORK_SCHEMES.values())} FROM works WHERE id > ?", [offset])
            loader.resolve_links_to([(work["id"], dict(work, source_id=work["pmid"])) for work in works])
        return True
    finally:
        db.execute("DETACH DATABASE part")


def copy_table(db, table, offset):
    columns = [row[1] for row in db.execute(f'PRAGMA part.table_info("{table}")')]
    values = ["NULL" if RENUMBERED.get(table) == column
              else f'"{column}" + {offset}' if column in WORK_ID_COLUMNS.get(table, ())
              else f'"{column}"' for column in columns]
    verb = "INSERT OR IGNORE" if table in ENTITY_TABLES or table == "links" else \
        "INSERT OR REPLACE" if table == "quarantine" else "INSERT"
    order = f' ORDER BY "{RENUMBERED[table]}"' if table in RENUMBERED else ""
    names = ", ".join(f'"{column}"' for column in columns)
    db.execute(f'{verb} INTO main."{table}" ({names}) SELECT {", ".join(values)} FROM part."{table}"{order}')


def resolve_new_links(db, last_link):
    """The copied links whose ends the part could not resolve may name works or trials the KB
    holds: each such end gets the id a direct load would give it (`Loader.ids_by`)."""
    for end in ("from", "to"):
        for scheme, in db.execute(f"SELECT DISTINCT {end}_scheme FROM part.links").fetchall():
            where = link_end_table(scheme)
            if where is None:
                continue
            kind, table, key, id_column, condition, arguments = where
            named = f"FROM {table} WHERE {key} = links.{end}_id{condition}"
            # Only the links just copied (a rowid range, never the scheme's index over the whole
            # KB), and of them only the ends the KB resolves: most references name works it lacks.
            db.execute(f"UPDATE links SET {end}_{kind}_id = (SELECT {id_column} {named} ORDER BY rowid DESC LIMIT 1) "
                       f"WHERE id > ? AND +{end}_scheme = ? AND {end}_{kind}_id IS NULL AND EXISTS (SELECT 1 {named})",
                       [*arguments, last_link, scheme, *arguments])
