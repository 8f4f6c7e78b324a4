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
- Reads: an immutable KB is memory-mapped, so a search that counts its facets over 30,000
  matches reads their rows from the operating system's cache in place, not a page at a time
  through each connection's 2 MB cache. Only an immutable KB: nothing may truncate a mapped
  file under the server, and a mutable KB is being loaded.
"""

import copy

from datasette.app import Datasette
from datasette.database import Database

# The KB's tables, views and canned queries, times the few actions (or schema questions) asked
# of each, are a few hundred.
KEPT_ANSWERS = 4096
# Database's questions about its schema, whose answers an immutable KB keeps.
SCHEMA_QUESTIONS = ("table_exists", "table_names", "view_names", "hidden_table_names", "table_columns",
                    "table_column_details", "primary_keys", "fts_table", "label_column_for_table",
                    "foreign_keys_for_table", "get_all_foreign_keys", "get_table_definition")
# As much as SQLite maps (2 GB in Python's build; it caps larger asks).
MMAP_BYTES = 2**40


class ServedDatasette(Datasette):
    schemas_read = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        if database in self.databases and not self.databases[database].is_mutable:
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")

    async def refresh_schemas(self):
        if self.schemas_read:
            return
        await super().refresh_schemas()
        self.schemas_read = not any(database.is_mutable for name, database in self.databases.items()
                                    if name != "_internal")


class KeptSchemaDatabase(Database):
    """An immutable database whose answers to SCHEMA_QUESTIONS are kept (copies are handed
    out, so no caller can change a kept answer)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kept_answers = {}


def kept_answer(question):
    async def answer(self, *args, **kwargs):
        key = (question, args, tuple(sorted(kwargs.items())))
        if key not in self.kept_answers:
            found = await getattr(Database, question)(self, *args, **kwargs)
            if len(self.kept_answers) >= KEPT_ANSWERS:  # a URL names a table that is not there
                return found
            self.kept_answers[key] = found
        return copy.deepcopy(self.kept_answers[key])
    return answer


for _question in SCHEMA_QUESTIONS:
    setattr(KeptSchemaDatabase, _question, kept_answer(_question))
