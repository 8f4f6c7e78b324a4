"""Writing parsed records into the knowledge base.

Records arrive in batches; each batch is one transaction, so a crash loses at most
the batch in flight and never leaves half a record. Loading the same record twice
changes nothing; a newer (or fuller) version of a record replaces its derived rows.
"""

import datetime as dt
import functools
import hashlib
import json
import zlib
from dataclasses import dataclass, field

from harvest import registries
from harvest.errors import ParseError
from harvest.pubmed import Deletion

from .affiliations import parse as parse_affiliation
from .affiliations import clean as clean_affiliation
from .affiliations import split_affiliations
from .affiliations import initials_forms, initials_in, places_by_initials
from . import references
from .db import FTS_COLUMNS, insert_rows
from .text import fold, stable_id

BATCH_SIZE = 1000
MAX_REMEMBERED = 1_000_000
# Link-end schemes that name works, and the works column each is looked up in.
WORK_SCHEMES = {"pmid": "pmid", "doi": "doi", "pmcid": "pmcid", "openalex": "openalex_id"}
# How each publication source's own record id is written as a link end.
SOURCE_SCHEMES = {"pubmed": "pmid", "openalex": "openalex", "crossref": "doi", "europepmc": "europepmc",
                  "portal": "portal", "library": "library"}
# Link-end schemes that are a source's own record ids: they resolve through the records table.
RECORD_SCHEMES = ("europepmc", "portal", "library")
# Sources whose record id is a page's address, not the work's: two of their records (a paper's
# page on two portals, a page saved twice) may be one work, and are matched like two sources'.
# A library entry's id is its file's and key's: the same paper in two files is one work.
PAGE_SOURCES = ("portal", "library")
# Columns of the rows WorkRows builds as tuples, in their order.
WORK_AUTHOR_COLUMNS = ("work_id", "position", "name_id", "author_id", "written_name")
AUTHOR_AFFILIATION_COLUMNS = ("work_id", "position", "affiliation_id", "number")
WORK_MESH_COLUMNS = ("work_id", "mesh_id", "major_topic", "qualifiers", "descriptor_major", "major_qualifiers")
CANDIDATE_COLUMNS = ("id", "title", "doi", "pmid", "pmcid", "is_preprint")
LINK_COLUMNS = ("from_scheme", "from_id", "relation", "to_scheme", "to_id", "from_work_id", "to_work_id",
                "from_trial_id", "to_trial_id", "score", "evidence", "asserted_by")


# json.dumps(..., ensure_ascii=False) makes a new encoder per call; a load encodes tens of
# small lists per record.
to_json = json.JSONEncoder(ensure_ascii=False).encode


@functools.lru_cache(maxsize=10_000)
def json_of(values):
    """to_json of a tuple of strings: MeSH qualifier lists repeat from heading to heading."""
    return to_json(values)


def now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def author_key(author):
    """Same key, same author row. Conservative: ORCID, else the full name as written.

    Deciding that 'Soleimani M' and 'Soleimani Masoud' are one person is the job of
    author disambiguation, which works on top of these rows.
    """
    if author["orcid"]:
        return "orcid:" + author["orcid"]
    if author["collective_name"]:
        return "group:" + fold(author["collective_name"])
    return "name:" + fold(author["last_name"]) + "|" + fold(author["fore_name"] or author["initials"])


def author_row(author):
    if author["collective_name"]:
        name = author["collective_name"]
    else:
        name = " ".join(p for p in (author["fore_name"] or author["initials"], author["last_name"],
                                    author["suffix"]) if p)
    return {"id": stable_id(author_key(author)), "name": name, "last_name": author["last_name"],
            "fore_name": author["fore_name"], "initials": author["initials"], "suffix": author["suffix"],
            "orcid": author["orcid"], "is_collective": int(bool(author["collective_name"]))}


def prepare(record):
    """Do ahead, in a parsing worker, the writer's work that depends on the record alone:
    the registry numbers its text names, the rows of its affiliation strings, the digest
    and compressed bytes of its raw record."""
    work_registry_ids(record)
    raw_digest(record)
    raw_compressed(record)
    for author in record["authors"]:
        for affiliation in author["affiliations"]:
            affiliation["rows"] = affiliation_rows(affiliation)
    return record


def raw_digest(record):
    """SHA-1 of the raw record, kept on the record."""
    if "sha1" not in record:
        record["sha1"] = hashlib.sha1(record["raw"]).hexdigest()
    return record["sha1"]


def raw_compressed(record):
    """The raw record compressed as `records.raw` stores it, kept on the record."""
    if "raw_zlib" not in record:
        record["raw_zlib"] = zlib.compress(record["raw"], 1)
    return record["raw_zlib"]


def affiliation_rows(affiliation):
    """One row per affiliation in a source's affiliation string, parsed into department,
    institution, city and country; identifiers stay only on a string that holds one.

    A string OpenAlex ties to an institution (an `openalex` identifier) is one row at that
    institution, whatever the string holds, under the name the source gives the institution
    (`institution`) when it gives one."""
    if "rows" in affiliation:
        return affiliation["rows"]
    identifiers = affiliation["identifiers"]
    return parsed_affiliation_rows(affiliation["name"], identifiers.get("ror"), identifiers.get("ringgold"),
                                   identifiers.get("openalex"), affiliation.get("institution"))


# A paper's authors repeat its few affiliation strings, and a baseline file repeats its
# institutions: the rows of a string are built once. An entry costs about 700 bytes: 32,768 of
# them keep the strings of the last few thousand papers (100,000 held 70 MB).
@functools.lru_cache(maxsize=1 << 15)
def parsed_affiliation_rows(name, ror, ringgold, openalex, institution=None):
    parts = tuple(filter(None, [clean_affiliation(name)])) if openalex else split_affiliations(name)
    if len(parts) != 1:
        ror = ringgold = openalex = None
    if ror:
        ror = "https://ror.org/" + ror.rstrip("/").rsplit("/", 1)[-1]
    # A row tied to an institution is keyed by it too: one string can name two institutions
    # (OpenAlex), and another source may give the same string with none.
    tie = f"|{ror or openalex}" if ror or openalex else ""
    return tuple({"id": stable_id("affiliation:" + fold(text) + tie), "name": text, "ror": ror, "ringgold": ringgold,
                  "openalex_id": openalex, "department": parsed.department,
                  "institution_name": institution or parsed.institution, "city": parsed.city, "country": parsed.country}
                 for text, parsed in ((text, parse_affiliation(text)) for text in parts))


def own_places(authors):
    """{(author position, affiliation string): the affiliations of the string that are that
    author's}, for the strings a journal shares out among a work's authors by tagging each place
    with their initials ('Hamilton, ON (P.M.O.), and ..., Vancouver (J.M.F.)', NEJM), which would
    otherwise give every author who holds one every place in it. Where the initials do not
    name the authors one to one (`places_by_initials`) the string is not in it. A string OpenAlex
    ties to an institution is one row whatever it holds (`affiliation_rows`), never shared out."""
    holders = {}
    for author in authors:
        for affiliation in author["affiliations"]:
            name = affiliation.get("name")
            if name and "(" in name and not affiliation["identifiers"].get("openalex"):
                holders.setdefault(name, set()).add(author["position"])
    # Each distinct string is read once: a paper's authors repeat a few.
    holders = {name: positions for name, positions in holders.items() if initials_in(name)}
    if not holders:
        return {}
    forms = {author["position"]: initials_forms(author["last_name"], author["fore_name"], author["initials"])
             for author in authors}
    return {(position, name): places for name, positions in holders.items()
            for position, places in (places_by_initials(name, forms, positions) or {}).items()}


def work_row(work_id, record, sources, provenance=None):
    from .merge import first_author_key, match_key

    return {
        "id": work_id,
        **{key: record[key] for key in (
            "title", "vernacular_title", "abstract", "year", "pub_date", "article_date", "journal",
            "journal_iso", "issn", "volume", "issue", "pages", "doi", "pmid", "pmcid", "language",
            "openalex_id", "cited_by_count", "oa_status", "copyright", "pub_date_text", "eissn")},
        "pub_types": to_json(record["pub_types"]),
        "languages": to_json(record["languages"]) if record["languages"] else None,
        "keywords": to_json(record["keywords"]),
        "grants": to_json(record["grants"]),
        "topics": to_json(record["topics"]) if record["topics"] else None,
        "author_list": "; ".join(a["written_name"] or "" for a in record["authors"]) or None,
        "is_retracted": int(record["is_retracted"]),
        "is_preprint": int(record["is_preprint"]),
        "first_author": first_author_key(record),
        "match_key": match_key(record),
        "sources": json.dumps(sources),
        "provenance": json.dumps(provenance) if provenance else None,
    }


FTS_ROW_COLUMNS = ("rowid", *FTS_COLUMNS)


def fts_row(work_id, record):
    values = {
        "title": " ".join(filter(None, (record["title"], record["vernacular_title"]))),
        "abstract": record["abstract"],
        "mesh": "; ".join(m["name"] for m in record["mesh"] if m["name"]),
        "keywords": "; ".join(record["keywords"]),
        "authors": "; ".join(
            " ".join(filter(None, (a["fore_name"], a["last_name"], a["initials"], a["collective_name"])))
            for a in record["authors"]),
        "journal": " ".join(filter(None, (record["journal"], record["journal_iso"]))),
        # Affiliations as written, so a search for a city or an institution finds its authors' works.
        "affiliations": "; ".join(dict.fromkeys(
            af["name"] for a in record["authors"] for af in a["affiliations"] if af.get("name"))),
    }
    return (work_id, *(values[column] for column in FTS_COLUMNS))


def record_version(record):
    """The source's own revision date of a record: PubMed DateRevised, a trial's last update posted."""
    return record.get("version") or record.get("last_update_posted")


def should_replace(stored, record, sha1):
    """A record replaces the stored one when it is fuller, or as full, different and not older."""
    if stored is None:
        return True
    if record["completeness"] != stored["completeness"]:
        return record["completeness"] > stored["completeness"]
    if sha1 == stored["sha1"]:
        return False
    version = record_version(record)
    return not (stored["version"] and version and version < stored["version"])


@dataclass
class LoadStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    errors: list = field(default_factory=list)
    fatal: str | None = None
    off_topic: int = 0  # records a topic filter left out

    def __add__(self, other):
        return LoadStats(self.added + other.added, self.updated + other.updated,
                         self.unchanged + other.unchanged, self.deleted + other.deleted,
                         self.quarantined + other.quarantined, self.errors + other.errors,
                         self.fatal or other.fatal, self.off_topic + other.off_topic)

    @property
    def loaded(self):
        return self.added + self.updated


def in_clause(values):
    return ", ".join("?" for _ in values)


def link_end_table(scheme):
    """Where a link end of this scheme is found: (kind of row it names, table, key column,
    id column, extra condition, its arguments); None for a scheme that names neither
    works nor trials."""
    if scheme in WORK_SCHEMES:
        return "work", "works", WORK_SCHEMES[scheme], "id", "", []
    if scheme in RECORD_SCHEMES:
        return "work", "records", "source_id", "work_id", " AND source = ?", [scheme]
    if scheme in registries.PATTERNS:
        return "trial", "trial_ids", "identifier", "trial_id", "", []
    return None


EMPTY_LINK = dict.fromkeys(LINK_COLUMNS)


def link_row(**fields):
    """A links row with every column; ends not yet resolved to a work or trial stay NULL."""
    return {**EMPTY_LINK, **fields}


def chunks(values, size=500):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


class Loader:
    """Writes one source's records into a KB opened with kb.db.open_db.

    Subclasses name their table, key and derived tables and build the rows of a record;
    this class does what every source shares: batching, provenance, versions, quarantine,
    deletions and links.
    """

    table = key = fk = fts = None
    derived_tables = ()

    def __init__(self, db, source):
        self.db = db
        self.source = source
        # Ids of authors, affiliations and MeSH terms this loader has seen committed: most
        # rows of those tables repeat from record to record and need no INSERT OR IGNORE.
        self.committed = set()
        self.pending = set()

    def load(self, items, origin, batch_size=BATCH_SIZE):
        """Load an iterable of records, Deletions and ParseErrors; returns LoadStats."""
        stats = LoadStats()
        batch = []
        for item in items:
            batch.append(item)
            if len(batch) >= batch_size:
                stats += self.write_batch(batch, origin)
                batch = []
        if batch:
            stats += self.write_batch(batch, origin)
        return stats

    def write_batches(self, batches, origin):
        """Write (items, how many records a topic filter left out) batches in order, one
        transaction each; returns their total LoadStats."""
        total = LoadStats()
        for items, off_topic in batches:
            stats = self.write_batch(items, origin)
            stats.off_topic = off_topic
            total += stats
        return total

    def write_batch(self, items, origin, run_state=None):
        """Write one batch in one transaction; `run_state` (run_id, state) is saved in the same one."""
        stats = LoadStats()
        self.pending = set()
        records, deletions, bad = {}, [], []
        for item in items:
            if isinstance(item, ParseError):
                bad.append(item)
                if item.fatal:
                    stats.fatal = str(item)
            elif isinstance(item, Deletion):
                deletions.extend(item.pmids)
            else:
                records[item[self.key]] = item
        retrieved_at = now()
        with self.db.atomic():
            for error in bad:
                self.quarantine(error, retrieved_at)
                stats.quarantined += 1
                stats.errors.append(str(error))
            self.write_records(list(records.values()), origin, retrieved_at, stats)
            for key in deletions:
                stats.deleted += self.delete(key)
            if run_state:
                run_id, state = run_state
                self.db.execute(
                    "UPDATE harvest_runs SET state = ?, pages = pages + 1, "
                    "records_loaded = records_loaded + ? WHERE id = ?",
                    [json.dumps(state), stats.loaded, run_id])
        if len(self.committed) > MAX_REMEMBERED:
            self.committed.clear()
        self.committed |= self.pending
        self.pending = set()
        return stats

    def quarantine(self, error, at):
        self.db["quarantine"].insert({
            "id": stable_id(f"{error.source}|{error.origin}|{error.record_id}|{error.args[0]}"),
            "source": error.source, "origin": error.origin, "record_id": error.record_id,
            "error": str(error), "raw": zlib.compress(error.raw), "quarantined_at": at,
        }, replace=True)

    def write_records(self, records, origin, retrieved_at, stats):
        if not records:
            return
        db = self.db
        keys = [r[self.key] for r in records]
        self.unquarantine(keys)
        stored = {row["source_id"]: row for row in db.query(
            f"SELECT source_id, completeness, version, sha1, {self.fk} AS row_id FROM records "
            f"WHERE source = ? AND source_id IN ({in_clause(keys)})", [self.source, *keys])}
        fresh = []
        for record in records:
            sha1 = raw_digest(record)
            if should_replace(stored.get(record[self.key]), record, sha1):
                fresh.append((record, sha1))
            else:
                stats.unchanged += 1
        if not fresh:
            return
        placed = self.place([record for record, _ in fresh], stored)
        next_id = (db.execute(f"SELECT max(id) FROM {self.table}").fetchone()[0] or 0) + 1
        # Rows numbered from here on are new in this batch: nothing stored before describes them.
        self.numbered_from = next_id
        changed, existing = [], []
        for (record, sha1), row_id in zip(fresh, placed):
            if row_id is None:
                row_id, next_id = next_id, next_id + 1
                stats.added += 1
            else:
                existing.append(row_id)
                stats.updated += 1
            changed.append((row_id, record, sha1))
        if existing:
            self.clear_derived(sorted(set(existing)), [record[self.key] for record, _ in fresh])
        insert_rows(db, "records", [
            {"source": self.source, "source_id": record[self.key], "work_id": None, "trial_id": None,
             self.fk: row_id, "completeness": record["completeness"], "version": record_version(record),
             "sha1": sha1, "origin": origin, "retrieved_at": retrieved_at,
             "raw": raw_compressed(record)} for row_id, record, sha1 in changed])
        self.write_rows([(row_id, record) for row_id, record, _ in changed])
        self.resolve_links_to([(row_id, record) for row_id, record, _ in changed])

    def unquarantine(self, keys):
        """A record that loads now is no longer bad: a quarantined earlier answer (an error page a
        flaky server sent in its place) would otherwise outlive it."""
        for chunk in chunks(keys):
            self.db.execute(f"DELETE FROM quarantine WHERE source = ? AND coalesce(record_id, origin) "
                            f"IN ({in_clause(chunk)})", [self.source, *chunk])

    def place(self, records, stored):
        """The existing row id of each record (None for a new row): by the key column."""
        keys = [r[self.key] for r in records]
        ids = {row[self.key]: row["id"] for row in self.db.query(
            f"SELECT id, {self.key} FROM {self.table} WHERE {self.key} IN ({in_clause(keys)})", keys)}
        return [ids.get(key) for key in keys]

    def clear_derived(self, row_ids, keys=None):
        """Delete what was derived from the stored versions of these rows, before writing new ones:
        the links these records (`keys`; all of this source's when None) asserted, since another
        record of this source may share the row (two pages of one work)."""
        self.clear_rows(row_ids)
        only = f" AND from_id IN ({in_clause(keys)})" if keys else ""
        self.db.execute(f"DELETE FROM links WHERE asserted_by = ? AND from_{self.fk} IN ({in_clause(row_ids)}){only}",
                        [self.source, *row_ids, *(keys or [])])

    def clear_rows(self, row_ids):
        marks = in_clause(row_ids)
        for table in self.derived_tables:
            self.db.execute(f"DELETE FROM {table} WHERE {self.fk} IN ({marks})", row_ids)
        self.db.execute(f"DELETE FROM {self.fts} WHERE rowid IN ({marks})", row_ids)

    def insert_entities(self, table, rows, build=None):
        """INSERT OR IGNORE rows of a shared table (author names, affiliations, ...) keyed by id;
        with `build`, `rows` holds what build(row) makes the row of."""
        new = [build(row) if build else row for key, row in rows.items() if (table, key) not in self.committed]
        insert_rows(self.db, table, new, on_conflict="IGNORE")
        self.pending.update((table, key) for key in rows)

    def ids_by(self, scheme, values):
        """{identifier: (kind, id)} for the works or trials the KB holds among `values` of one scheme."""
        found = {}
        where = link_end_table(scheme)
        if where is None:
            return found
        kind, table, key, id_column, condition, arguments = where
        for chunk in chunks(set(values)):
            rows = self.db.execute(f"SELECT {key}, {id_column} FROM {table} WHERE {key} IN ({in_clause(chunk)})"
                                   f"{condition}", [*chunk, *arguments])
            # In index order: of two rows with one identifier, the later row wins.
            found.update((value, (kind, row_id)) for value, row_id in rows)
        return found

    def add_links(self, links):
        """Insert link rows, resolving each end to the work or trial it names when the KB holds it."""
        if not links:
            return
        for end in ("from", "to"):
            # An end the loader resolved itself (the record's own work) is not looked up again.
            by_scheme = {}
            for link in links:
                if link[f"{end}_work_id"] is None and link[f"{end}_trial_id"] is None:
                    by_scheme.setdefault(link[f"{end}_scheme"], []).append(link)
            for scheme, open_ends in by_scheme.items():
                found = self.ids_by(scheme, [link[f"{end}_id"] for link in open_ends])
                for link in open_ends:
                    if link[f"{end}_id"] in found:
                        kind, row_id = found[link[f"{end}_id"]]
                        link[f"{end}_{kind}_id"] = row_id
        insert_rows(self.db, "links", links, on_conflict="IGNORE")

    def resolve_links_to(self, written):
        """Links stored earlier that name the rows just written now get their ids."""
        pairs = [(scheme, value, row_id) for row_id, record in written
                 for scheme, value in self.identifiers(record)]
        kind = self.fk.removesuffix("_id")
        for end in ("from", "to"):
            self.db.conn.executemany(
                f"UPDATE links SET {end}_{kind}_id = ?3 WHERE {end}_scheme = ?1 AND {end}_id = ?2 "
                f"AND {end}_{kind}_id IS NULL", pairs)

    def delete(self, key):
        """Remove a record this source withdrew (e.g. PubMed <DeleteCitation>) and what was derived from it."""
        row = self.db.execute(f"SELECT {self.fk} FROM records WHERE source = ? AND source_id = ?",
                              [self.source, key]).fetchone()
        if row is None:
            return 0
        row_id = row[0]
        self.db.execute("DELETE FROM records WHERE source = ? AND source_id = ?", [self.source, key])
        self.db.execute(f"DELETE FROM links WHERE asserted_by = ? AND from_{self.fk} = ? AND from_id = ?",
                        [self.source, row_id, key])
        if self.db.execute(f"SELECT 1 FROM records WHERE {self.fk} = ?", [row_id]).fetchone() is None:
            self.clear_derived([row_id])
            for end in ("from", "to"):
                self.db.execute(f"UPDATE links SET {end}_{self.fk} = NULL WHERE {end}_{self.fk} = ?", [row_id])
            self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", [row_id])
        return 1


class WorkLoader(Loader):
    """Works from any publication source (PubMed, OpenAlex, Europe PMC, Crossref).

    Records that describe one real work share its row: see kb.merge for how they are
    matched and how the row takes each field from the best source for it.
    """

    table, key, fk, fts = "works", "source_id", "work_id", "works_fts"
    derived_tables = ("work_authors", "work_author_affiliations", "work_mesh", "registry_ids", "work_conflicts",
                      "work_investigators", "work_references")
    MERGER = "regenkb-merger"

    def identifiers(self, record):
        found = [(scheme, record[column]) for scheme, column in WORK_SCHEMES.items() if record[column]]
        if self.source in RECORD_SCHEMES:
            found.append((self.source, record["source_id"]))
        return found

    def place(self, records, stored):
        """Each record's work: the one its earlier version built, else the work one of its
        identifiers names, else one with the same title, year and first author; None for a
        new work."""
        from . import merge

        found = {scheme: self.ids_by(scheme, [r[column] for r in records if r[column]])
                 for scheme, column in WORK_SCHEMES.items()}
        self.has_blocks = self.db.execute("SELECT 1 FROM merge_blocks LIMIT 1").fetchone() is not None
        self.matches, self.versions = {}, {}
        self.keyed = self.keyed_candidates([record for record in records if not (
            stored.get(record["source_id"]) or {}).get("row_id")], merge)
        placed = []
        for record in records:
            previous = stored.get(record["source_id"])
            if previous and previous["row_id"]:
                placed.append(previous["row_id"])
                continue
            work_id = None
            for scheme, column in WORK_SCHEMES.items():
                hit = found[scheme].get(record[column]) if record[column] else None
                if hit and not self.blocked(record, hit[1]):
                    work_id = hit[1]
                    self.matches[record["source_id"]] = (work_id, scheme, 1.0)
                    break
            if work_id is None:
                work_id = self.match_title(record, merge)
            placed.append(work_id)
        return placed

    def match_title(self, record, merge):
        """A work with the same title, year and first author and no conflicting identifier.

        A preprint and a journal article that match are two works: the match becomes a
        `version_of` link instead."""
        if not (record["year"] and record["title"]):
            return None
        same_work = version = None
        for row in self.title_candidates(record, merge.match_key(record)):
            same, score = merge.same_title(record["title"], row["title"])
            if not same or self.blocked(record, row["id"]):
                continue
            if bool(row["is_preprint"]) != bool(record["is_preprint"]):
                version = max(version or (row, 0), (row, score), key=lambda pair: pair[1])
            elif not merge.conflicting_ids(record, row):
                same_work = max(same_work or (row, 0), (row, score), key=lambda pair: pair[1])
        if same_work:
            row, score = same_work
            self.matches[record["source_id"]] = (row["id"], "title", round(score / 100, 3))
            return row["id"]
        if version:
            self.versions[record["source_id"]] = version
        return None

    def title_candidates(self, record, key):
        """Works that may be the record's: same first author and first title word within a year
        (an indexed block, looked up for the whole batch by `keyed_candidates`);
        for a record that names no author (a listing's stub), works whose title holds the
        phrase of its first words, found through the full-text index.

        A work that already holds a record of this source would have matched by identifier:
        only a preprint or journal counterpart (for version_of) is worth comparing there; but
        not for a page source, whose record ids name pages ('' matches no sources list)."""
        from .merge import title_key

        if key:
            return self.keyed.get(record["source_id"], [])
        same_source = self.same_source()
        preprint = int(bool(record["is_preprint"]))
        phrase = " ".join(title_key(record["title"]).split()[:8])
        if not phrase:
            return []
        return self.db.query(
            "SELECT w.id, w.title, w.doi, w.pmid, w.pmcid, w.is_preprint FROM works_fts "
            "JOIN works w ON w.id = works_fts.rowid WHERE works_fts MATCH ? AND w.year BETWEEN ? AND ? "
            "AND (w.sources NOT LIKE ? OR w.is_preprint != ?) LIMIT 50",
            [f'title : "{phrase}"', record["year"] - 1, record["year"] + 1, same_source, preprint])

    def keyed_candidates(self, records, merge):
        """title_candidates of every record with a match key, looked up for the whole batch
        a few hundred records a query: {source_id: candidate rows, in index order}."""
        wanted = [(record["source_id"], key, record["year"], int(bool(record["is_preprint"])))
                  for record in records if record["year"] and record["title"] and (key := merge.match_key(record))]
        found = {}
        for chunk in chunks(wanted):
            rows = self.db.execute(
                f"WITH wanted(source_id, key, year, preprint) AS (VALUES {', '.join(['(?, ?, ?, ?)'] * len(chunk))}) "
                "SELECT wanted.source_id, w.id, w.title, w.doi, w.pmid, w.pmcid, w.is_preprint FROM wanted "
                "JOIN works w ON w.match_key = wanted.key AND w.year BETWEEN wanted.year - 1 AND wanted.year + 1 "
                "AND (w.sources NOT LIKE ? OR w.is_preprint != wanted.preprint) ORDER BY w.match_key, w.year, w.id",
                [value for row in chunk for value in row] + [self.same_source()])
            for source_id, *values in rows:
                found.setdefault(source_id, []).append(dict(zip(CANDIDATE_COLUMNS, values)))
        return found

    def same_source(self):
        """The sources pattern of works that already hold a record of this source ('' for a page source)."""
        return f'%"{self.source}"%' if self.source not in PAGE_SOURCES else ""

    def blocked(self, record, work_id):
        """A curator split this record from a record of that work: never put them together again."""
        return self.has_blocks and self.db.execute(
            "SELECT 1 FROM merge_blocks b JOIN records r ON r.source = b.other_source "
            "AND r.source_id = b.other_source_id WHERE b.source = ? AND b.source_id = ? AND r.work_id = ?",
            [self.source, record["source_id"], work_id]).fetchone() is not None

    def write_rows(self, changed):
        from . import merge

        ids = sorted({work_id for work_id, _ in changed if work_id < self.numbered_from})
        written = {record["source_id"] for _, record in changed}
        others = {}
        # A page source's own other records of these works count too: its pages of one work merge.
        for work_id, source, source_id, raw in self.db.execute(
                f"SELECT work_id, source, source_id, raw FROM records WHERE work_id IN ({in_clause(ids)}) "
                f"AND (source != ? OR ?) ORDER BY rowid DESC", [*ids, self.source, self.source in PAGE_SOURCES]):
            if not (source == self.source and source_id in written):
                others.setdefault(work_id, {}).setdefault(source, []).append(
                    merge.reparse(source, zlib.decompress(raw)))
        rows = WorkRows()
        merges, links = [], []
        # Records of this source in one batch may be one work: its rows are built once, newest first.
        batch = {}
        for work_id, record in changed:
            batch.setdefault(work_id, []).insert(0, record)
        for work_id, records in batch.items():
            stored = others.get(work_id, {})
            by_source = {**stored, self.source: records + stored.get(self.source, [])}
            rows.add(work_id, {source: merge.combine(found) for source, found in by_source.items()})
        for work_id, record in changed:
            held = len(batch[work_id]) + sum(map(len, others.get(work_id, {}).values()))
            scheme = SOURCE_SCHEMES[self.source]
            links.extend(link_row(from_scheme=scheme, from_id=record["source_id"], relation=link["relation"],
                                  to_scheme=link["scheme"], to_id=link["target"], from_work_id=work_id,
                                  evidence=link.get("evidence"), asserted_by=self.source) for link in record["links"])
            links.extend(link_row(from_scheme=scheme, from_id=record["source_id"], relation="registered_as",
                                  to_scheme=r["scheme"], to_id=r["accession"], from_work_id=work_id,
                                  evidence=f"{r['found_in']} names {r['accession']}", asserted_by=self.source)
                         for r in work_registry_ids(record) if r["scheme"])
            match = self.matches.get(record["source_id"])
            if match and held > 1:
                merges.append({"work_id": work_id, "source": self.source, "source_id": record["source_id"],
                               "matched_by": match[1], "score": match[2], "merged_at": now()})
            if record["source_id"] in self.versions:
                links.append(version_link(scheme, record, work_id, *self.versions[record["source_id"]]))
        rows.write(self)
        insert_rows(self.db, "merges", [dict(m, id=None) for m in merges])
        self.add_links(links)

    def stored_unchanged(self, records):
        """The works of these records whose stored record has the same bytes (a load skips them)."""
        digests = {raw_digest(record) for record in records}
        work_ids = set()
        for chunk in chunks(record["source_id"] for record in records):
            work_ids.update(work_id for work_id, sha1 in self.db.execute(
                f"SELECT work_id, sha1 FROM records WHERE source = ? AND source_id IN ({in_clause(chunk)})",
                [self.source, *chunk]) if sha1 in digests and work_id is not None)
        return sorted(work_ids)

    def rebuild(self, work_ids):
        """Write the rows of these works again from the records they still hold."""
        from . import merge

        sources = {}
        for work_id, source, raw in self.db.execute(
                f"SELECT work_id, source, raw FROM records WHERE work_id IN ({in_clause(work_ids)}) "
                f"ORDER BY rowid DESC", work_ids):  # the newest record of a source first, as a load gives them
            sources.setdefault(work_id, {}).setdefault(source, []).append(merge.reparse(source, zlib.decompress(raw)))
        self.clear_rows(work_ids)
        self.db.execute(f"DELETE FROM works WHERE id IN ({in_clause(work_ids)})", work_ids)
        rows = WorkRows()
        for work_id, by_source in sources.items():
            rows.add(work_id, {source: merge.combine(found) for source, found in by_source.items()})
        rows.write(self)

    def delete(self, key):
        """Withdraw one record; a work that other sources still describe is rebuilt from them."""
        row = self.db.execute("SELECT work_id FROM records WHERE source = ? AND source_id = ?",
                              [self.source, key]).fetchone()
        deleted = super().delete(key)
        if deleted and self.db.execute("SELECT 1 FROM works WHERE id = ?", [row[0]]).fetchone():
            self.rebuild([row[0]])
        elif deleted:
            references.forget(self.db, row[0])
        return deleted

    def resolve_links_to(self, written):
        """Links and references stored earlier that name the works just written now get their ids."""
        super().resolve_links_to(written)
        references.resolve_to(self.db, [(WORK_SCHEMES[scheme], value, work_id) for work_id, record in written
                                         for scheme, value in self.identifiers(record) if scheme in WORK_SCHEMES])

    def add_related(self, links):
        """Store links between PMIDs that an elink response asserts (related, cited_by, ...)."""
        rows = [link_row(from_scheme="pmid", from_id=link["from"], relation=link["relation"],
                         to_scheme=link["scheme"], to_id=link["target"], score=link["score"],
                         asserted_by=self.source + "-elink") for link in links]
        with self.db.atomic():
            self.add_links(rows)
        return len(rows)

    def withdraw_shared(self, shared_sets):
        """Withdraw the links a regenkb before 2026-12 drew from each PMID of an elink LinkSet
        of several PMIDs (pubmed.shared_link_sets) to each PMID the set lists: the set says
        only that some PMID of it links there. Returns how many links were withdrawn; one that
        an answer for its PMID alone also asserts comes back when that answer is loaded again."""
        rows = [(from_id, relation, target) for from_ids, linked in shared_sets
                for from_id in from_ids for relation, target in linked]
        before = self.db.conn.total_changes
        with self.db.atomic():
            self.db.conn.executemany(
                "DELETE FROM links WHERE from_scheme = 'pmid' AND from_id = ? AND relation = ? "
                "AND to_scheme = 'pmid' AND to_id = ? AND asserted_by = ?",
                [(*row, self.source + "-elink") for row in rows])
        return self.db.conn.total_changes - before


def version_link(scheme, record, work_id, other, score):
    """preprint version_of journal article, whichever of the two arrived second."""
    other_scheme, other_id = ("doi", other["doi"]) if other["doi"] else ("pmid", other["pmid"])
    evidence = f"same title ({score:.0f}/100), year and first author; one is a preprint"
    if record["is_preprint"]:
        return link_row(from_scheme=scheme, from_id=record["source_id"], relation="version_of",
                        to_scheme=other_scheme, to_id=other_id, from_work_id=work_id, to_work_id=other["id"],
                        score=round(score / 100, 3), evidence=evidence, asserted_by=WorkLoader.MERGER)
    return link_row(from_scheme=other_scheme, from_id=other_id, relation="version_of", to_scheme=scheme,
                    to_id=record["source_id"], from_work_id=other["id"], to_work_id=work_id,
                    score=round(score / 100, 3), evidence=evidence, asserted_by=WorkLoader.MERGER)


class WorkRows:
    """The rows of a batch of works, built from their records (one or several sources each)."""

    def __init__(self):
        self.works, self.fts, self.author_names, self.work_authors = [], [], {}, []
        self.affiliations, self.author_affiliations, self.mesh_terms, self.work_mesh = {}, [], {}, []
        self.registry_ids, self.conflicts, self.investigators = [], [], []
        self.references = []

    def add(self, work_id, sources):
        from . import merge

        if len(sources) == 1:
            (source, record), = sources.items()
            provenance = {field: f"{source} ({layer})" for field, layer in record["layers"].items()} or None
            conflicts = []
        else:
            record, provenance, conflicts = merge.merge_records(sources)
        self.works.append(work_row(work_id, record, sorted(sources), provenance))
        self.fts.append(fts_row(work_id, record))
        self.conflicts.extend({"work_id": work_id, "field": field, "source": source, "value": value}
                              for field, source, value in conflicts)
        numbers = {}
        own = own_places(record["authors"])
        for author in record["authors"]:
            # A batch repeats its names: the row of each is built once, from its last author.
            name_id = stable_id(author_key(author))
            self.author_names[name_id] = author
            # The person behind the name is decided by `kb authors resolve`, over the whole KB.
            self.work_authors.append((work_id, author["position"], name_id, None, author["written_name"]))
            seen = set()
            for affiliation in author["affiliations"]:
                theirs = own.get((author["position"], affiliation.get("name")))
                for aff in affiliation_rows(affiliation):
                    if aff["id"] in seen or (theirs is not None and aff["name"] not in theirs):
                        continue
                    seen.add(aff["id"])
                    self.affiliations.setdefault(aff["id"], aff)
                    # Numbered in order of first appearance, as a paper's affiliation list is; a
                    # string at two institutions keeps one number.
                    number = numbers.setdefault(aff["name"], len(numbers) + 1)
                    self.author_affiliations.append((work_id, author["position"], aff["id"], number))
        # A heading with neither UI nor name (an empty <DescriptorName>) names nothing: work_mesh's
        # key cannot hold it (kb.db.WITHOUT_ROWID).
        for heading in filter(lambda heading: heading["ui"] is not None, record["mesh"]):
            self.mesh_terms[heading["ui"]] = {"id": heading["ui"], "name": heading["name"]}
            # A source that flags only the heading as a whole leaves which part is major unknown (NULL).
            flagged = "major_qualifiers" in heading
            self.work_mesh.append((work_id, heading["ui"], int(heading["major"]), json_of(tuple(heading["qualifiers"])),
                                   int(heading["descriptor_major"]) if flagged else None,
                                   json_of(tuple(heading["major_qualifiers"])) if flagged else None))
        # Investigators are a study's collaborators, not its authors: kept apart, never clustered into people.
        self.investigators.extend(
            {"work_id": work_id, "position": person["position"], "name": person["written_name"],
             "last_name": person["last_name"], "fore_name": person["fore_name"], "initials": person["initials"],
             "suffix": person["suffix"], "orcid": person["orcid"],
             "affiliations": to_json([a["name"] for a in person["affiliations"]])
             if person["affiliations"] else None}
            for person in record["investigators"])
        self.registry_ids.extend({"work_id": work_id, **r} for r in work_registry_ids(record))
        # Each source's reference list is kept as it gives it, beside the others'.
        for source, source_record in sources.items():
            self.references.extend(references.work_reference_rows(work_id, source, source_record))

    def write(self, loader):
        db = loader.db
        insert_rows(db, "works", self.works)
        loader.insert_entities("author_names", self.author_names, author_row)
        loader.insert_entities("affiliations", self.affiliations)
        loader.insert_entities("mesh_terms", self.mesh_terms)
        for table, rows, columns in (
                ("work_authors", self.work_authors, WORK_AUTHOR_COLUMNS),
                ("work_author_affiliations", self.author_affiliations, AUTHOR_AFFILIATION_COLUMNS),
                ("work_mesh", self.work_mesh, WORK_MESH_COLUMNS), ("registry_ids", self.registry_ids, None),
                ("work_conflicts", self.conflicts, None), ("work_investigators", self.investigators, None),
                ("work_references", self.references, references.COLUMNS), ("works_fts", self.fts, FTS_ROW_COLUMNS)):
            insert_rows(db, table, rows, columns=columns)
        references.resolve_in(db, "work_references", sorted({row[0] for row in self.references}))


def work_registry_ids(record):
    """Registry numbers a work reports: its DataBankList, then any its title or abstract names.

    Kept on the record: the row builder and the link builder both ask for them."""
    if "registry_found" not in record:
        record["registry_found"] = find_registry_ids(record)
    return record["registry_found"]


def find_registry_ids(record):
    found = {}
    for entry in record["registry_ids"]:
        known = registries.scheme_of(entry["accession"])
        accession = known[1] if known else entry["accession"]
        found[accession] = {"registry": entry["registry"], "accession": accession,
                            "scheme": known[0] if known else None, "found_in": entry.get("found_in", "DataBankList")}
    for field_name in ("title", "abstract"):
        for scheme, accession in registries.find_in_text(record[field_name]):
            found.setdefault(accession, {"registry": registries.NAMES[scheme], "accession": accession,
                                         "scheme": scheme, "found_in": field_name})
    return [{"registry": f["registry"], "accession": f["accession"], "found_in": f["found_in"],
             "scheme": f["scheme"]} for f in found.values()]
