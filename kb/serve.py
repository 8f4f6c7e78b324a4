"""Serving a KB with Datasette, configured by datasette-metadata.json."""

import contextlib
import glob
import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

METADATA = Path(__file__).resolve().parent.parent / "datasette-metadata.json"
TEMPLATE_DATABASE = "regenkb"
# No facet suggestions: Datasette tries every column of a table on every table page and
# JSON request (250 ms a request on the evidence table); the useful facets are configured.
SETTINGS = {"sql_time_limit_ms": 3000, "default_page_size": 50, "facet_time_limit_ms": 500,
            "suggest_facets": False}


def metadata_for(db_file, debug_endpoints=False):
    """The metadata of datasette-metadata.json, applied to this KB whatever its file is called."""
    metadata = json.loads(METADATA.read_text())
    if debug_endpoints:
        metadata.setdefault("plugins", {}).setdefault("regenkb", {})["debug_endpoints"] = True
    databases = metadata.get("databases", {})
    stem = Path(db_file).stem
    if TEMPLATE_DATABASE in databases:
        databases[stem] = databases.pop(TEMPLATE_DATABASE)
    # The front page's links name the template database; point them at this one.
    metadata["description_html"] = metadata.get("description_html", "").replace(f"/{TEMPLATE_DATABASE}/", f"/{stem}/")
    return metadata


def datasette_for(db_file, immutable=False, cors=False, debug_endpoints=False, memory_map=False):
    """An in-process Datasette for a KB, as `kb serve` runs it: read-only (Datasette opens
    the file in read-only mode; immutable when asked), SQL cut at 3 s, CORS off unless asked,
    Datasette's debug pages (/-/databases, /-/threads, ...) hidden unless asked; permission
    checks and schema reads that cannot change are made once (datasette_app.py); an immutable KB
    is memory-mapped when asked (memory_map)."""
    from .datasette_app import ServedDatasette

    files = {"immutables" if immutable else "files": [str(db_file)]}
    return ServedDatasette(**files, metadata=metadata_for(db_file, debug_endpoints), settings=SETTINGS, cors=cors,
                           memory_map=memory_map)


# uvicorn's worker processes build the app by its import name; this carries serve()'s options to them.
OPTIONS_VARIABLE = "REGENKB_SERVE_OPTIONS"


def app_from_environment():
    return datasette_for(**json.loads(os.environ[OPTIONS_VARIABLE])).app()


def upgrade(db_file, immutable=False):
    """Give a KB an older regenkb made this version's schema, since Datasette opens it read-only.
    An immutable server reads the file alone, not its write-ahead log, and the log is folded into
    the file only when its last connection closes: while anything else holds the KB open (a
    benchmark's or a sqlite3 shell's connection), the new tables would stay in the log, and every
    search would fail with "no such table" (a 500). So for --immutable the log is folded in here."""
    from .db import open_db

    try:
        db = open_db(str(db_file))
    except ServedImmutable:
        return  # another server reads it unchanged, as this one then will
    try:
        if immutable and db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
            raise click.ClickException(f"{db_file} is being written by another process, so it cannot be served as "
                                       "immutable yet: wait for that process to finish, or serve it without --immutable")
    finally:
        db.close()


def serve(db_file, host, port, immutable=False, cors=False, workers=1, debug_endpoints=False):
    import uvicorn

    # Read ahead, a KB is in the file cache, and mapped it is read from there in place (a table
    # search's count and facets over 50,000 matches took half the time); mapped and not cached, each
    # page it touched was read with the 8 MB around it (the disk's read-ahead), so a bigger KB is not.
    cached = read_ahead(db_file) is not None
    os.environ[OPTIONS_VARIABLE] = json.dumps({"db_file": str(db_file), "immutable": immutable, "cors": cors,
                                               "debug_endpoints": debug_endpoints, "memory_map": immutable and cached})
    print(f"Serving {db_file} at http://{host}:{port}/{Path(db_file).stem} (Ctrl+C stops)")
    with served_immutable(db_file) if immutable else contextlib.nullcontext():
        # No access log: uvicorn formats each request's line before the log level drops it. Its HTTP
        # parser and event loop are httptools and uvloop, installed with regenkb (uvicorn picks them).
        uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, host=host, port=port,
                    log_level="warning", access_log=False)


# The operating system reads ahead this much at a time when asked (8 MB: more is not read).
READ_AHEAD_STEP = 8 << 20


def read_ahead(db_file):
    """Have the operating system read the KB into its file cache while the server starts, when
    the KB fits in half the available memory: the pages of a KB not in the cache are read as searches
    ask for them, at random (a first table search at a million works read 550 MB in 5.7 s),
    where the whole 2 GB file is read in order in a few seconds. Returns the thread asking."""
    size = os.path.getsize(db_file)
    if not hasattr(os, "posix_fadvise") or size > available_memory() // 2:
        return None

    def ask():
        fd = os.open(db_file, os.O_RDONLY)
        try:
            for offset in range(0, size, READ_AHEAD_STEP):
                os.posix_fadvise(fd, offset, READ_AHEAD_STEP, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


def available_memory():
    """Bytes of memory the operating system can give: Linux's MemAvailable (free memory and the
    file cache it may drop; a server up for days has little memory free and much cached), else
    free memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# An immutable KB is read without locks or change checks, so a write meanwhile makes the
# server contradict itself: while it serves, a lock file beside the KB names its process,
# and open_db refuses the KB to every other command.
def lock_files(db_file):
    return glob.glob(glob.escape(str(db_file)) + ".served-immutable-*.lock")


@contextlib.contextmanager
def served_immutable(db_file):
    lock = Path(f"{db_file}.served-immutable-{os.getpid()}.lock")
    lock.write_text(f"kb serve --immutable, process {os.getpid()}\n")
    # uvicorn stops on SIGTERM, then raises it again; as an exception it lets the lock go.
    stopped = signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, stopped)
        lock.unlink(missing_ok=True)


class ServedImmutable(click.ClickException):
    """The KB is being served as immutable (a ClickException, so any command that opens the
    KB says so in words)."""


def refuse_if_served_immutable(db_file):
    """Raise ServedImmutable while a live `kb serve --immutable` serves db_file; a lock its
    process left behind (killed) is removed."""
    from .ingest import alive

    for lock in lock_files(db_file):
        pid = int(lock.rsplit("-", 1)[1].removesuffix(".lock"))
        if alive(pid):
            raise ServedImmutable(f"{db_file} is being served as immutable by `kb serve --immutable` (process {pid}), "
                                  "which must not see it change: stop that server first, or serve the KB without "
                                  "--immutable while you load into it")
        Path(lock).unlink(missing_ok=True)
