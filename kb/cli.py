"""The `kb` command line: build, search and serve the regenkb knowledge base."""

import json
import os
import sys

import click

from harvest import pubmed
from harvest.errors import HarvestError

from . import demo, search as search_module, serve as serve_module
from .db import db_path, open_db
from .ingest import LoadError, harvest_pubmed, load_pubmed_file


def db_option(command):
    return click.option(
        "--db", "db_file", type=click.Path(dir_okay=False), default=None,
        help="Knowledge base file [default: $REGENKB_DB or regenkb.db]")(command)


def serve_options(command):
    command = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Interface to listen on")(command)
    return click.option("--port", default=8001, show_default=True, help="Port to listen on")(command)


@click.group()
@click.version_option(package_name="regenkb")
def cli():
    """regenkb: a literature and evidence knowledge base for stem-cell and
    exosome therapy for stroke.

    \b
    Start here, no network needed:
        kb demo                       build regenkb.db from the bundled corpus and serve it
    Then:
        kb harvest pubmed "mesenchymal stem cells AND stroke" --db my.db
        kb load pubmed pubmed25n0001.xml.gz --db my.db
        kb search "placenta exosome" --db my.db
        kb serve --db my.db
    """


@cli.command(name="demo")
@db_option
@serve_options
@click.option("--no-serve", is_flag=True, help="Build the KB and stop; do not start Datasette")
def demo_command(db_file, host, port, no_serve):
    """Build a KB from the bundled offline demo corpus and serve it.

    The corpus holds real works on stem-cell and exosome therapy for stroke, written
    in the exact PubMed E-utilities format and loaded through the same parser as live data.
    Running it again on the same file changes nothing.
    """
    path = db_path(db_file)
    db = open_db(path)
    stats = demo.build(db)
    click.echo(f"{path}: {stats.added} added, {stats.updated} updated, {stats.unchanged} unchanged; "
               f"{db['works'].count} works in all")
    if not no_serve:
        serve_module.serve(path, host, port)


@cli.group()
def harvest():
    """Harvest records live from a source (needs the network)."""


@harvest.command(name="pubmed")
@click.argument("term")
@db_option
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key: 10 requests/s instead of 3 [$NCBI_API_KEY]")
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address sent to NCBI [$REGENKB_EMAIL]")
def harvest_pubmed_command(term, db_file, api_key, email):
    """Harvest every PubMed record matching TERM (PubMed query syntax).

    \b
    The first run fetches everything; later runs of the same TERM fetch only records
    added or revised since the last finished run. An interrupted run resumes where it
    stopped. Responses are cached on disk ($REGENKB_CACHE, default ~/.cache/regenkb).
    Example:
        kb harvest pubmed "mesenchymal stem cells AND stroke" --db my.db
    """
    db = open_db(db_path(db_file))

    def progress(stats, page):
        click.echo(f"{page.origin}: {stats.added} added, {stats.updated} updated so far", err=True)

    try:
        stats = harvest_pubmed(db, term, pubmed.PubMed(api_key=api_key, email=email), progress)
    except HarvestError as error:
        raise click.ClickException(f"{error} (run the same command again to resume)")
    click.echo(f"pubmed {term!r}: {stats.added} added, {stats.updated} updated, "
               f"{stats.quarantined} quarantined")


@cli.group()
def load():
    """Load records from files on disk (no network)."""


@load.command(name="pubmed")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
def load_pubmed_command(files, db_file):
    """Load PubMed FILES: efetch responses, annual baseline or update files
    (.xml or .xml.gz; <DeleteCitation> deletes), esummary or elink responses.

    Loading a file twice changes nothing. Bad records are kept aside in the quarantine
    table and every good record is still loaded.
    """
    db = open_db(db_path(db_file))
    failed = 0
    for path in files:
        try:
            stats, note = load_pubmed_file(db, path)
        except LoadError as error:
            click.echo(f"error: {error}", err=True)
            failed += 1
            continue
        click.echo(f"{path}: {stats.added} added, {stats.updated} updated, {stats.unchanged} unchanged, "
                   f"{stats.deleted} deleted, {stats.quarantined} quarantined" + (f"; {note}" if note else ""))
        for message in stats.errors:
            click.echo(f"  quarantined: {message}", err=True)
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} file(s) could not be loaded fully")


@cli.command()
@click.argument("query")
@db_option
@click.option("--limit", default=10, show_default=True, help="How many works to show")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON array")
def search(query, db_file, limit, as_json):
    """Full-text search of works, best match first.

    \b
    Words must all match (stemmed, accents ignored); "quoted phrases" match as phrases,
    word* as a prefix, and AND / OR / NOT work as operators. A title hit outranks a
    MeSH or keyword hit, which outranks an abstract hit.
    Example:
        kb search "placenta exosome craniectomy"
    """
    path = db_path(db_file)
    if not os.path.exists(path):
        raise click.ClickException(f"{path} does not exist: build it with `kb demo --no-serve` or `kb load`")
    hits = search_module.search(open_db(path), query, limit)
    if as_json:
        for hit in hits:
            hit["snippet"] = search_module.highlight(hit["snippet"], "<mark>", "</mark>")
        click.echo(json.dumps(hits, ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo(f"No works match {query!r}.")
    bold = sys.stdout.isatty()
    for number, hit in enumerate(hits, 1):
        ids = ", ".join(f"{k.upper()} {hit[k]}" for k in ("pmid", "doi") if hit[k])
        click.echo(click.style(f"{number}. {hit['title']}", bold=True) + f" ({hit['year']}, {hit['journal']})")
        click.echo(f"   {ids}  [work {hit['id']}]")
        start, end = ("\x1b[1m", "\x1b[0m") if bold else ("[", "]")
        click.echo("   " + search_module.highlight(hit["snippet"], start, end).replace("\n", " "))


@cli.command()
@db_option
@serve_options
def serve(db_file, host, port):
    """Serve a KB with Datasette (read-only, with a SQL time limit).

    \b
    Browse http://127.0.0.1:8001/ ; the ranked search page is /<db>/search?q=...,
    and every table answers JSON, e.g. /<db>/works.json?_search=exosome&_shape=array
    """
    path = db_path(db_file)
    if not os.path.exists(path):
        raise click.ClickException(f"{path} does not exist: build it with `kb demo --no-serve` or `kb load`")
    serve_module.serve(path, host, port)
