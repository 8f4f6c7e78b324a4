"""Datasette plugin: the SQL function and cell rendering the KB's pages rely on.

Registered by entry point, so `kb serve` and plain `datasette regenkb.db` both load it.
"""

from datasette import hookimpl
from markupsafe import Markup, escape

from .search import MARK_END, MARK_START, register_functions


@hookimpl
def prepare_connection(conn):
    register_functions(conn)


@hookimpl
def render_cell(value):
    """Search snippets carry control-character markers around hits: show them as <mark>."""
    if isinstance(value, str) and MARK_START in value:
        return Markup(str(escape(value)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))
    return None
