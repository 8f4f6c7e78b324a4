"""What a public KB server refuses its visitors and the data it serves.

- Script: every response carries a Content-Security-Policy that runs only script files
  from the server itself and the inline scripts we wrote (Datasette's own, by hash, and
  those its plugins add through `extra_body_script`), so a `javascript:` URL or a `<script>`
  that slips through escaping does not run.
- Arbitrary SQL (`?sql=`, `?_where=`) takes at most all but one of Datasette's query
  threads; past that it waits a second for one, then gets a 503, so a few slow queries
  cannot starve the pages.
- Writes: the server is read-only, so a POST (to a canned query, say) is a 405.
- Internals: SQL cannot call `fts3_tokenizer()` (a pointer into the server's memory) or
  read the file paths of `pragma_database_list`, and Datasette's debug pages, which show
  paths and threads, answer 404 unless `kb serve --debug-endpoints` asked for them.
"""

import asyncio
import base64
import hashlib
import re
import sqlite3
from urllib.parse import parse_qs

from datasette.utils.asgi import Response

# Datasette 0.65's templates whose <script> blocks run inline: the menus every page closes,
# the SQL editor, and a table page's facet flag.
DATASETTE_SCRIPT_TEMPLATES = ("_close_open_menus.html", "_codemirror_foot.html", "table.html")
# Hashes of the inline scripts plugins add to this response, filled in as they are rendered.
SCOPE_KEY = "regenkb.script_hashes"
# Leaflet (datasette-cluster-map) draws OpenStreetMap tiles.
POLICY = ("default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data: https://*.tile.openstreetmap.org; object-src 'none'; base-uri 'none'; "
          "form-action 'self'; frame-ancestors 'none'")
SQL_PARAMETERS = {"sql", "_where"}
# A query waits up to a second (10 looks, 0.1 s apart) for a thread before its 503.
SQL_WAITS, SQL_WAIT_SECONDS = 10, 0.1
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
DEBUG_ENDPOINTS = r"^/-/(databases|threads|permissions|messages|allow-debug|patterns)(\.json)?$"


def script_hash(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def template_script_hashes(datasette):
    """The CSP hashes of Datasette's own inline scripts, rendered as Datasette renders them."""
    env = datasette.jinja_env
    values = {"datasette_allow_facet": "true" if datasette.setting("allow_facet") else "false"}
    hashes = []
    for name in DATASETTE_SCRIPT_TEMPLATES:
        source = env.loader.get_source(env, name)[0]
        for script in re.findall(r"<script>.*?</script>", source, re.S):
            rendered = await env.from_string(script).render_async(**values)
            hashes.append(script_hash(rendered.removeprefix("<script>").removesuffix("</script>")))
    return hashes


def record_body_scripts(request, scripts):
    """Allow the inline scripts plugins return from `extra_body_script` on this response
    (each a string, a {"script": ...} dict or an awaitable of either)."""
    hashes = request.scope.get(SCOPE_KEY) if request is not None else None
    if hashes is None:
        return scripts

    def record(script):
        hashes.append(script_hash(str(script["script"] if isinstance(script, dict) else script)))
        return script

    async def record_later(awaitable):
        return record(await awaitable)

    return [record_later(script) if hasattr(script, "__await__") else record(script) for script in scripts]


def is_arbitrary_sql(scope):
    return bool(SQL_PARAMETERS & parse_qs(scope.get("query_string", b"").decode("latin-1")).keys())


def guarded(app, datasette):
    """The ASGI app with the policy above."""
    sql_slots = max(1, datasette.setting("num_sql_threads") - 1)
    sql_running = 0
    template_hashes = []

    async def guarded_app(scope, receive, send):
        nonlocal sql_running
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if not template_hashes:
            template_hashes.extend(await template_script_hashes(datasette))
        scope = dict(scope, **{SCOPE_KEY: []})

        async def send_with_policy(message):
            if message["type"] == "http.response.start":
                policy = POLICY.format(hashes=" ".join(dict.fromkeys(template_hashes + scope[SCOPE_KEY])))
                message = dict(message, headers=[*message.get("headers", []),
                                                 (b"content-security-policy", policy.encode())])
            await send(message)

        if scope["method"] not in READ_METHODS:
            return await Response.text(
                f"This server is read-only: {scope['method']} is not allowed here (only GET).", status=405,
                headers={"allow": ", ".join(sorted(READ_METHODS))}).asgi_send(send_with_policy)
        if not is_arbitrary_sql(scope):
            return await app(scope, receive, send_with_policy)
        for _ in range(SQL_WAITS):
            if sql_running < sql_slots:
                break
            await asyncio.sleep(SQL_WAIT_SECONDS)
        else:
            return await Response.text(
                "Too many SQL queries are running on this server at once; try again in a few seconds. "
                "(Pages, search and canned queries are not limited.)", status=503,
                headers={"retry-after": "5"}).asgi_send(send_with_policy)
        sql_running += 1
        try:
            await app(scope, receive, send_with_policy)
        finally:
            sql_running -= 1

    return guarded_app


def authorizer(action, arg1, arg2, database, trigger):
    """Deny SQL that reads the server's memory addresses or file paths."""
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "fts3_tokenizer":
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ and (arg1 or "").lower() == "pragma_database_list" and arg2 == "file":
        return sqlite3.SQLITE_IGNORE  # the column reads as NULL; Datasette needs only seq and name
    return sqlite3.SQLITE_OK


async def hidden_endpoint(request):
    return Response.text("Not found: this server does not show Datasette's debug pages.", status=404)
