"""Datasette plugin: the SQL function and cell rendering the KB's pages rely on.

Registered by entry point, so `kb serve` and plain `datasette regenkb.db` both load it.
"""

import re

from datasette import hookimpl
from markupsafe import Markup, escape

from .search import MARK_END, MARK_START, register_functions

# column name -> (pattern a value must match, URL of its record at the registry)
IDENTIFIER_LINKS = {
    "nct_id": (r"NCT\d{8}", "https://clinicaltrials.gov/study/{}"),
    "pmid": (r"\d{1,9}", "https://pubmed.ncbi.nlm.nih.gov/{}/"),
    "doi": (r"10\.\S+", "https://doi.org/{}"),
    "pmcid": (r"PMC\d+", "https://www.ncbi.nlm.nih.gov/pmc/articles/{}/"),
    "orcid": (r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", "https://orcid.org/{}"),
    "ror": (r"https://ror\.org/\w+", "{}"),
}


@hookimpl
def prepare_connection(conn):
    register_functions(conn)


@hookimpl
def render_cell(value, column):
    """Search snippets show their hits as <mark>; identifiers link to their registries."""
    if not isinstance(value, str):
        return None
    if MARK_START in value:
        return Markup(str(escape(value)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))
    if column in IDENTIFIER_LINKS:
        pattern, url = IDENTIFIER_LINKS[column]
        if re.fullmatch(pattern, value):
            return Markup('<a href="{}">{}</a>'.format(escape(url.format(value)), escape(value)))
    return None
