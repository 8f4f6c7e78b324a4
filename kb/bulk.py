"""Loading PubMed baseline and update files in bulk: parsing in worker processes, writing
through one writer, file by file, resumably.

A file is cut into chunks of whole top-level elements (<PubmedArticle>,
<PubmedBookArticle>, <DeleteCitation>), each wrapped as a small PubmedArticleSet, so a
worker parses a chunk with the same `pubmed.iter_articles` as a single-process load.
Results come back in file order and the writer applies them in that order, so update
files' revisions and deletions land exactly as they would one by one. A file loaded to
its end is recorded in `loaded_files` and skipped next time. Workers also filter to a
topic and prepare each record for the writer; `fast_load` is the `--fast` bulk mode.
docs/scale.md has the measured figures and what bounds them.
"""

import contextlib
import functools
import gc
import io
import os
import re
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from harvest import pubmed

from .classify import Vocabulary, record_on_topic
from .db import indexes_deferred
from .load import LoadStats, WorkLoader, now, prepare

CHUNK = 500  # elements per chunk: big enough to amortise pickling, small enough to stream
ELEMENT_END = re.compile(rb"</(PubmedArticle|PubmedBookArticle|DeleteCitation)>")
SET_START, SET_END = b"<PubmedArticleSet>\n", b"\n</PubmedArticleSet>\n"
READ = 1 << 22


def chunks(path, size=CHUNK):
    """The file's top-level elements, `size` at a time, as small PubmedArticleSet documents.
    A tail with no closing tag (a file cut short) is passed on whole: its parser then
    reports the truncation."""
    with pubmed.open_payload(path) as handle:
        buffer, started, count, pending = b"", False, 0, []
        while True:
            block = handle.read(READ)
            buffer += block
            if not started:
                at = buffer.find(b"<PubmedArticleSet")
                if at < 0:
                    if not block:
                        yield buffer  # not a set at all: let the parser say so
                        return
                    continue
                buffer = buffer[buffer.index(b">", at) + 1:]
                started = True
            cut = 0
            for match in ELEMENT_END.finditer(buffer):
                pending.append(buffer[cut:match.end()])
                cut = match.end()
                count += 1
                if count == size:
                    yield SET_START + b"".join(pending) + SET_END
                    pending, count = [], 0
            buffer = buffer[cut:]
            if not block:
                break
        # What follows the last element: the set's end tag, or a record cut short (then the
        # chunk stays unclosed and its parser reports where the file broke off).
        tail = buffer.replace(b"</PubmedArticleSet>", b"").strip()
        if pending or tail:
            yield SET_START + b"".join(pending) + (tail or SET_END)


def parse_chunk(task):
    """In a worker: (every record, Deletion and ParseError of one chunk, how many records the
    topic filter dropped). With a topic (a vocabulary folder), only records on it are kept;
    with build_rows, each record carries the rows of its work, built ahead (`load.prepare`)."""
    data, origin, topic, build_rows = task
    vocabulary = topic and vocabulary_at(topic)
    kept, dropped = [], 0
    for item in pubmed.iter_articles(io.BytesIO(data), origin):
        if isinstance(item, dict):
            if vocabulary and not record_on_topic(vocabulary, item):
                dropped += 1
                continue
            prepare(item, pubmed.SOURCE, build_rows)  # in parallel here, rather than in the one writer
        kept.append(item)
    return kept, dropped


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
                    ("registry_ids", ["accession"])]


@contextlib.contextmanager
def fast_load(db):
    """`--fast`: a load that builds most of the KB and can be redone from its files. No
    fsync and a 1 GB page cache; the secondary indexes in DEFERRED_INDEXES are built after
    the load, and the full-text index's segments merged once at its end rather than while it
    runs. Worth it when the load brings more records than the KB holds; on a large KB a
    small update is quicker without (rebuilding an index re-sorts the whole table). A load
    killed half way leaves the indexes to the next open of the KB, which rebuilds them."""
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1000000")
    db.execute("INSERT INTO works_fts(works_fts, rank) VALUES ('automerge', 0)")
    try:
        with indexes_deferred(db, DEFERRED_INDEXES):
            yield
    finally:
        db.execute("INSERT INTO works_fts(works_fts, rank) VALUES ('automerge', 4)")
        db.execute("INSERT INTO works_fts(works_fts) VALUES ('optimize')")
        db.execute("PRAGMA synchronous = NORMAL")


def already_loaded(db, path, size, mtime, topic=None):
    """Whether this file, as it is now, was loaded to its end (under the same topic filter)."""
    row = db.execute("SELECT size, mtime, topic FROM loaded_files WHERE path = ?",
                     [str(Path(path).resolve())]).fetchone()
    return row is not None and row == (size, mtime, topic)


def load_stream(db, loader, origin, size, mtime, batches, topic=None):
    """Write one file's (items, off-topic count) batches in order; a file that ended well is
    recorded in loaded_files. Returns the file's LoadStats."""
    stats = LoadStats()
    for items, off_topic in batches:
        batch = loader.write_batch(items, origin)
        batch.off_topic = off_topic
        stats += batch
    if not stats.fatal:
        with db.atomic():
            db["loaded_files"].insert({"path": str(Path(origin).resolve()), "size": size, "mtime": mtime,
                                       "records": stats.loaded, "loaded_at": now(), "topic": topic}, replace=True)
    return stats


def load_files(db, paths, workers=1, again=False, topic=None, progress=lambda path, stats, note: None):
    """Load PubMed files in order with `workers` parsing processes; returns total LoadStats.
    Files recorded as fully loaded (same size and time) are skipped unless `again`. With
    `topic` (a vocabulary folder) only records on its topic are written; deletions all apply."""
    loader = WorkLoader(db, pubmed.SOURCE)
    total = LoadStats()
    topic = topic and str(Path(topic).resolve())
    # Rows built in a worker cost the sending on top of the building. That pays when the
    # writer has a core of its own and is the bottleneck; when the workers take every core,
    # the writer building them itself is cheaper overall.
    build_rows = 1 < workers < (os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, initializer=collect_less) if workers > 1 else _InProcess() as pool, \
            fewer_collections():
        for path in paths:
            stat = os.stat(path)
            if not again and already_loaded(db, path, stat.st_size, int(stat.st_mtime), topic):
                progress(path, LoadStats(), "already loaded (use --again to load it again)")
                continue
            tasks = ((chunk, str(path), topic, build_rows) for chunk in chunks(path))
            stats = load_stream(db, loader, str(path), stat.st_size, int(stat.st_mtime),
                                in_order(pool, parse_chunk, tasks, 2 * workers), topic)
            total += stats
            progress(path, stats, stats.fatal)
    return total


def in_order(pool, function, tasks, window):
    """function(task) for each task, computed by the pool with at most `window` tasks in
    flight (Executor.map would read the whole file ahead), results in task order."""
    pending = deque()
    for task in tasks:
        pending.append(pool.submit(function, task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class _InProcess:
    """The executor interface, in this process: one worker needs no pool."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, function, task):
        future = Future()
        future.set_result(function(task))
        return future
