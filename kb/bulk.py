"""Loading PubMed baseline and update files in bulk: parts of each file loaded into part KBs
by worker processes, copied in by one writer, file by file, resumably.

A file is cut into chunks of whole top-level elements (<PubmedArticle>,
<PubmedBookArticle>, <DeleteCitation>), each wrapped as a small PubmedArticleSet, so a
worker parses a chunk with the same `pubmed.iter_articles` as a single-process load.
Workers load PART chunks at a time into part KBs (kb.parts), filtered to a topic if asked;
the writer copies them in file order, or writes a part directly when it meets what the KB
holds, so update files' revisions and deletions land exactly as they would one by one. A
file loaded to its end is recorded in `loaded_files` and skipped next time; `fast_load` is
the `--fast` bulk mode. docs/scale.md has the measured figures and what bounds them.
"""

import contextlib
import functools
import gc
import io
import itertools
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

from harvest import limits, pubmed
from harvest.errors import ParseError

from . import parts
from .classify import Vocabulary, record_on_topic
from .db import file_of, indexes_deferred, pragma_meanwhile
from .ingest import alive
from .load import LoadStats, WorkLoader, now, prepare

CHUNK = 4 << 20  # bytes of XML per chunk (hundreds of records): one write batch each
PART = 4  # chunks per part KB: small enough that the last part's copy is a short tail
PIPELINE_WINDOW = 2  # pieces in flight to the parsing process: one parsed while the writer writes another
ELEMENT_STARTS = (b"<PubmedArticle>", b"<PubmedArticle ", b"<PubmedBookArticle", b"<DeleteCitation")
ELEMENT_ENDS = (b"</PubmedArticle>", b"</PubmedBookArticle>", b"</DeleteCitation>")
SET_START, SET_END = b"<PubmedArticleSet>\n", b"\n</PubmedArticleSet>\n"
DAMAGE_MARK = b"<!-- the compressed file is damaged here -->"
LONGEST_TAG = max(map(len, ELEMENT_STARTS))


def chunks(path, record_limit=None):
    """The file's top-level elements as small PubmedArticleSet documents of about CHUNK
    bytes each (with the file's DOCTYPE, so that entities its internal subset declares stay
    declared). Whitespace between elements is dropped as it comes. An element longer than
    `record_limit` (limits.RECORD_BYTES) is not read into memory: it comes as a ParseError
    and the file goes on at the next element. A tail with no closing tag (a file cut short)
    is passed on whole: its parser then reports the truncation."""
    limit = record_limit or limits.RECORD_BYTES
    origin = str(path)
    with pubmed.open_payload(path) as handle:
        buffer, start, skipping = b"", None, False
        while True:
            try:
                block = handle.read1(CHUNK)  # one read: the bytes before damage come out
            except pubmed.DamagedFile:
                # What decompressed before the damage loads; the tail stays unclosed, so
                # that its parser reports the file as cut short there.
                block, buffer = b"", buffer + DAMAGE_MARK
            buffer += block
            if start is None:
                at = buffer.find(b"<PubmedArticleSet")
                opened = buffer.find(b">", at) if at >= 0 else -1
                if opened < 0:
                    if not block or len(buffer) > limit:
                        yield buffer[:limit]  # not a set at all: let the parser say so
                        return
                    continue
                start = doctype_of(buffer[:at]) + SET_START
                buffer = buffer[opened + 1:]
            if skipping:  # the rest of an element too long to read
                rest = after_next_element_start(buffer)
                skipping = rest is None
                buffer = buffer[-LONGEST_TAG:] if skipping else rest  # a start tag may span two blocks
            if not skipping:
                buffer = buffer.lstrip()
                cut = last_element_end(buffer)
                if cut:
                    yield start + buffer[:cut] + SET_END
                    buffer = buffer[cut:].lstrip()
                elif len(buffer) > limit:
                    yield oversized_element(buffer, origin, limit)
                    rest = after_next_element_start(buffer[1:])
                    skipping = rest is None
                    buffer = buffer[-LONGEST_TAG:] if skipping else rest
            if not block:
                break
        # What follows the last element: the set's end tag, or a record cut short (then the
        # chunk stays unclosed and its parser reports where the file broke off).
        tail = buffer.replace(b"</PubmedArticleSet>", b"").strip()
        if tail and not skipping:
            yield start + tail


def doctype_of(prolog):
    """The DOCTYPE of a file's prolog when it declares entities (an internal subset), else b""."""
    at = prolog.find(b"<!DOCTYPE")
    return prolog[at:] if at >= 0 and b"[" in prolog[at:] else b""


def after_next_element_start(buffer):
    """The buffer from its first top-level element start tag on, or None (keep skipping)."""
    found = [at for tag in ELEMENT_STARTS if (at := buffer.find(tag)) >= 0]
    return buffer[min(found):] if found else None


def oversized_element(buffer, origin, limit):
    pmid = re.search(rb"<PMID[^>]*>\s*(\d+)", buffer[:1 << 16])
    return ParseError(f"a record longer than {limit // limits.MB} MB, the limit for one record "
                      "(REGENKB_MAX_RECORD_MB raises it): set aside unread", source=pubmed.SOURCE, origin=origin,
                      record_id=pmid.group(1).decode() if pmid else None, raw=buffer[:1 << 16])


def last_element_end(buffer):
    """Where the buffer's last whole top-level element ends (0: no element ends in it)."""
    return max((at + len(end) for end in ELEMENT_ENDS if (at := buffer.rfind(end)) >= 0), default=0)


def elements_of(body):
    """The top-level elements of a chunk's body, each with what precedes it."""
    at = 0
    while True:
        ends = [end + len(tag) for tag in ELEMENT_ENDS if (end := body.find(tag, at)) >= 0]
        if not ends:
            return
        yield body[at:min(ends)]
        at = min(ends)


def file_items(path):
    """Every record, Deletion and ParseError of a PubMed file, chunk by chunk (the
    one-process load of `ingest.load_pubmed_file`)."""
    last_pmid = None
    for data in chunks(path):
        for item in chunk_items(data, str(path), last_pmid):
            last_pmid = item["pmid"] if isinstance(item, dict) else last_pmid
            yield item


def chunk_items(data, origin, after=None):
    """Every record, Deletion and ParseError of one chunk. When a whole chunk's XML breaks
    (an entity nobody declared, nesting past libxml2's depth limit), each of its elements is
    parsed on its own, so an odd record costs itself only; a chunk cut short stays fatal."""
    if isinstance(data, ParseError):
        return [data]
    items = list(pubmed.iter_articles(io.BytesIO(data), origin, after))
    if not (items and getattr(items[-1], "fatal", False)) or not data.endswith(SET_END):
        return items
    head = data[:data.index(SET_START) + len(SET_START)]
    items = []
    for element in elements_of(data[len(head):-len(SET_END)]):
        for item in pubmed.iter_articles(io.BytesIO(head + element + SET_END), origin):
            if getattr(item, "fatal", False):
                pmid = re.search(rb"<PMID[^>]*>\s*(\d+)", element)
                item = ParseError(item.args[0].replace("in the first record", "in this record"), source=item.source,
                                  origin=origin, record_id=pmid.group(1).decode() if pmid else None,
                                  raw=element.strip())
            items.append(item)
    return items


def parse_chunk(task):
    """(every record, Deletion and ParseError of one chunk, how many records the topic
    filter dropped). With a topic (a vocabulary folder), only records on it are kept."""
    data, origin, topic = task
    vocabulary = topic and vocabulary_at(topic)
    kept, dropped = [], 0
    for item in chunk_items(data, origin):
        if isinstance(item, dict):
            if vocabulary and not record_on_topic(vocabulary, item):
                dropped += 1
                continue
            prepare(item)  # in a parsing worker, rather than in the one writer
        kept.append(item)
    return kept, dropped


def chunk_batches(group, origin, topic):
    """The (items, off-topic count) batch of each of a file's chunks in `group`."""
    return (parse_chunk((data, origin, topic)) for data in group)


def load_part(task):
    """In a worker: load a group of a file's pieces into a part KB of its own."""
    batches_of, group, origin, path = task
    return parts.load_part(path, batches_of(group), origin, pubmed.SOURCE)


@functools.lru_cache(maxsize=4)
def vocabulary_at(folder):
    return Vocabulary(folder)


# Parsing and writing make millions of small dicts that live briefly and hold no cycles; at
# Python's default threshold (700) the collector runs every few records and takes a fifth
# of a bulk load's time.
THRESHOLD = (50_000, 20, 100)


@contextlib.contextmanager
def fewer_collections():
    old = gc.get_threshold()
    gc.set_threshold(*THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def collect_less():
    """A worker process's initializer: it runs under the bulk threshold for its life."""
    gc.set_threshold(*THRESHOLD)


# Secondary indexes a PubMed load writes but never reads: a bulk build drops them and sorts
# them once at the end, instead of updating each per row.
DEFERRED_INDEXES = [("works", ["year"]), ("works", ["journal"]), ("works", ["language"]), ("works", ["is_preprint"]),
                    ("works", ["oa_status"]), ("work_authors", ["author_id"]), ("work_authors", ["name_id"]),
                    ("work_author_affiliations", ["affiliation_id"]), ("work_mesh", ["mesh_id"]),
                    ("registry_ids", ["accession"]), ("links", ["from_trial_id"]), ("links", ["to_trial_id"]),
                    ("records", ["trial_id"])]


# A baseline file holds about one record per kilobyte gzipped, one per 4-5 KB of XML: one
# per 4 KB of file underestimates the records of either.
BYTES_PER_RECORD = 4096


def bulk_indexes_deferred(db, files):
    """DEFERRED_INDEXES dropped while FileToLoads that bring more records than the KB holds
    load, and sorted once at the end; kept through an incremental load, where rebuilding
    them would re-sort the whole KB for a few rows. A load killed half way leaves them to
    the next open of the KB, which builds them."""
    brings = sum(file.size for file in files) // BYTES_PER_RECORD
    holds = db.execute("SELECT coalesce(max(id), 0) FROM works").fetchone()[0]
    return indexes_deferred(db, DEFERRED_INDEXES) if brings > holds else contextlib.nullcontext()


@contextlib.contextmanager
def fast_load(db):
    """`--fast`: a load that builds most of the KB and can be redone from its files. No
    fsync, a rollback journal instead of WAL when no other connection has the KB open
    (`rollback_journal`) and a 1 GB page cache; the secondary indexes in DEFERRED_INDEXES
    are built after the load, and the full-text index's segments merged once at its end
    rather than while it runs. Worth it when the load brings more records than the KB
    holds; on a large KB a small update is quicker without (rebuilding an index re-sorts
    the whole table). A load killed half way leaves the indexes to the next open of the KB,
    which rebuilds them."""
    db.execute("PRAGMA synchronous = OFF")
    rollback_journal(db)
    db.execute("PRAGMA cache_size = -1000000")
    db.execute("INSERT INTO works_fts(works_fts, rank) VALUES ('automerge', 0)")
    try:
        with indexes_deferred(db, DEFERRED_INDEXES):
            yield
    finally:
        db.execute("INSERT INTO works_fts(works_fts, rank) VALUES ('automerge', 4)")
        db.execute("INSERT INTO works_fts(works_fts) VALUES ('optimize')")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")


# WAL pages a load's transactions gather before SQLite copies them into the file: 64 MB.
CHECKPOINT_PAGES = 16384


def fewer_checkpoints(db):
    """A load's batches each write several MB; at SQLite's default (1,000 pages, 4 MB) every
    commit copies the log into the file and syncs both, and on a busy disk those syncs were
    most of a load's wall time (a commit took 0.4 s on a busy machine, 0.08 s with this).
    Durability is that of synchronous=NORMAL in WAL at any threshold: a power cut may lose
    the batches since the last sync (now up to 64 MB of them), which a re-load writes again;
    the file is never corrupted."""
    return pragma_meanwhile(db, "wal_autocheckpoint", CHECKPOINT_PAGES)


def rollback_journal(db):
    """A bulk load mostly appends pages, which a rollback journal need not copy, where WAL
    writes every page twice (to the log, then back into the file). Leaving WAL needs the KB
    to itself: while another connection (a running server) has it open, WAL stays."""
    with pragma_meanwhile(db, "busy_timeout", 0):
        try:
            db.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.OperationalError:
            pass


def already_loaded(db, path, size, mtime, topic=None):
    """Whether this file, as it is now, was loaded to its end (under the same topic filter)."""
    row = db.execute("SELECT size, mtime, topic FROM loaded_files WHERE path = ?",
                     [str(Path(path).resolve())]).fetchone()
    return row is not None and row == (size, mtime, topic)


SKIPPED = "already loaded (use --again to load it again)"


class FileToLoad(NamedTuple):
    """One file of a bulk load: its origin, size, time and topic filter as loaded_files
    records them, its pieces (XML chunks, Parquet partition numbers), and batches_of(some
    pieces), which gives their (items, off-topic count) batches."""
    origin: str
    size: int
    mtime: int
    topic: str | None
    pieces: Iterable
    batches_of: Callable


def load_files(db, paths, workers=1, again=False, topic=None, progress=lambda path, stats, note: None):
    """Load PubMed files in order; returns total LoadStats and calls progress(path, stats,
    note) for each file (`files_loaded`)."""
    return total_of(files_loaded(db, paths, workers, again, topic), progress)


def total_of(reports, progress):
    """Call progress(origin, stats, note) for each (origin, stats, note) report; the total LoadStats."""
    total = LoadStats()
    for origin, stats, note in reports:
        total += stats
        progress(origin, stats, note)
    return total


def files_loaded(db, paths, workers=1, again=False, topic=None):
    """Load PubMed files in order: (path, LoadStats, note) for each file as it is done
    (`loaded_in_turn`). With `topic` (a vocabulary folder) only records on its topic are
    written; deletions all apply."""
    topic = topic and str(Path(topic).resolve())
    files = []
    for origin in map(str, paths):
        stat = os.stat(origin)
        files.append(FileToLoad(origin, stat.st_size, int(stat.st_mtime), topic, chunks(origin),
                                functools.partial(chunk_batches, origin=origin, topic=topic)))
    return loaded_in_turn(db, files, workers, again)


def loaded_in_turn(db, files, workers=1, again=False):
    """Load FileToLoads in order: (origin, LoadStats, note) for each as it is done. With
    `workers` above 1, parts of the files load into part KBs in that many processes and the
    one writer copies them in (kb.parts). A file recorded as fully loaded (same size, time
    and topic filter) is skipped unless `again`, and reported in its place; a file named
    twice loads once; a file loaded to its end is recorded in loaded_files."""
    files = {file.origin: file for file in files}
    todo = [file for file in files.values()
            if again or not already_loaded(db, file.origin, file.size, file.mtime, file.topic)]
    turns = deque(files)
    with fewer_collections(), fewer_checkpoints(db), bulk_indexes_deferred(db, todo), \
            PartPool(db, WorkLoader(db, pubmed.SOURCE), workers if todo else 1) as pool:
        for origin, stats in pool.written(todo):
            while turns[0] != origin:
                yield turns.popleft(), LoadStats(), SKIPPED
            turns.popleft()
            record_loaded(db, files[origin], stats)
            yield origin, stats, stats.fatal
    for origin in turns:
        yield origin, LoadStats(), SKIPPED


def record_loaded(db, file, stats):
    """A file whose load ended well (no fatal error) is recorded in loaded_files."""
    if not stats.fatal:
        with db.atomic():
            db["loaded_files"].insert({"path": str(Path(file.origin).resolve()), "size": file.size,
                                       "mtime": file.mtime, "records": stats.loaded, "loaded_at": now(),
                                       "topic": file.topic}, replace=True)


class PartPool:
    """Writes files' pieces (XML chunks, Parquet partitions) into the KB: directly with one
    worker; with more, through `workers` processes that load them, PART pieces at a time,
    into part KBs beside the KB, which the writer copies in (kb.parts)."""

    def __init__(self, db, loader, workers):
        self.db, self.loader, self.workers = db, loader, workers
        self.stack = contextlib.ExitStack()

    def __enter__(self):
        if self.workers > 1:
            beside = folder_of(self.db)
            remove_stale_parts(beside)
            self.pool = self.stack.enter_context(ProcessPoolExecutor(self.workers, initializer=collect_less))
            self.folder = self.stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"kb-parts-{os.getpid()}-", dir=beside))
        elif core_free():
            # One process parses the next pieces while this one writes: parsing is half a
            # load's time, and the writer then only builds and inserts rows.
            self.pool = self.stack.enter_context(ProcessPoolExecutor(1, initializer=collect_less))
        else:
            self.pool = None
        return self

    def __exit__(self, *exc):
        return self.stack.__exit__(*exc)

    def written(self, files):
        """Write FileToLoads in order: (origin, LoadStats) of each file once it is written.
        With workers, the parts of the next files load while this file's are copied in; a
        part that meets what the KB holds (`parts.copy_part`) is written here directly
        instead."""
        if self.workers == 1 and self.pool is None:
            for file in files:
                yield file.origin, self.loader.write_batches(file.batches_of(file.pieces), file.origin)
            return
        if self.workers == 1:
            yield from self.pipelined(files)
            return
        current, stats = None, LoadStats()
        for (batches_of, group, origin, path), part in in_order(self.pool, load_part, self.tasks(files),
                                                               2 * self.workers):
            if origin != current:
                if current is not None:
                    yield current, stats
                current, stats = origin, LoadStats()
            if parts.copy_part(self.db, self.loader, path):
                stats += part
            else:
                stats += self.loader.write_batches(batches_of(group), origin)
            Path(path).unlink()
        if current is not None:
            yield current, stats

    def pipelined(self, files):
        """Write the files' pieces as the one parsing process gives their batches, in order:
        the same batches, in the same transactions, as a load in one process."""
        # Each file opens with a task of no piece, so that a file with none is reported too.
        tasks = ((file.batches_of, piece, file.origin) for file in files
                 for piece in itertools.chain([None], ([piece] for piece in file.pieces)))
        current, stats = None, None
        for (_, group, origin), batches in in_order(self.pool, batches_of_piece, tasks, PIPELINE_WINDOW):
            if group is None:
                if stats is not None:
                    yield current, stats
                current, stats = origin, LoadStats()
            else:
                stats += self.loader.write_batches(batches, origin)
        if stats is not None:
            yield current, stats

    def tasks(self, files):
        """A part KB to load for every PART pieces of each file (an empty one for a file
        with none, so that every file is reported)."""
        number = itertools.count()
        for file in files:
            groups = in_groups(file.pieces, PART)
            for group in itertools.chain([next(groups, [])], groups):
                yield file.batches_of, group, file.origin, str(Path(self.folder) / f"part-{next(number)}.db")


def batches_of_piece(task):
    """In the parsing process: the (items, off-topic count) batches of a group of pieces
    (none for the task that opens a file)."""
    batches_of, group, _ = task
    if group is None:
        return []
    batches = list(batches_of(group))
    # The writer stores a prepared record's digest and compressed bytes, never its raw XML:
    # leaving it here halves the bytes pickled to the writer (25 KB a record to 13).
    for items, _ in batches:
        for item in items:
            if isinstance(item, dict) and "sha1" in item and "raw_zlib" in item:
                del item["raw"]
    return batches


def core_free():
    """Whether a second process beside this one would have a core of its own: this process
    may run on more than one CPU, and the machine leaves one idle. On a busy machine a
    parsing process only adds its pickling (about 0.3 ms a record on each side) to a load.

    The one-minute load average counts this process's own recent work: right after a load
    on two cores it says the machine is busy when nothing else runs. So a busy average is
    checked against how busy the cores are now, while this process waits."""
    cpus = len(os.sched_getaffinity(0))
    if cpus < 2:
        return False
    return os.getloadavg()[0] <= cpus - 1 or busy_cores_now() <= cpus - 1.5


def busy_cores_now(seconds=0.1):
    """How many cores the machine's processes keep busy over a moment (Linux's /proc/stat),
    or the one-minute load average where it cannot tell."""
    try:
        before = cpu_times()
        time.sleep(seconds)
        after = cpu_times()
    except (OSError, ValueError):
        return os.getloadavg()[0]
    spent = [b - a for a, b in zip(before, after)]
    if not sum(spent):
        return os.getloadavg()[0]
    idle = spent[3] + spent[4]  # idle and iowait
    return (os.cpu_count() or 1) * (1 - idle / sum(spent))


def cpu_times():
    """The machine's CPU time by state (user, nice, system, idle, iowait, ...), in ticks."""
    with open("/proc/stat") as stat:
        return [int(ticks) for ticks in stat.readline().split()[1:]]


def in_groups(pieces, size):
    """The pieces, `size` at a time."""
    iterator = iter(pieces)
    return iter(lambda: list(itertools.islice(iterator, size)), [])


def remove_stale_parts(folder):
    """Remove the part folders a killed load left (its process is gone); a running load's stay."""
    for stale in Path(folder or tempfile.gettempdir()).glob("kb-parts-*-*"):
        owner = stale.name.split("-")[2]
        if owner.isdigit() and not alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)


def folder_of(db):
    """The folder of the KB's file: part KBs go beside it, on the same disk (None: a KB in memory)."""
    file = file_of(db)
    return str(Path(file).parent) if file else None


def in_order(pool, function, tasks, window):
    """(task, function(task)) for each task, computed by the pool with at most `window`
    tasks in flight (Executor.map would read the whole file ahead), in task order."""
    pending = deque()
    for task in tasks:
        pending.append((task, pool.submit(function, task)))
        if len(pending) >= window:
            task, future = pending.popleft()
            yield task, future.result()
    while pending:
        task, future = pending.popleft()
        yield task, future.result()
