"""The Datasette that `kb serve` runs: Datasette 0.65 less the costs it pays on every request
that a public, read-only KB server need not pay more than once.

- Permissions: every table request asks twice whether its visitor may see the table, and each
  check looks the table's name up in sqlite_master (a thread hop) and deep-copies the whole
  metadata (0.4 ms: it describes every column). A visitor of `kb serve` is anonymous and the
  metadata does not change while it serves, so an anonymous visitor's answer is kept (for at
  most KEPT_ANSWERS resources: a row URL is checked before its table is known to exist).
- Schemas: every request asks each database for its schema version (three queries), and a
  table request asks about its table five more times (does it exist, is it a view, its
  columns, twice, and keys), each question a hop to a query thread and back. An immutable
  KB's schema cannot change while it is served, so its version is read once and the answers
  are kept (KeptSchemaDatabase): a table search then makes one hop (twelve before), its
  query's.
- Request arguments: Datasette parses a request's query string again each time it reads
  `request.args` (31 times for one table search); a request's parse is kept with it
  (KeptArgs), keyed by its query string.
- List columns: the JSON API gives a table's list columns as arrays by adding Datasette's
  `_json=` for them (datasette_plugin/json_lists.py); Datasette's JSON renderer then tries
  json.loads on each of their cells and catches the error each NULL raises (1 ms a page of 50
  works). `kb serve`'s JSON renderer parses the cells that hold text first and hands the rest
  to Datasette's renderer as it is.
- JSON1: each table request asks the facets plugin whether SQLite has JSON1, which opens a
  database in memory to find out; the answer is read once.
- Table counts: Datasette counts every table of an immutable database before it answers,
  each with an hour's limit. Counted so, an FTS5 table reads every document it indexes (1.4 GB
  of a 2 GB KB of a million works, from disk when the file is not cached); an FTS5 table and
  its _content are counted as the rows of its _docsize (one a document, 1% of that), and its
  index blocks (_data, most of the index) are left uncounted, as Datasette leaves a table it
  could not count in time.

- Reads: an immutable KB `kb serve` has read ahead into the file cache (serve.read_ahead) is
  memory-mapped (memory_map), so a table search that counts its matches and their facets
  reads 50,000 rows from the cache in place, in half the time it takes through each
  connection's 2 MB page cache. Any other KB is not: a disk reads ahead around every page a
  map faults in (8 MB on this machine), so a table search of a mapped KB the cache did not
  hold read 227 MB where unmapped it read 5 MB, and its count and each facet read the whole
  2 GB file. Only an immutable KB: nothing may truncate a mapped file under the server.
"""

import functools
import json

import datasette.facets
from datasette.app import Datasette
from datasette.database import Database, QueryInterrupted
from datasette.renderer import json_renderer
from datasette.utils import MultiParams, detect_json1, sqlite3
from datasette.utils.asgi import Request

# The KB's tables, views and canned queries, times the few actions (or schema questions) asked
# of each, are a few hundred.
KEPT_ANSWERS = 4096
# As much as SQLite maps (2 GB in Python's build; it caps larger asks).
MMAP_BYTES = 2**40
# Database's questions about its schema, whose answers an immutable KB keeps.
SCHEMA_QUESTIONS = ("table_exists", "table_names", "view_names", "hidden_table_names", "table_columns",
                    "table_column_details", "primary_keys", "fts_table", "label_column_for_table",
                    "foreign_keys_for_table", "get_all_foreign_keys", "get_table_definition")


class ServedDatasette(Datasette):
    schemas_read = False

    def __init__(self, *args, memory_map=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.memory_map = memory_map
        keep_request_args()
        self.anonymous_permissions = {}
        for name, database in list(self.databases.items()):
            if database.path and not database.is_mutable:
                self.remove_database(name)
                self.add_database(KeptSchemaDatabase(self, database.path, is_mutable=False), name=name,
                                  route=database.route)

    async def permission_allowed(self, actor, action, resource=None, default=False):
        if actor is not None:
            return await super().permission_allowed(actor, action, resource=resource, default=default)
        key = (action, tuple(resource) if isinstance(resource, list) else resource, default)
        if key in self.anonymous_permissions:
            return self.anonymous_permissions[key]
        allowed = await super().permission_allowed(None, action, resource=resource, default=default)
        if len(self.anonymous_permissions) < KEPT_ANSWERS:
            self.anonymous_permissions[key] = allowed
        return allowed

    def _prepare_connection(self, conn, database):
        super()._prepare_connection(conn, database)
        # Datasette prepares connections of its own too (/-/versions opens one in memory).
        if self.memory_map and database in self.databases and not self.databases[database].is_mutable:
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")

    def _register_renderers(self):
        super()._register_renderers()
        self.renderers["json"] = (json_with_lists, self.renderers["json"][1])

    async def refresh_schemas(self):
        if self.schemas_read:
            return
        await super().refresh_schemas()
        self.schemas_read = not any(database.is_mutable for name, database in self.databases.items()
                                    if name != "_internal")


def keep_request_args():
    """Datasette's Request keeps its parsed arguments (MultiParams, read-only) for its query
    string; the facets plugin's JSON1 question is answered once. Both for the process: the
    answers are the ones Datasette gives."""
    if not isinstance(Request.__dict__["args"], KeptArgs):
        Request.args = KeptArgs(Request.__dict__["args"])
    if not isinstance(datasette.facets.detect_json1, functools._lru_cache_wrapper):
        datasette.facets.detect_json1 = functools.cache(detect_json1)


class KeptArgs:
    """A request's `args`, parsed once for its query string."""

    def __init__(self, parse):
        self.parse = parse

    def __get__(self, request, owner=None):
        if request is None:
            return self
        kept = request.__dict__.get("kept_args")
        if kept is None or kept[0] != request.query_string:
            kept = request.__dict__["kept_args"] = (request.query_string, self.parse.__get__(request, owner))
        return kept[1]


def json_with_lists(args, data, view_name):
    """Datasette's JSON renderer, the `_json=` columns' cells that hold text parsed first."""
    columns = data.get("columns") or []
    listed = set(args.getlist("_json")) & set(columns) if "_json" in args else set()
    if listed and "rows" in data:
        at = [i for i, column in enumerate(columns) if column in listed]
        data["rows"] = [parsed_cells(row, at) for row in data["rows"]]
        args = MultiParams([(key, value) for key in args.keys() if key != "_json" for value in args.getlist(key)])
    return json_renderer(args, data, view_name)


def parsed_cells(row, at):
    row = list(row)
    for i in at:
        if isinstance(row[i], (str, bytes)):
            try:
                row[i] = json.loads(row[i])
            except ValueError:
                pass
    return row


def copied(value):
    """A kept answer as a caller may change it: its lists and dicts copied, all the way down
    (the rest, strings, numbers and Datasette's Column tuples of them, cannot change)."""
    if isinstance(value, list):
        return [copied(item) for item in value]
    if isinstance(value, dict):
        return {key: copied(item) for key, item in value.items()}
    return value


class KeptSchemaDatabase(Database):
    """An immutable database whose answers to SCHEMA_QUESTIONS are kept (copies are handed
    out, so no caller can change a kept answer)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kept_answers = {}

    async def table_counts(self, limit=10):
        if self.cached_table_counts is not None:
            return self.cached_table_counts
        tables = await self.table_names()
        fts5 = {row[0] for row in await self.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE % USING fts5%'")}
        counted_as = {name: f"{fts}_docsize" for fts in fts5 if f"{fts}_docsize" in tables
                      for name in (fts, f"{fts}_content")}
        counts = {}
        for table in tables:
            if any(table == f"{fts}_data" for fts in fts5):
                counts[table] = None
                continue
            try:
                counts[table] = (await self.execute(f"select count(*) from [{counted_as.get(table, table)}]",
                                                    custom_time_limit=limit)).rows[0][0]
            except (QueryInterrupted, sqlite3.DatabaseError):  # as Database.table_counts
                counts[table] = None
        self._cached_table_counts = counts
        return counts


def kept_answer(question):
    async def answer(self, *args, **kwargs):
        key = (question, args, tuple(sorted(kwargs.items())))
        if key not in self.kept_answers:
            found = await getattr(Database, question)(self, *args, **kwargs)
            if len(self.kept_answers) >= KEPT_ANSWERS:  # a URL names a table that is not there
                return found
            self.kept_answers[key] = found
        return copied(self.kept_answers[key])
    return answer


for _question in SCHEMA_QUESTIONS:
    setattr(KeptSchemaDatabase, _question, kept_answer(_question))
