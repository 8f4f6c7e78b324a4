"""Writing parsed records into the knowledge base.

Records arrive in batches; each batch is one transaction, so a crash loses at most
the batch in flight and never leaves half a record. Loading the same record twice
changes nothing; a newer (or fuller) version of a record replaces its derived rows.
"""

import datetime as dt
import functools
import hashlib
import json
import unicodedata
import zlib
from dataclasses import dataclass, field

from harvest.errors import ParseError
from harvest.pubmed import Deletion

from .db import FTS_COLUMNS, insert_rows

BATCH_SIZE = 1000
MAX_REMEMBERED = 1_000_000
DERIVED_TABLES = ("work_authors", "work_author_affiliations", "work_mesh", "registry_ids")


def now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@functools.lru_cache(maxsize=200_000)
def stable_id(key):
    """A positive 63-bit integer id that is the same for the same key in every KB."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") >> 1


@functools.lru_cache(maxsize=200_000)
def fold(text):
    """Lower-case, accents removed, whitespace collapsed: the form names are compared in."""
    if (text or "").isascii():
        return " ".join(text.casefold().split()) if text else ""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


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


def affiliation_row(affiliation):
    identifiers = affiliation["identifiers"]
    ror = identifiers.get("ror")
    if ror:
        ror = "https://ror.org/" + ror.rstrip("/").rsplit("/", 1)[-1]
    return {"id": stable_id("affiliation:" + fold(affiliation["name"])), "name": affiliation["name"],
            "ror": ror, "ringgold": identifiers.get("ringgold")}


def work_row(work_id, record):
    return {
        "id": work_id,
        **{key: record[key] for key in (
            "title", "vernacular_title", "abstract", "year", "pub_date", "article_date", "journal",
            "journal_iso", "issn", "volume", "issue", "pages", "doi", "pmid", "pmcid", "language")},
        "pub_types": json.dumps(record["pub_types"], ensure_ascii=False),
        "keywords": json.dumps(record["keywords"], ensure_ascii=False),
        "grants": json.dumps(record["grants"], ensure_ascii=False),
        "author_list": "; ".join(a["written_name"] for a in record["authors"]) or None,
        "is_retracted": int(record["is_retracted"]),
    }


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
    }
    return {"rowid": work_id, **{column: values[column] for column in FTS_COLUMNS}}


def should_replace(stored, record, sha1):
    """A record replaces the stored one when it is fuller, or as full, different and not older."""
    if stored is None:
        return True
    if record["completeness"] != stored["completeness"]:
        return record["completeness"] > stored["completeness"]
    if sha1 == stored["sha1"]:
        return False
    return not (stored["version"] and record["version"] and record["version"] < stored["version"])


@dataclass
class LoadStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    errors: list = field(default_factory=list)
    fatal: str | None = None

    def __add__(self, other):
        return LoadStats(self.added + other.added, self.updated + other.updated,
                         self.unchanged + other.unchanged, self.deleted + other.deleted,
                         self.quarantined + other.quarantined, self.errors + other.errors,
                         self.fatal or other.fatal)

    @property
    def loaded(self):
        return self.added + self.updated


def in_clause(values):
    return ", ".join("?" for _ in values)


class Loader:
    """Writes one source's records into a KB opened with kb.db.open_db."""

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
                records[item["pmid"]] = item
        retrieved_at = now()
        with self.db.atomic():
            for error in bad:
                self.quarantine(error, retrieved_at)
                stats.quarantined += 1
                stats.errors.append(str(error))
            self.write_records(list(records.values()), origin, retrieved_at, stats)
            for pmid in deletions:
                stats.deleted += self.delete(pmid)
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
        pmids = [r["pmid"] for r in records]
        stored = {row["source_id"]: row for row in db.query(
            f"SELECT source_id, completeness, version, sha1, work_id FROM records "
            f"WHERE source = ? AND source_id IN ({in_clause(pmids)})", [self.source, *pmids])}
        work_ids = {row["pmid"]: row["id"] for row in db.query(
            f"SELECT id, pmid FROM works WHERE pmid IN ({in_clause(pmids)})", pmids)}
        next_id = (db.execute("SELECT max(id) FROM works").fetchone()[0] or 0) + 1
        changed, replaced = [], []
        for record in records:
            sha1 = hashlib.sha1(record["raw"]).hexdigest()
            if not should_replace(stored.get(record["pmid"]), record, sha1):
                stats.unchanged += 1
                continue
            work_id = work_ids.get(record["pmid"])
            if work_id is None:
                work_id, next_id = next_id, next_id + 1
                stats.added += 1
            else:
                replaced.append(work_id)
                stats.updated += 1
            changed.append((work_id, record, sha1))
        if not changed:
            return
        if replaced:
            marks = in_clause(replaced)
            for table in DERIVED_TABLES:
                db.execute(f"DELETE FROM {table} WHERE work_id IN ({marks})", replaced)
            db.execute(f"DELETE FROM works_fts WHERE rowid IN ({marks})", replaced)
            db.execute(f"DELETE FROM links WHERE asserted_by = ? AND from_work_id IN ({marks})",
                       [self.source, *replaced])

        works, fts, authors, work_authors, affiliations, author_affiliations = [], [], {}, [], {}, []
        mesh_terms, work_mesh, registry_ids, links, sources = {}, [], [], [], []
        for work_id, record, sha1 in changed:
            works.append(work_row(work_id, record))
            fts.append(fts_row(work_id, record))
            numbers = {}
            for author in record["authors"]:
                row = author_row(author)
                authors[row["id"]] = row
                work_authors.append({"work_id": work_id, "position": author["position"],
                                     "author_id": row["id"], "written_name": author["written_name"]})
                for affiliation in author["affiliations"]:
                    aff = affiliation_row(affiliation)
                    affiliations.setdefault(aff["id"], aff)
                    # Numbered in order of first appearance, as a paper's affiliation list is.
                    number = numbers.setdefault(aff["id"], len(numbers) + 1)
                    author_affiliations.append({"work_id": work_id, "position": author["position"],
                                                "affiliation_id": aff["id"], "number": number})
            for heading in record["mesh"]:
                mesh_terms[heading["ui"]] = {"id": heading["ui"], "name": heading["name"]}
                work_mesh.append({"work_id": work_id, "mesh_id": heading["ui"],
                                  "major_topic": int(heading["major"]),
                                  "qualifiers": json.dumps(heading["qualifiers"], ensure_ascii=False)})
            registry_ids.extend({"work_id": work_id, **r} for r in record["registry_ids"])
            links.extend({"from_scheme": "pmid", "from_id": record["pmid"], "relation": link["relation"],
                          "to_scheme": link["scheme"], "to_id": link["target"], "from_work_id": work_id,
                          "score": None, "asserted_by": self.source} for link in record["links"])
            sources.append({"source": self.source, "source_id": record["pmid"], "work_id": work_id,
                            "completeness": record["completeness"], "version": record["version"],
                            "sha1": sha1, "origin": origin, "retrieved_at": retrieved_at,
                            "raw": zlib.compress(record["raw"], 1)})

        insert_rows(db, "works", works)
        for table, rows in (("authors", authors), ("affiliations", affiliations), ("mesh_terms", mesh_terms)):
            new = [row for key, row in rows.items() if (table, key) not in self.committed]
            insert_rows(db, table, new, on_conflict="IGNORE")
            self.pending.update((table, key) for key in rows)
        insert_rows(db, "work_authors", work_authors)
        insert_rows(db, "work_author_affiliations", author_affiliations)
        insert_rows(db, "work_mesh", work_mesh)
        insert_rows(db, "registry_ids", registry_ids)
        insert_rows(db, "works_fts", fts)
        insert_rows(db, "records", sources)
        self.add_links(links)
        self.resolve_links_to([r for _, r, _ in changed])

    def work_ids_by(self, scheme, values):
        """{identifier: work id} for the works the KB holds among `values` of one id scheme."""
        values = list(set(values))
        found = {}
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            found.update(self.db.execute(
                f"SELECT {scheme}, id FROM works WHERE {scheme} IN ({in_clause(chunk)})", chunk))
        return found

    def add_links(self, links):
        """Insert links (dicts without id), resolving from/to work ids where those works are known."""
        if not links:
            return
        for scheme in ("pmid", "doi", "pmcid"):
            found = self.work_ids_by(scheme, [link["to_id"] for link in links if link["to_scheme"] == scheme])
            for link in links:
                if link["to_scheme"] == scheme:
                    link["to_work_id"] = found.get(link["to_id"])
        insert_rows(self.db, "links", links, on_conflict="IGNORE")

    def resolve_links_to(self, records):
        """Links stored earlier that name the works just written now get their work ids."""
        self.db.conn.executemany(
            "UPDATE links SET from_work_id = (SELECT id FROM works WHERE pmid = ?1) "
            "WHERE from_scheme = 'pmid' AND from_id = ?1 AND from_work_id IS NULL",
            [(r["pmid"],) for r in records])
        for scheme in ("pmid", "doi", "pmcid"):
            pairs = [(r[scheme], r["pmid"]) for r in records if r[scheme]]
            if pairs:
                self.db.conn.executemany(
                    f"UPDATE links SET to_work_id = (SELECT id FROM works WHERE pmid = ?) "
                    f"WHERE to_scheme = '{scheme}' AND to_id = ? AND to_work_id IS NULL",
                    [(pmid, value) for value, pmid in pairs])

    def delete(self, pmid):
        """Remove a record this source withdrew (PubMed <DeleteCitation>) and what was derived from it."""
        row = self.db.execute("SELECT work_id FROM records WHERE source = ? AND source_id = ?",
                              [self.source, pmid]).fetchone()
        if row is None:
            return 0
        work_id = row[0]
        self.db.execute("DELETE FROM records WHERE source = ? AND source_id = ?", [self.source, pmid])
        self.db.execute("DELETE FROM links WHERE asserted_by = ? AND from_work_id = ?", [self.source, work_id])
        if self.db.execute("SELECT 1 FROM records WHERE work_id = ?", [work_id]).fetchone() is None:
            for table in DERIVED_TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE work_id = ?", [work_id])
            self.db.execute("DELETE FROM works_fts WHERE rowid = ?", [work_id])
            self.db.execute("UPDATE links SET to_work_id = NULL WHERE to_work_id = ?", [work_id])
            self.db.execute("UPDATE links SET from_work_id = NULL WHERE from_work_id = ?", [work_id])
            self.db.execute("DELETE FROM works WHERE id = ?", [work_id])
        return 1

    def add_related(self, links):
        """Store links between PMIDs that an elink response asserts (related, cited_by, ...)."""
        rows = [{"from_scheme": "pmid", "from_id": link["from"], "relation": link["relation"],
                 "to_scheme": link["scheme"], "to_id": link["target"], "score": link["score"],
                 "asserted_by": self.source + "-elink"} for link in links]
        with self.db.atomic():
            known = self.work_ids_by("pmid", [row["from_id"] for row in rows])
            for row in rows:
                row["from_work_id"] = known.get(row["from_id"])
            self.add_links(rows)
        return len(rows)
