"""The Datasette that `kb serve` runs: Datasette 0.65 less two costs it pays on every request
that a public, read-only KB server need not pay more than once.

- Permissions: every table request asks twice whether its visitor may see the table, and each
  check looks the table's name up in sqlite_master (a thread hop) and deep-copies the whole
  metadata (0.4 ms: it describes every column). A visitor of `kb serve` is anonymous and the
  metadata does not change while it serves, so an anonymous visitor's answer is kept (for at
  most KEPT_PERMISSIONS resources: a row URL is checked before its table is known to exist).
- Schemas: every request asks each database for its schema version (three queries). An
  immutable KB's schema cannot change while it is served, so it is read once.
- Reads: an immutable KB is memory-mapped, so a search that counts its facets over 30,000
  matches reads their rows from the operating system's cache in place, not a page at a time
  through each connection's 2 MB cache. Only an immutable KB: nothing may truncate a mapped
  file under the server, and a mutable KB is being loaded.
"""

from datasette.app import Datasette

# The KB's tables, views and canned queries, times the few actions asked of each, are a few hundred.
KEPT_PERMISSIONS = 4096
# As much as SQLite maps (2 GB in Python's build; it caps larger asks).
MMAP_BYTES = 2**40


class ServedDatasette(Datasette):
    schemas_read = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.anonymous_permissions = {}

    async def permission_allowed(self, actor, action, resource=None, default=False):
        if actor is not None:
            return await super().permission_allowed(actor, action, resource=resource, default=default)
        key = (action, tuple(resource) if isinstance(resource, list) else resource, default)
        if key in self.anonymous_permissions:
            return self.anonymous_permissions[key]
        allowed = await super().permission_allowed(None, action, resource=resource, default=default)
        if len(self.anonymous_permissions) < KEPT_PERMISSIONS:
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
