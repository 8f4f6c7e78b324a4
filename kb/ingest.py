"""Getting records into a KB: loading files from disk and running live harvests, resumably."""

import contextlib
import datetime as dt
import functools
import hashlib
import io
import itertools
import json
import os
import socket
import zipfile
import zlib
from pathlib import Path

from harvest import crossref, ctgov, europepmc, library, limits, openalex, portal, pubmed
from harvest.errors import HarvestError, ParseError

from .db import inputs_kept, inputs_of, insert_rows, names_indexed, pragma_meanwhile
from .institutions import institution_id
from .load import LoadStats, WorkLoader, link_row, now
from .trials import TrialLoader

TAIL_BYTES = 65536
REFRESH_PAGE_CACHE_KIB = 8192


def refresh(db, everything=False, progress=None):
    """What a load or harvest changes beyond its records: affiliations' institutions, who is
    who among the authors, works and trials that may be one study, and the evidence tags
    and tables. Returns a summary.

    People are clustered again only in the blocks a load touched (new or reloaded works,
    affiliations now resolved to another institution) and profiled again where an
    institution's name changed; works and trials are tagged again only where their text
    changed. The result is the same as with everything=True, which does it all again, as
    the first refresh by another version of regenkb's code does.
    progress(label, items), if given, wraps the items of each long step as they are done."""
    # The digests of inputs say what derived rows were computed from, not how: rows kept by
    # other code than this (the KB's last refresh ran an older regenkb) are all computed again.
    everything = everything or inputs_of(db, "refresh").get("code") != code_digest()
    # The refresh reads the KB far more than it writes, with the operating system's file
    # cache under SQLite's: 8 MB of page cache instead of a load's 64 MB took its peak RSS
    # after a 20,000-record load from 394 to 268 MB, for 106 against 117 CPU s in one pair
    # of runs (24 MB: 120 s), within what runs of one setting differ by on this machine.
    with pragma_meanwhile(db, "cache_size", -REFRESH_PAGE_CACHE_KIB):  # negative: KiB
        summary = refreshed(db, everything, progress)
    with db.atomic():
        inputs_kept(db, "refresh", {"code": code_digest()})
    return summary


@functools.cache
def code_digest():
    """A digest of the source of kb's modules, which compute every derived row."""
    digest = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def refreshed(db, everything, progress):
    from . import authors, evidence, institutions, places, synthesis
    from .linking import link_studies

    before = institutions.snapshot(db)
    parts = [f"{institutions.resolve(db, count=False)} institution(s)"]
    moved, renamed = institutions.changed(before, institutions.snapshot(db))
    if located := places.located_trial_sites(db):
        parts.append(f"{located} trial site(s) placed at their city")
    occurrences, people = authors.resolve(db, everything=everything, blocks=authors.blocks_at(db, moved),
                                          progress=progress)
    if renamed and not everything:
        with db.atomic():
            authors.profile(db, authors.people_at(db, renamed))
    institutions.count_works(db, everything)  # its people are known now
    if occurrences:
        parts.append(f"{occurrences} author occurrence(s) clustered into {people} people")
    if db["trials"].count and db["works"].count:
        parts.append(f"{link_studies(db, progress=progress, everything=everything)} probably_same_study link(s) "
                     "between works and trials")
    summary = evidence.classify(db, everything=everything, progress=progress)
    parts.append(f"{summary['studies']} studies classified, {summary['on_topic']} on topic")
    pooled = synthesis.synthesize(db, everything=everything)
    parts.append(f"{pooled['safety']} safety figure(s) and {pooled['meta']} pooled outcome(s) synthesised")
    return "; ".join(parts)


def refuse_binary(handle, origin):
    """JSON, XML, CSV and HTML in UTF-8 hold no NUL byte: a file that does (zeros, a gzip
    bomb of them, random bytes) is refused from its head, never read on."""
    head = handle.peek(8192)[:8192]
    if b"\0" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs too
        raise LoadError(f"{origin}: binary data (NUL bytes in its first 8 KB), not a payload of any source")


def bounded(handle, origin):
    """The rest of a payload read whole, refused past limits.PAYLOAD_BYTES."""
    try:
        return limits.read_bounded(handle, origin)
    except ValueError as error:
        raise LoadError(str(error)) from None


@contextlib.contextmanager
def opened(path):
    """pubmed.open_payload, with damage to a compressed file raised as a LoadError naming it."""
    try:
        with pubmed.open_payload(path) as handle:
            yield handle
    except pubmed.DamagedFile as error:
        raise LoadError(str(error)) from error


class LoadError(Exception):
    """A file could not be loaded (fully); the message names the file and what was wrong."""


def load_pubmed_file(db, path, batch_size=1000):
    """Load one PubMed file: efetch XML, a baseline/update .xml(.gz), esummary or elink output.

    Returns (LoadStats, note). A file that is no E-utilities payload, an error body or an
    XML document cut short raises LoadError, after every good record in it has been stored
    and the fault quarantined.
    """
    loader = WorkLoader(db, pubmed.SOURCE)
    origin = str(path)
    with opened(path) as handle:
        head = handle.read(8192)
        if head.lstrip().startswith(b"{"):
            head += bounded(handle, origin)  # JSON payloads are small and sniffed whole
        kind = pubmed.sniff(head)
        if kind not in ("esearch", "esummary", "elink", "efetch"):
            # Known from its head: /dev/zero or a 1 GB error page is never read to its end.
            raise LoadError(f"{origin}: not a PubMed E-utilities payload: {pubmed.error_message(head[:4096])}")
        data = head if kind == "efetch" else head + bounded(handle, origin)
    if kind == "efetch":
        from .bulk import file_items

        stats = loader.load(with_file_tail(file_items(path), path), origin, batch_size=batch_size)
        if stats.fatal:
            raise LoadError(f"{stats.fatal} ({stats.loaded} good record(s) before it were loaded; "
                            "the fault is in the quarantine table)")
        return stats, None
    if kind not in ("esearch", "esummary", "elink"):
        raise LoadError(f"{origin}: not a PubMed E-utilities payload: {pubmed.error_message(data)}")
    try:
        if kind == "esearch":
            result = pubmed.parse_esearch(data, origin)
            return LoadStats(), (f"an esearch result ({result.count} hit(s), {len(result.ids)} id(s) listed) "
                                 "holds ids, not records; fetch them with `kb harvest pubmed`")
        if kind == "esummary":
            records = pubmed.parse_esummary(data, origin)
            # A summary stored before byte for byte is read again from its stored record: what an
            # older regenkb made of it (a JSON date with sortpubdate's made-up day, no vernacular
            # title) is made again. An answer holds at most 10,000 summaries (esummary's retmax).
            again = loader.stored_unchanged(records)
            stats = loader.load(records, origin, batch_size)
            if again:
                with db.atomic():
                    loader.rebuild(again)
            return stats, None
        shared = pubmed.shared_link_sets(data, origin)
        withdrawn = loader.withdraw_shared(shared)
        count = loader.add_related(pubmed.parse_elink(data, origin))
        note = f"{count} link(s) between PMIDs stored"
        if shared:
            note += (f"; {len(shared)} LinkSet(s) of PMIDs asked for together ("
                     + "; ".join(", ".join(ids) for ids, _ in shared) + ") stored no link: elink links such a "
                     "set as a whole, not any one PMID of it (ask with one id= per PMID)")
        if withdrawn:
            note += f"; {withdrawn} link(s) an older regenkb had drawn from them withdrawn"
        return LoadStats(), note
    except ParseError as error:
        raise LoadError(str(error)) from error
    except Exception as error:  # noqa: BLE001 - a malformed payload, whatever the parser raised
        raise LoadError(f"{origin}: malformed or truncated {kind} payload: {error!r}"[:500]) from error


WORK_SOURCES = {"openalex": openalex, "europepmc": europepmc, "crossref": crossref}


def load_works_file(db, source, path, batch_size=1000):
    """Load one OpenAlex, Europe PMC or Crossref file (any answer of its API, as saved, or an
    OpenAlex snapshot part: JSON Lines, gzipped or not).

    Returns (LoadStats, note). Works join the works other sources already describe; an
    error body (a 404 page, an errorBean) raises LoadError naming the file. A snapshot part
    streams in batches (parts hold up to a few GB): a bad line is quarantined under its
    number and the rest load; damaged compression raises LoadError after the works before it."""
    origin = str(path)
    with opened(path) as handle:
        refuse_binary(handle, origin)
        lines = limits.lines(handle)
        head = list(itertools.islice(lines, 2))
        streamed = source == "openalex" and openalex.json_lines(head)
        if streamed:
            meta = {"entities": []}
            works = openalex.parse_lines(itertools.chain(head, lines), origin, meta["entities"])
            stats = WorkLoader(db, source).load(with_file_tail(works, path), origin, batch_size=batch_size)
        elif any(isinstance(line, limits.TooLong) for line in head):
            raise LoadError(f"{origin}: a line longer than {limits.RECORD_BYTES // limits.MB} MB, the limit for one "
                            "record or one-line payload (REGENKB_MAX_RECORD_MB raises it)")
        else:
            data = b"".join(head) + bounded(handle, origin)
    if not streamed:
        items, meta = WORK_SOURCES[source].parse_payload(data, origin)
        items = stored_references(db, source, items, origin)
        stats = WorkLoader(db, source).load(items, origin, batch_size=batch_size)
    if stats.fatal:
        raise LoadError(stats.fatal + (f" ({stats.loaded} good record(s) before it were loaded; the fault is "
                                       "in the quarantine table)" if stats.loaded else ""))
    note = None
    entities = meta.get("entities") or []
    if entities:
        institutions = store_institutions(db, entities)
        kinds = sorted({e["kind"] for e in entities})
        note = (f"{len(institutions)} institution(s) stored; " if institutions else "") + \
            f"{len(entities)} {'/'.join(kinds)} entit(ies) in the file, not works"
    return stats, note


def load_portal_page(db, data, url):
    """Load one record page (saved HTML or fetched bytes) and stubs of its related documents.

    Returns (LoadStats, related entries). A page that is no record page, or lacks a title or
    authors, raises LoadError naming the URL; the page is kept in the quarantine table."""
    items, related = portal.parse_payload(data, url)
    stats = WorkLoader(db, portal.SOURCE).load(items, url)
    if stats.fatal:
        raise LoadError(stats.fatal)
    return stats, related


def harvest_portal(db, crawler, url, depth=0, max_pages=50, progress=lambda url, outcome: None):
    """Crawl record pages from `url` and load each; returns (pages loaded, pages quarantined,
    pages skipped). A page that failed to come is skipped and reported through `progress`; a
    run after it fetches what is missing, and pages already loaded merge into themselves."""
    loaded = quarantined = skipped = 0
    for page_url, data, problem in crawler.crawl(url, depth, max_pages):
        if problem:
            skipped += 1
            progress(page_url, f"skipped, {problem}")
            continue
        try:
            stats, related = load_portal_page(db, data, page_url)
        except LoadError as error:
            quarantined += 1
            progress(page_url, f"error: {error}")
            continue
        loaded += 1
        progress(page_url, f"{stats.added} added, {stats.updated} merged or updated; {len(related)} related document(s)")
    return loaded, quarantined, skipped


def store_institutions(db, entities):
    """Keep the institutions among OpenAlex entities (ROR, country, coordinates); returns them."""
    institutions = [{"id": institution_id(e["ror"], e["openalex_id"]), "fetched_from": "openalex",
                     **{key: e[key] for key in ("openalex_id", "ror", "name", "country", "type", "city",
                                                "latitude", "longitude")}}
                    for e in entities if e["kind"] == "institution"]
    with db.atomic():
        db["institutions"].upsert_all(institutions, pk="id")
        names_indexed(db, "institutions", [row["id"] for row in institutions])
    return institutions


def load_ctgov_file(db, path, batch_size=1000):
    """Load one ClinicalTrials.gov file: v2 study or /studies page, classic-API (v1) JSON, legacy
    clinical_study XML, legacy RSS feed or CSV export (legacy or current site), or a ZIP of
    study files. Returns LoadStats; a file of no known format, or cut short, raises LoadError
    after the good studies in it are stored."""
    with opened(path) as handle:
        if handle.peek(4)[:4] == b"PK\x03\x04":  # a ZIP is binary: told by its magic before refuse_binary
            return load_ctgov_zip(db, path, batch_size)
        refuse_binary(handle, str(path))
        data = bounded(handle, str(path))
    items, _ = ctgov.parse_payload(data, str(path))
    stats = TrialLoader(db, ctgov.SOURCE).load(items, str(path), batch_size=batch_size)
    if stats.fatal:
        raise LoadError(f"{stats.fatal} ({stats.loaded} good stud(ies) loaded; the fault is in the quarantine table)")
    return stats


def load_ctgov_zip(db, path, batch_size=1000):
    """Load every study file in a ZIP (legacy clinical_study XML files, or v2 JSON files), one
    member at a time. A member that is binary, expands past its limit (limits.ZIP_RATIO, RECORD_BYTES)
    or is no study is quarantined under its name and the rest load; an archive of more than
    limits.ZIP_MEMBERS files is refused unread."""
    origin = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise LoadError(f"{origin}: a damaged ZIP archive: {error}") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > limits.ZIP_MEMBERS:
            raise LoadError(f"{origin}: {len(members)} files in the archive, more than {limits.ZIP_MEMBERS}, the "
                            "limit for one ZIP (REGENKB_MAX_ZIP_MEMBERS raises it)")
        stats = TrialLoader(db, ctgov.SOURCE).load(zip_studies(archive, members, origin), origin, batch_size)
    if stats.fatal:
        raise LoadError(f"{stats.fatal} ({stats.loaded} good stud(ies) loaded; the fault is in the quarantine table)")
    return stats


def zip_studies(archive, members, origin):
    """The trial records (and ParseErrors) of each member of a ZIP, read one at a time."""
    for info in members:
        where = f"{origin}:{info.filename}"
        limit = min(limits.RECORD_BYTES, max(info.compress_size * limits.ZIP_RATIO, limits.MB))
        try:
            with archive.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as error:
            data, problem = b"", f"cannot be read from the archive: {error}"
        else:
            problem = (f"expands past {limit // limits.MB or 1} MB ({limits.ZIP_RATIO} times its compressed size, "
                       f"or REGENKB_MAX_RECORD_MB): set aside unread" if len(data) > limit else
                       "binary data, not a study record" if b"\0" in data[:8192] else None)
        if problem:
            yield ParseError(problem, source=ctgov.SOURCE, origin=where, raw=data[:8192])
            continue
        for item in ctgov.parse_payload(data, where)[0]:
            if isinstance(item, ParseError):
                item.fatal = False  # one member's fault, not the archive's
            yield item


def load_library_file(db, path, batch_size=1000):
    """Load a researcher's own reference file: BibTeX or BibLaTeX, RIS, CSL-JSON (Zotero's,
    citeproc's, our .csljson export), Zotero API JSON or EndNote XML, told apart by content.

    Returns (LoadStats, note). Entries merge with the works the KB holds like any source's
    records (kb.merge ranks `library` last); a broken entry is quarantined with its file and
    line, and the rest load. A file of no library format raises LoadError."""
    origin = str(path)
    with opened(path) as handle:
        refuse_binary(handle, origin)
        data = bounded(handle, origin)
    items, meta = library.parse_payload(data, origin)
    loader, stats = WorkLoader(db, library.SOURCE), LoadStats()
    for entries in in_rounds(items):
        stats += loader.load(entries, origin, batch_size=batch_size)
    if stats.fatal:
        raise LoadError(stats.fatal)
    with db.atomic():
        insert_rows(db, "library_entries", meta["entries"])
    return stats, f"{len(meta['entries'])} {meta['format']} entr(ies)"


def in_rounds(items):
    """A file's entries in rounds in which no two share a DOI, PMID, PMCID or title. A record
    is matched with the works stored before its batch, so the same paper twice in one file (a
    Zotero and a Persian index's copy, two exports pasted together) merges in the next round
    instead of becoming two works."""
    from .merge import title_key

    rounds, seen = [], {}
    for item in items:
        keys = [] if isinstance(item, ParseError) else [
            (field, item[field]) for field in ("doi", "pmid", "pmcid") if item[field]] + [
            ("title", title_key(item["title"]))]
        number = max((seen.get(key, 0) for key in keys), default=0)
        seen.update((key, number + 1) for key in keys)
        if number == len(rounds):
            rounds.append([])
        rounds[number].append(item)
    return rounds


def with_file_tail(items, path):
    """Give a fatal fault the raw bytes where it happened: the (decompressed) tail of the file."""
    for item in items:
        if getattr(item, "fatal", False) and not item.raw:
            tail = b""
            with contextlib.suppress(pubmed.DamagedFile), pubmed.open_payload(path) as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    tail = (tail + chunk)[-TAIL_BYTES:]
            item.raw = tail
        yield item


class HarvestBusy(Exception):
    """Another live process is running the same harvest into this KB."""


def start_run(db, source, query):
    """A harvest run for (source, query): the interrupted one to resume, or a new one.

    Returns (run_id, resume_state, since); since is the start date of the last finished run
    of the same query, so a new run fetches only records modified after it. A run still
    held by a live process on this machine is not taken over: HarvestBusy says whose it is.
    The check and the claim are one IMMEDIATE transaction, so two processes cannot both
    take the same run.
    """
    if db.conn.in_transaction:
        db.conn.commit()  # so atomic() begins a transaction of its own, with the write lock
    with db.atomic():
        interrupted = db.execute(
            "SELECT id, state, pid, host, started_at FROM harvest_runs WHERE source = ? AND query = ? "
            "AND status = 'running' ORDER BY id DESC LIMIT 1", [source, query]).fetchone()
        if interrupted:
            run_id, state, pid, host, started_at = interrupted
            if pid and pid != os.getpid() and (host != socket.gethostname() or alive(pid)):
                raise HarvestBusy(f"another harvest of {source} {query!r} is running (process {pid} on {host}, "
                                  f"started {started_at}); wait for it to finish, or stop it and run this "
                                  "command again to resume where it stopped")
            db.execute("UPDATE harvest_runs SET pid = ?, host = ? WHERE id = ?",
                       [os.getpid(), socket.gethostname(), run_id])
            return run_id, json.loads(state) if state else None, None
        finished = db.execute(
            "SELECT started_at FROM harvest_runs WHERE source = ? AND query = ? AND status = 'done' "
            "ORDER BY id DESC LIMIT 1", [source, query]).fetchone()
        since = dt.datetime.fromisoformat(finished[0]).date() if finished else None
        run_id = db.execute(
            "INSERT INTO harvest_runs (source, query, started_at, status, state, pages, records_loaded, pid, host) "
            "VALUES (?, ?, ?, 'running', NULL, 0, 0, ?, ?)",
            [source, query, now(), os.getpid(), socket.gethostname()]).lastrowid
        return run_id, None, since


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def harvest_pubmed(db, term, client, progress=lambda stats, page: None):
    """Harvest PubMed for `term` into db: resume an interrupted run, else fetch what changed since the last."""
    return run_harvest(db, pubmed.SOURCE, term, WorkLoader(db, pubmed.SOURCE),
                       lambda since, state: client.harvest(term, since=since, state=state),
                       lambda page: list(pubmed.iter_articles(io.BytesIO(page.data), page.origin)), progress)


def harvest_ctgov(db, client, condition=None, intervention=None, term=None, progress=lambda stats, page: None):
    """Harvest ClinicalTrials.gov studies matching the query into db, resumably and incrementally."""
    query = json.dumps({"condition": condition, "intervention": intervention, "term": term}, sort_keys=True)
    return run_harvest(db, ctgov.SOURCE, query, TrialLoader(db, ctgov.SOURCE),
                       lambda since, state: client.harvest(condition, intervention, term, since=since, state=state),
                       lambda page: ctgov.parse_payload(page.data, page.origin)[0], progress)


def fetch_ctgov_studies(db, client, nct_ids):
    """Fetch single studies (GET /studies/{nctId}) and load them; returns LoadStats."""
    loader = TrialLoader(db, ctgov.SOURCE)
    stats = LoadStats()
    for nct_id in nct_ids:
        origin = f"ctgov /studies/{nct_id}"
        stats += loader.write_batch(ctgov.parse_payload(client.study(nct_id), origin)[0], origin)
    return stats


def harvest_works(db, source, client, query, progress=lambda stats, page: None, **options):
    """Harvest OpenAlex, Europe PMC or Crossref works matching `query` into db, resumably and
    incrementally; the works join those other sources already describe."""
    parse = WORK_SOURCES[source].parse_payload
    key = json.dumps({"query": query, **options}, sort_keys=True)
    return run_harvest(db, source, key, WorkLoader(db, source),
                       lambda since, state: client.harvest(query, since=since, state=state, **options),
                       lambda page: stored_references(db, source, parse(page.data, page.origin)[0], page.origin),
                       progress)


def europepmc_citation_links(db, client, progress=lambda note: None):
    """Fetch /citations of every Europe PMC record in the KB as cited_by links, and its
    /references as its reference list, every entry in order (with its identifiers also as
    cites links); a record kept as Dublin Core has no list to hold them and takes the cites
    links alone. Returns how many links and references were stored."""
    loader = WorkLoader(db, europepmc.SOURCE)
    total = 0
    for (source_id,) in db.execute("SELECT source_id FROM records WHERE source = 'europepmc'").fetchall():
        source, _, identifier = source_id.partition(":")
        raw = zlib.decompress(db.execute("SELECT raw FROM records WHERE source = 'europepmc' AND source_id = ?",
                                         [source_id]).fetchone()[0])
        cited = client.related(source, identifier, "references")
        listed = europepmc.can_list_references(raw)
        related = [("cited_by", entry) for entry in client.related(source, identifier, "citations")]
        if not listed:
            related += [("cites", entry) for entry in cited]
        links = [link_row(from_scheme="europepmc", from_id=source_id, relation=relation, to_scheme=found[0],
                          to_id=found[1], asserted_by=europepmc.SOURCE + "-citations")
                 for relation, entry in related for found in [europepmc.related_link(entry)] if found]
        with db.atomic():
            db.execute("DELETE FROM links WHERE asserted_by = ? AND from_id = ?",
                       [europepmc.SOURCE + "-citations", source_id])
            loader.add_links(links)
        if listed:
            origin = f"europepmc /{source}/{identifier}/references"
            loader.load([europepmc.with_references(raw, cited, origin)], origin)
        total += len(links) + (len(cited) if listed else 0)
        progress(f"{source_id}: {len(links)} citation link(s), {len(cited)} reference(s)")
    return total


def stored_references(db, source, items, origin):
    """Europe PMC records as harvested or loaded again, each with the reference list
    `europepmc_citation_links` gave its stored version (a /search answer carries none);
    other sources' items as they are."""
    if source != europepmc.SOURCE:
        return items
    kept = []
    for item in items:
        if isinstance(item, dict) and not item["references"] and europepmc.can_list_references(item["raw"]):
            row = db.execute("SELECT raw FROM records WHERE source = 'europepmc' AND source_id = ?",
                             [item["source_id"]]).fetchone()
            stored = zlib.decompress(row[0]) if row else b""
            if europepmc.can_list_references(stored) and b'"referenceList"' in stored:
                item = europepmc.with_references(item["raw"], json.loads(stored)["referenceList"]["reference"],
                                                 origin)
        kept.append(item)
    return kept


def run_harvest(db, source, query, loader, pages, parse, progress):
    """Run a live harvest: resume an interrupted run of the same query, else fetch what changed
    since the last finished one.

    Each page's records and the run's state after it are written in one transaction, so a
    run killed at any point resumes where it stopped.
    """
    run_id, state, since = start_run(db, source, query)
    stats = LoadStats()
    try:
        for page in pages(since, state):
            stats += loader.write_batch(parse(page), page.origin, run_state=(run_id, page.state))
            progress(stats, page)
    except HarvestError as error:
        # The run stays 'running' with its last state, so the next run resumes it.
        with db.atomic():
            db["harvest_runs"].update(run_id, {"error": str(error)})
        raise
    with db.atomic():
        db["harvest_runs"].update(run_id, {"status": "done", "finished_at": now(), "error": None})
    return stats
