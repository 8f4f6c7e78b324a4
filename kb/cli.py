"""The `kb` command line: build, search and serve the regenkb knowledge base."""

import contextlib
import itertools
import json
import os
import sys
import time

import click

from pathlib import Path

from harvest import crossref, ctgov, europepmc, openalex, portal, pubmed
from harvest.errors import HarvestError, ParseError
from harvest.mesh import MeshLookup

from . import authors as authors_module, demo, mesh as mesh_module, search as search_module, serve as serve_module
from .db import db_path, open_db
from .ingest import (HarvestBusy, LoadError, europepmc_citation_links, fetch_ctgov_studies, harvest_ctgov,
                     harvest_portal, harvest_pubmed, harvest_works, load_ctgov_file, load_library_file,
                     load_portal_page, load_pubmed_file, load_works_file, refresh)
from .unmerge import UnmergeError, unmerge
from . import graph as graph_module
from .expand import expand as expand_kb
from .linking import link_studies
from .load import WorkLoader


# Control characters (C0, DEL, C1) as escapes: text from files and servers reaches the
# terminal, where ESC ] 0 ; ... BEL would retitle the window and others move the cursor.
ESCAPES = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7f, 0xa0)]}


def printable(text):
    """One line of text for the terminal: 'a\\x1b]0;t\\x07' -> 'a\\\\x1b]0;t\\\\x07' (newlines escaped too)."""
    return str(text).translate(ESCAPES)


def printable_snippet(snippet):
    """A search snippet made printable around its highlight markers, which are control bytes."""
    marks = search_module.MARK_START, search_module.MARK_END
    return marks[0].join(marks[1].join(printable(part) for part in piece.split(marks[1]))
                         for piece in (snippet or "").split(marks[0]))


class Cli(click.Group):
    """The `kb` group: every error message it shows is made printable first."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.ClickException as error:
            error.message = printable(error.message)
            raise


def db_folder_exists(ctx, param, value):
    folder = Path(db_path(value)).resolve().parent
    if not folder.is_dir():
        raise click.BadParameter(f"the folder {folder} does not exist; create it first", ctx, param)
    return value


def db_option(command):
    return click.option(
        "--db", "db_file", type=click.Path(dir_okay=False), default=None, callback=db_folder_exists,
        help="Knowledge base file [default: $REGENKB_DB or regenkb.db]")(command)


def serve_options(command):
    command = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Interface to listen on")(command)
    return click.option("--port", default=8001, show_default=True, help="Port to listen on")(command)


@click.group(cls=Cli)
@click.version_option(package_name="regenkb")
def cli():
    """regenkb: a literature and evidence knowledge base for stem-cell and
    exosome therapy for stroke.

    \b
    Start here, no network needed:
        kb demo                       build regenkb.db from the bundled corpus and serve it
    Then:
        kb harvest pubmed "mesenchymal stem cells AND stroke" --db my.db
        kb harvest ctgov --condition stroke --intervention "mesenchymal OR exosome" --db my.db
        kb load pubmed pubmed25n0001.xml.gz --db my.db
        kb load ctgov NCT03384433.json ctgov-export.csv --db my.db
        kb search "placenta exosome" --db my.db
        kb related 35281985 --db my.db          trials for a paper, with reasons
        kb serve --db my.db                     pages, search-all, JSON API, exports
    The whole PubMed baseline: `kb load pubmed --workers N --fast`, or `kb parse
    pubmed` on a Dask cluster then `kb load parquet`. Loads and harvests also map
    institutions, cluster authors into people, link papers to their trials and tag the
    evidence; `kb doctor` checks a KB.
    """


@cli.command(name="demo")
@db_option
@serve_options
@click.option("--no-serve", is_flag=True, help="Build the KB and stop; do not start Datasette")
def demo_command(db_file, host, port, no_serve):
    """Build a KB from the bundled offline demo corpus and serve it.

    The corpus holds real works and trials on stem-cell and exosome therapy for stroke,
    written in the exact PubMed E-utilities and ClinicalTrials.gov formats, and the seed
    record page; they load through the same parsers as live data, people, institutions
    and evidence are resolved, then the networks are built. Running it again on the same
    file changes nothing.
    """
    path = db_path(db_file)
    db = open_db(path)
    stats = demo.build(db)
    for kind in graph_module.NETWORKS:
        graph_module.build(db, kind)
    click.echo(f"{path}: {stats.added} added, {stats.updated} updated, {stats.unchanged} unchanged; "
               f"{db['works'].count} works and {db['trials'].count} trials in all; networks built")
    if not no_serve:
        serve_module.serve(path, host, port)


@cli.group()
def harvest():
    """Harvest records live from a source (needs the network)."""


@harvest.command(name="pubmed")
@click.argument("term", required=False)
@db_option
@click.option("--related", is_flag=True,
              help="Fetch PubMed's related-article neighbours (elink, with scores) of the works in the KB")
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key: 10 requests/s instead of 3 [$NCBI_API_KEY]")
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address sent to NCBI [$REGENKB_EMAIL]")
def harvest_pubmed_command(term, db_file, related, api_key, email):
    """Harvest every PubMed record matching TERM (PubMed query syntax).

    \b
    The first run fetches everything; later runs of the same TERM fetch only records
    added or revised since the last finished run. An interrupted run resumes where it
    stopped. Responses are cached on disk ($REGENKB_CACHE, default ~/.cache/regenkb).
    With --related, also store the related-article neighbours of every work with a PMID
    (links of relation 'related' with elink's scores); `kb expand` fetches them.
    Examples:
        kb harvest pubmed "mesenchymal stem cells AND stroke" --db my.db
        kb harvest pubmed --related --db my.db
    """
    if not (term or related):
        raise click.UsageError("give a TERM, --related, or both")
    db = open_db(db_path(db_file))
    client = pubmed.PubMed(api_key=api_key, email=email)
    if related:
        pmids = [row[0] for row in db.execute("SELECT pmid FROM works WHERE pmid IS NOT NULL ORDER BY pmid")]
        loader = WorkLoader(db, pubmed.SOURCE)
        try:
            count = sum(loader.add_related(pubmed.parse_elink(body)) for body in client.neighbours(pmids))
        except HarvestError as error:
            raise click.ClickException(str(error))
        click.echo(f"{count} related-article link(s) for {len(pmids)} work(s)")
        if not term:
            return

    report_harvest(db, f"pubmed {term!r}", lambda progress: harvest_pubmed(db, term, client, progress))


def report_harvest(db, label, run):
    """Run a live harvest with progress on stderr; an error stops it resumably."""
    def progress(stats, page):
        click.echo(printable(f"{page.origin}: {stats.added} added, {stats.updated} updated so far"), err=True)

    try:
        stats = run(progress)
    except HarvestBusy as error:
        raise click.ClickException(str(error))
    except HarvestError as error:
        raise click.ClickException(f"{error} (run the same command again to resume)")
    click.echo(f"{label}: {stats.added} added, {stats.updated} updated or merged, {stats.quarantined} quarantined")
    relink(db)


@harvest.command(name="ctgov")
@click.option("--condition", help="Condition or disease (query.cond), e.g. stroke")
@click.option("--intervention", help='Intervention (query.intr), e.g. "mesenchymal OR exosome OR stem cell"')
@click.option("--term", help="Any other search terms (query.term), in ClinicalTrials.gov search syntax")
@click.option("--nct", "nct_ids", multiple=True, help="Fetch this one study (repeatable), e.g. --nct NCT03384433")
@db_option
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address in the User-Agent [$REGENKB_EMAIL]")
def harvest_ctgov_command(condition, intervention, term, nct_ids, db_file, email):
    """Harvest ClinicalTrials.gov studies (API v2) matching the query, or single studies by NCT number.

    \b
    About one request a second, pages of 1,000 studies. Later runs of the same query
    fetch only studies updated since the last finished run; an interrupted run resumes.
    Examples:
        kb harvest ctgov --condition stroke --intervention "mesenchymal OR exosome OR stem cell"
        kb harvest ctgov --nct NCT03384433 --nct NCT01151124
    """
    if not (condition or intervention or term or nct_ids):
        raise click.UsageError("give at least one of --condition, --intervention, --term, --nct")
    db = open_db(db_path(db_file))
    client = ctgov.CtGov(email=email)
    if nct_ids:
        report_harvest(db, "ctgov", lambda progress: fetch_ctgov_studies(db, client, nct_ids))
    else:
        report_harvest(db, "ctgov", lambda progress: harvest_ctgov(db, client, condition, intervention, term,
                                                                   progress))


def harvest_works_command(source, client, query, db_file, **options):
    db = open_db(db_path(db_file))
    report_harvest(db, f"{source} {query!r}",
                   lambda progress: harvest_works(db, source, client, query, progress, **options))


@harvest.command(name="openalex")
@click.argument("search", required=False)
@click.option("--filter", "filter_", help="OpenAlex filter, e.g. publication_year:>2015,type:article")
@db_option
@click.option("--api-key", envvar="OPENALEX_API_KEY", help="OpenAlex API key (required since 2026) [$OPENALEX_API_KEY]")
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address (mailto) [$REGENKB_EMAIL]")
def harvest_openalex_command(search, filter_, db_file, api_key, email):
    """Harvest OpenAlex works matching SEARCH and/or --filter (cursor paging, 200 a page).

    \b
    Adds institutions with ROR ids, citation counts, referenced and related works, topics
    and open-access status; works already in the KB from other sources are merged.
    Example:
        kb harvest openalex "mesenchymal exosome stroke" --filter publication_year:>2010
    """
    if not (search or filter_):
        raise click.UsageError("give SEARCH, --filter or both")
    harvest_works_command("openalex", openalex.OpenAlex(api_key=api_key, email=email), search, db_file,
                          filter=filter_)


@harvest.command(name="europepmc")
@click.argument("query", required=False)
@db_option
@click.option("--citations", is_flag=True,
              help="Also fetch the citations and references of every Europe PMC record in the KB")
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address in the User-Agent [$REGENKB_EMAIL]")
def harvest_europepmc_command(query, db_file, citations, email):
    """Harvest Europe PMC records matching QUERY (its search syntax; core results,
    1,000 a page, cursorMark paging). Includes preprints (source PPR).

    \b
    With --citations, fetch /citations of every Europe PMC record in the KB as cited_by
    links, and /references as its reference list, every entry in order with its text
    (one request each per 1,000 entries).
    Examples:
        kb harvest europepmc '(exosome OR "extracellular vesicle") AND stroke'
        kb harvest europepmc --citations
    """
    if not (query or citations):
        raise click.UsageError("give a QUERY, --citations, or both")
    client = europepmc.EuropePMC(email=email)
    if query:
        harvest_works_command("europepmc", client, query, db_file)
    if citations:
        try:
            count = europepmc_citation_links(open_db(db_path(db_file)), client,
                                             lambda note: click.echo(printable(note), err=True))
        except HarvestError as error:
            raise click.ClickException(str(error))
        click.echo(f"{count} citation link(s) and reference(s) from Europe PMC")


@harvest.command(name="crossref")
@click.argument("query")
@db_option
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address (polite pool) [$REGENKB_EMAIL]")
def harvest_crossref_command(query, db_file, email):
    """Harvest Crossref works matching QUERY (query.bibliographic, cursor paging),
    keeping to the rate limit Crossref states in its x-rate-limit headers.

    \b
    Example:
        kb harvest crossref "mesenchymal stem cell exosome stroke"
    """
    harvest_works_command("crossref", crossref.Crossref(email=email), query, db_file)


@harvest.command(name="portal")
@click.argument("url")
@click.option("--depth", default=0, show_default=True, help="Follow 'Other Related Docs' links this many levels")
@click.option("--max-pages", default=50, show_default=True, help="Fetch at most this many pages")
@db_option
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address in the User-Agent [$REGENKB_EMAIL]")
def harvest_portal_command(url, depth, max_pages, db_file, email):
    """Harvest a research-portal record page (university research portals, DSpace, EPrints,
    Pure, OPUS, HAL, Sinaweb journal sites): title, authors with their numbered
    affiliations, source, year, abstract and its "Other Related Docs".

    \b
    With --depth, related documents on the same host are fetched too (robots.txt honoured,
    one page a second, each page once). A page that is no record page is kept in the
    quarantine table and the crawl goes on; a page that fails to come (an error, a
    redirect to another host) is skipped, and a run that fetched nothing ends in an error.
    Example:
        kb harvest portal "https://www.rimpacts.com/rd/p.aspx?c=10158576256" --depth 1
    """
    db = open_db(db_path(db_file))
    try:
        loaded, quarantined, skipped = harvest_portal(
            db, portal.Crawler(email=email), url, depth, max_pages,
            lambda page, outcome: click.echo(printable(f"{page}: {outcome}"), err=True))
    except HarvestError as error:
        raise click.ClickException(str(error))
    if not (loaded or quarantined):
        raise click.ClickException(f"nothing harvested from {url}: {skipped} page(s) skipped, for the reason above")
    click.echo(f"{loaded} record page(s) loaded, {quarantined} kept in quarantine, {skipped} skipped")
    relink(db)


@harvest.command(name="mesh")
@db_option
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address in the User-Agent [$REGENKB_EMAIL]")
def harvest_mesh_command(db_file, email):
    """Fetch the entry terms of the MeSH headings the KB holds (its works' headings, its
    trials' condition headings) from NLM's MeSH lookup API, for those `kb load mesh` has not
    given it. Search widens a heading or an entry term to all of them.

    \b
    Three descriptors a second; a second run fetches only what the first did not store.
    Example:
        kb harvest mesh
    """
    db = open_db(db_path(db_file))
    try:
        stored, unknown = mesh_module.fetch_missing(db, MeshLookup(email=email))
    except (HarvestError, ParseError) as error:
        raise click.ClickException(f"{error}; descriptors fetched before it are kept, run it again to go on")
    click.echo(f"{stored} MeSH descriptor(s) stored" + (f"; MeSH has no {', '.join(unknown)}" if unknown else ""))


TOPIC_FILTER_HELP = ("Keep only records on the topic of this vocabulary folder (e.g. kb/vocabularies/"
                     "stem_cell_stroke); deletions still apply")
FAST_HELP = ("Bulk mode for a load that builds most of the KB: no fsync, a rollback journal (unless a server "
             "has the KB open) and a 1 GB page cache (a power cut may cost the KB, so use it for a load you can "
             "redo from the files); secondary indexes and the full-text index's merge are built once at the "
             "end. Leave it off for a small update to a big KB")
WORKERS_HELP = ("Processes loading parts of each file into part KBs of their own, which the one writer copies "
                "in (a part that meets records the KB holds is written directly)")


def cluster_extra_missing(command, error):
    return click.ClickException(f"{error}: {command} needs the cluster extra, pip install -e \".[cluster]\"")


@cli.group()
def parse():
    """Parse files on a cluster into Parquet, for a load past one machine's parsing."""


@parse.command(name="pubmed")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Folder for the Parquet output")
@click.option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster")
@click.option("--workers", default=2, show_default=True, help="Worker processes of the local cluster")
@click.option("--topic-filter", type=click.Path(exists=True, file_okay=False), help=TOPIC_FILTER_HELP)
def parse_pubmed_command(files, output, scheduler, workers, topic_filter):
    """Parse PubMed baseline and update FILES on a Dask cluster into Parquet partitions
    under --output (one folder a file, one partition a chunk of 500 records), for
    `kb load parquet` to load. Needs the cluster extra: pip install -e ".[cluster]".

    \b
    Every worker must see FILES and --output at the same paths (shared storage).
    Example:
        kb parse pubmed baseline/pubmed25n*.xml.gz --output parsed/ --scheduler tcp://10.0.0.5:8786
        kb load parquet parsed/ --db pubmed.db
    """
    try:
        import dask.distributed  # noqa: F401

        from . import cluster
    except ImportError as error:
        raise cluster_extra_missing("kb parse", error)
    for manifest in cluster.parse_to_parquet(files, output, scheduler, workers, topic_filter):
        click.echo(printable(f"{manifest['origin']}: {manifest['records']} record(s) in {manifest['parts']} partition(s)"
                             + (f", {manifest['off_topic']} off the topic left out" if manifest["off_topic"] else "")))


@cli.group()
def load():
    """Load records from files on disk (no network)."""


@load.command(name="pubmed")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--workers", default=1, show_default=True, help=WORKERS_HELP)
@click.option("--topic-filter", type=click.Path(exists=True, file_okay=False), help=TOPIC_FILTER_HELP)
@click.option("--again", is_flag=True, help="Load files recorded as fully loaded again")
@click.option("--fast", is_flag=True, help=FAST_HELP)
@db_option
def load_pubmed_command(files, workers, topic_filter, again, fast, db_file):
    """Load PubMed FILES: efetch responses, annual baseline or update files
    (.xml or .xml.gz; <DeleteCitation> deletes), esummary or elink responses.

    \b
    Loading a file twice changes nothing, and a baseline or update file loaded to its end
    is recorded and skipped on the next run (--again loads it anyway), so a load of the
    whole baseline resumes where it stopped. Files apply in the order given (update files
    in their numbered order, deletions included). Bad records are kept aside in the
    quarantine table and every good record is still loaded. With one worker, a second
    process parses the file while this one writes, when a second CPU is free; a load that
    brings more records than the KB holds builds its serving indexes once, at its end.
    Example:
        kb load pubmed baseline/pubmed25n*.xml.gz --workers 2 --db pubmed.db
        kb load pubmed baseline/*.xml.gz --topic-filter kb/vocabularies/stem_cell_stroke
    """
    from . import bulk

    def is_efetch(path):
        try:
            with pubmed.open_payload(path) as handle:
                return pubmed.sniff(handle.read(8192)) == "efetch"
        except pubmed.DamagedFile:
            return False  # the one-file loader reports the damage

    def outcomes(db):
        # Consecutive baseline, update and efetch files load in one run, so that the parts
        # of the next file load while this one's are copied in.
        for efetch, run in itertools.groupby(files, key=is_efetch):
            if efetch:
                for path, stats, note in bulk.files_loaded(db, list(run), workers, again, topic_filter):
                    yield path, bulk_outcome(stats, note)
            else:
                yield from each_file(list(run), load_pubmed_file)(db)

    load_files(files, db_file, outcomes, bulk.fast_load if fast else None)


def bulk_outcome(stats, note):
    """(stats, note) of one bulk-loaded file, or the LoadError of a file that broke off."""
    if stats.fatal:
        return LoadError(f"{stats.fatal} ({stats.loaded} good record(s) before it were loaded; "
                         "the fault is in the quarantine table)")
    if stats.off_topic:
        note = f"{stats.off_topic} record(s) off the topic left out" + (f"; {note}" if note else "")
    return stats, note


@load.command(name="parquet")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--workers", default=1, show_default=True, help=WORKERS_HELP)
@click.option("--again", is_flag=True, help="Load files recorded as fully loaded again")
@click.option("--fast", is_flag=True, help=FAST_HELP)
@db_option
def load_parquet_command(folder, workers, again, fast, db_file):
    """Load PubMed files that `kb parse pubmed` parsed into Parquet under FOLDER.

    \b
    Files load in the order they were given to the parse, through the same writer as
    `kb load pubmed`, and are recorded as loaded the same way: a file loaded by either
    command is skipped by both.
    Example:
        kb load parquet parsed/ --workers 2 --db pubmed.db
    """
    try:
        from . import bulk, parquet
    except ImportError as error:
        raise cluster_extra_missing("kb load parquet", error)

    def outcomes(db):
        notes = []
        stats = parquet.load_parquet(db, folder, again, lambda _, __, note: notes.append(note), workers)
        yield folder, bulk_outcome(stats, next((note for note in notes if note), None))

    load_files([folder], db_file, outcomes, bulk.fast_load if fast else None)


@load.command(name="ctgov")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
def load_ctgov_command(files, db_file):
    """Load ClinicalTrials.gov FILES in any format researchers keep trials in: an API v2
    study or /studies page (JSON), classic-API (v1) full_studies or study_fields JSON,
    legacy clinical_study XML, the legacy RSS search feed, the "Download CSV" export of
    the legacy or the current site, or a ZIP of study files (the legacy "download all
    results as XML" archive, or v2 JSON files), read one study at a time.

    Loading a file twice changes nothing; a fuller record (v2 JSON) is never replaced by a
    thinner one (CSV, RSS). Bad studies go to the quarantine table; the rest load.
    """
    load_files(files, db_file, each_file(files, lambda db, path: (load_ctgov_file(db, path), None)))


@load.command(name="library")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
def load_library_command(files, db_file):
    """Load your own reference library FILES: BibTeX or BibLaTeX, RIS, CSL-JSON (Zotero,
    citeproc, our .csljson export), Zotero JSON or EndNote XML, told apart by content.

    \b
    Entries join the works the KB already holds (by DOI, PMID, PMCID, else title, year and
    first author) and never override what PubMed, Crossref, OpenAlex or Europe PMC say;
    `kb expand` then fetches their full records. DOIs, PMIDs and trial numbers in URLs and
    notes are read; ISBN, URLs, notes and attachments' names are kept in library_entries.
    A broken entry goes to the quarantine table with its file and line; the rest load.
    Example:
        kb load library my.bib my.ris zotero.json endnote.xml
    """
    load_files(files, db_file, each_file(files, lambda db, path: load_library_file(db, path)))


def make_works_loader(source, description):
    @load.command(name=source, help=description)
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
    @db_option
    def command(files, db_file):
        load_files(files, db_file, each_file(files, lambda db, path: load_works_file(db, source, path)))

    return command


make_works_loader("openalex", """Load OpenAlex FILES: a work, a /works list page, author /
institution entities (institutions are kept with their ROR and coordinates), or snapshot
part files (data/works/updated_date=*/part_*.gz, JSON Lines), streamed in constant memory.

Works already in the KB from other sources are merged (one row per work).""")
make_works_loader("europepmc", """Load Europe PMC FILES: /search answers in JSON (core, lite,
idlist), XML or Dublin Core, or a JSON list of /search pages.

Works already in the KB from other sources are merged (one row per work).""")
make_works_loader("crossref", """Load Crossref FILES: a /works/{doi} answer, a /works list,
or a CSL-JSON object from /transform.

Works already in the KB from other sources are merged (one row per work).""")


@load.command(name="portal")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--url", help="The address the page was saved from (one file only); relative links resolve against it")
@db_option
def load_portal_command(files, url, db_file):
    """Load saved research-portal record pages (HTML FILES).

    The page's own address comes from --url, else its <link rel="canonical"> or
    citation_abstract_html_url, else the file's path. Its related documents become
    'related' links to works in the KB, or to stubs a later harvest fills in.
    """
    if url and len(files) > 1:
        raise click.UsageError("--url names the address of one page: give one file with it")
    load_files(files, db_file, each_file(files, lambda db, path: (
        load_portal_page(db, Path(path).read_bytes(), url or Path(path).resolve().as_uri())[0], None)))


@load.command(name="mesh")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
def load_mesh_command(files, db_file):
    """Load NLM's MeSH descriptor FILES (desc2026.xml, or .gz), streamed: every descriptor
    with its heading, tree numbers and entry terms. Search then widens a heading or an entry
    term of a heading the KB holds to all of them, and says so.

    \b
    A descriptor loaded again (next year's file) replaces the one before.
    Example:
        kb load mesh desc2026.gz
    """
    db = open_db(db_path(db_file))
    for path in files:
        try:
            descriptors, terms, problems = mesh_module.load_mesh_file(db, path)
        except (ParseError, OSError) as error:
            raise click.ClickException(f"{path}: {error}")
        for problem in problems:
            click.echo("  skipped: " + printable(str(problem)), err=True)
        click.echo(f"{path}: {descriptors} descriptors, {terms} entry terms; the KB holds "
                   f"{mesh_module.described_headings(db)} of their headings")


def load_files(files, db_file, outcomes, mode=None):
    """Load FILES with outcomes(db), which yields (file, (stats, note) or the LoadError that
    stopped it) for each file in order, inside `mode` (a context manager taking the db, such
    as bulk.fast_load) if given; report each, then refresh what derives."""
    db = open_db(db_path(db_file))
    failed = 0
    with mode(db) if mode else contextlib.nullcontext():
        for path, outcome in outcomes(db):
            if isinstance(outcome, LoadError):
                click.echo(printable(f"error: {outcome}"), err=True)
                failed += 1
                continue
            stats, note = outcome
            click.echo(printable(f"{path}: {stats.added} added, {stats.updated} updated, {stats.unchanged} unchanged, "
                                 f"{stats.deleted} deleted, {stats.quarantined} quarantined" + (f"; {note}" if note else "")))
            for message in stats.errors:
                click.echo("  quarantined: " + printable(message), err=True)
    relink(db)
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} file(s) could not be loaded fully")


def each_file(files, load_one):
    """The outcomes for load_files of load_one(db, path) -> (stats, note), file by file."""
    def outcomes(db):
        for path in files:
            try:
                yield path, load_one(db, path)
            except LoadError as error:
                yield path, error
    return outcomes


def relink(db):
    """Institutions, people and probably_same_study links follow what was just loaded."""
    click.echo(refresh(db, progress=progress_on_stderr), err=True)


def progress_on_stderr(label, items):
    """items, drawn as a bar with counts and a rate on stderr while they are done; quiet
    when stderr is no terminal (a cron job's log)."""
    if not sys.stderr.isatty():
        yield from items
        return
    items = list(items)
    started, done = time.monotonic(), [0]

    def rate(_):
        return f"{done[0] / max(time.monotonic() - started, 1e-3):,.0f}/s"

    with click.progressbar(items, label=label, file=sys.stderr, show_pos=True, item_show_func=rate) as bar:
        for item in bar:
            yield item
            done[0] += 1


@cli.command()
@db_option
@click.option("--depth", default=1, show_default=True, help="How many rounds of snowballing")
@click.option("--limit", type=int, help="At most this many missing works of each kind per round")
@click.option("--api-key", envvar="NCBI_API_KEY", help="NCBI API key [$NCBI_API_KEY]")
@click.option("--openalex-key", envvar="OPENALEX_API_KEY", help="OpenAlex API key [$OPENALEX_API_KEY]")
@click.option("--email", envvar="REGENKB_EMAIL", help="Contact address [$REGENKB_EMAIL]")
def expand(db_file, depth, limit, api_key, openalex_key, email):
    """Snowball: fetch the works the KB's works cite, are cited by or are related to,
    which the KB does not hold yet (PMIDs from PubMed, OpenAlex ids and DOIs from OpenAlex),
    and the full records of works only a reference file describes (`kb load library`).

    \b
    Example (one round, as a systematic review's citation search):
        kb expand --depth 1 --db my.db
    """
    db = open_db(db_path(db_file))
    try:
        stats, left = expand_kb(db, pubmed.PubMed(api_key=api_key, email=email),
                                openalex.OpenAlex(api_key=openalex_key, email=email), depth, limit,
                                lambda note: click.echo(note, err=True))
    except HarvestError as error:
        raise click.ClickException(str(error))
    click.echo(f"{stats.added} work(s) added, {stats.updated} merged or updated; still missing: "
               + (", ".join(f"{n} {scheme}" for scheme, n in sorted(left.items())) or "none"))
    relink(db)


@cli.group()
def graph():
    """Co-authorship, institution and study networks: build them, then browse or export them."""


@graph.command(name="build")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(graph_module.NETWORKS),
              help="Which network (repeatable) [default: all]")
@click.option("--counting", type=click.Choice(["full", "fractional"]), default="full", show_default=True,
              help="Co-authorship weights: 1 per joint work, or 1/(n-1) per pair of an n-author work")
@click.option("--query", help='Only works matching this search, e.g. --query "exosome"')
@click.option("--from-year", type=int, help="Only works from this year on")
@click.option("--to-year", type=int, help="Only works up to this year")
@click.option("--on-topic", is_flag=True, help="Only works kb classify tagged on topic")
@db_option
def graph_build(kinds, counting, query, from_year, to_year, on_topic, db_file):
    """Build networks and write them to the graph_nodes and graph_edges tables.

    \b
    Each node gets degree, weighted degree, PageRank, betweenness (exact up to 2,000
    nodes, sampled above), its connected component and its Louvain community (fixed seed,
    so runs repeat), labelled by the community's most distinctive MeSH terms or title words.
    Examples:
        kb graph build
        kb graph build --kind coauthorship --counting fractional --query exosome --from-year 2015
        kb graph build --kind institutions --on-topic
    """
    db = open_db(db_path(db_file))
    years = (from_year or 0, to_year or 9999) if (from_year or to_year) else None
    for kind in kinds or graph_module.NETWORKS:
        built = graph_module.build(db, kind, counting, query, years, on_topic)
        click.echo(f"{kind}: {built.number_of_nodes()} nodes, {built.number_of_edges()} edges")


@graph.command(name="export")
@click.option("--kind", type=click.Choice(graph_module.NETWORKS), default="coauthorship", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["graphml", "gexf", "json", "vosviewer", "pajek"]),
              default="graphml", show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False),
              help="File to write (vosviewer writes OUTPUT.map.txt and OUTPUT.network.txt)")
@db_option
def graph_export(kind, fmt, output, db_file):
    """Export a built network: GraphML or GEXF (Gephi, Cytoscape), node-link JSON (web pages),
    VOSviewer map and network files, or Pajek. Nodes carry label, kind, years, metrics and
    community.

    \b
    Example:
        kb graph export --kind institutions --format vosviewer --output institutions
    """
    db = open_db(db_path(db_file))
    network = graph_module.load(db, kind)
    if not network.number_of_nodes():
        raise click.ClickException(f"no {kind} network in the KB: run `kb graph build --kind {kind}` first")
    graph_module.export(network, fmt, output)
    click.echo(f"{kind}: {network.number_of_nodes()} nodes, {network.number_of_edges()} edges written to {output}")


@cli.group()
def authors():
    """Who is who: people behind the author names, and a curator's corrections."""


@authors.command(name="resolve")
@click.option("--all", "everything", is_flag=True, help="Cluster every block again, not only those with new names")
@db_option
def authors_resolve(everything, db_file):
    """Map affiliations to institutions, then cluster author occurrences into people.

    \b
    Occurrences are blocked by surname and first initial. ORCIDs decide first (two ORCIDs
    are never one person); then pairs with coauthors, institutions, departments, given
    names and topics in common are joined from the strongest evidence down. Each person
    in `authors` keeps the evidence and a confidence. Loads and harvests run this by
    themselves for the names they bring; --all reclusters everything.
    """
    from . import institutions

    db = open_db(db_path(db_file))
    click.echo(f"{institutions.resolve(db)} institution(s)")
    occurrences, people = authors_module.resolve(db, everything=everything)
    institutions.count_works(db)
    click.echo(f"{occurrences} author occurrence(s) clustered into {people} people")


@authors.command(name="merge")
@click.argument("author_a", type=int)
@click.argument("author_b", type=int)
@click.option("--note", help="Why (kept with the decision)")
@db_option
def authors_merge(author_a, author_b, note, db_file):
    """Declare that authors AUTHOR_A and AUTHOR_B (authors.id) are one person.

    \b
    The decision is stored in author_curations and wins over the clustering on every rerun.
    Example:
        kb authors merge 123456 987654 --note "same ORCID on her lab page"
    """
    db = open_db(db_path(db_file))
    try:
        person = authors_module.merge_people(db, author_a, author_b, note)
    except ValueError as error:
        raise click.ClickException(str(error))
    click.echo(f"authors {author_a} and {author_b} are now author {person}")


@authors.command(name="split")
@click.argument("author", type=int)
@click.option("--works", "work_ids", required=True, help="Comma-separated works.id values to move to a new person")
@click.option("--note", help="Why (kept with the decision)")
@db_option
def authors_split(author, work_ids, note, db_file):
    """Declare that AUTHOR's occurrences on the given works are another person.

    \b
    The decision is stored in author_curations and wins over the clustering on every rerun.
    Example:
        kb authors split 123456 --works 42,97
    """
    db = open_db(db_path(db_file))
    try:
        person = authors_module.split_person(db, author, [int(w) for w in work_ids.split(",")], note)
    except ValueError as error:
        raise click.ClickException(str(error))
    click.echo(f"works {work_ids} of author {author} now belong to author {person}")


@cli.command(name="classify")
@click.option("--vocabulary", type=click.Path(exists=True, file_okay=False),
              help="A vocabulary folder (default: the bundled stem-cell and exosome therapy for stroke one)")
@db_option
def classify_command(vocabulary, db_file):
    """Tag every work and trial with the kind of evidence it is, then rebuild `evidence` and `gap_map`.

    \b
    Tags (table `tags`, each with its field, the words that justify it and the rule):
    topic and relevance, intervention, cell source, autologous/allogeneic, route, design,
    phase, N, species, stroke type, outcomes and safety. Structured facts (PubMed
    publication types and MeSH, ClinicalTrials.gov phases, allocation, enrollment) win
    over text rules; negated phrases ("not randomised") do not count. The vocabulary is
    a folder of TSV files, one per tag: extend it without touching code. Loads and
    harvests run this by themselves.
    """
    from . import evidence, synthesis

    db = open_db(db_path(db_file))
    summary = evidence.classify(db, vocabulary or evidence.DEFAULT_VOCABULARY)
    click.echo(f"{summary['works']} works and {summary['trials']} trials tagged ({summary['tags']} tags); "
               f"{summary['studies']} studies in `evidence`, {summary['on_topic']} on topic; "
               f"{summary['gap_map_cells']} cells in `gap_map`")
    click.echo(synthesis_summary(synthesis.synthesize(db, vocabulary or evidence.DEFAULT_VOCABULARY)))


@cli.command(name="synthesize")
@db_option
def synthesize_command(db_file):
    """Pool the safety and outcomes of the on-topic studies into the synthesis tables.

    \b
    synthesis_safety: per intervention class and route, treated patients with a serious
      adverse event (posted results of cell-therapy arms; a paper's "no serious adverse
      events" counts as 0 of N only when everyone was treated), with an exact
      (Clopper-Pearson) 95% interval and the studies behind each figure.
    synthesis_meta, synthesis_meta_studies: random-effects (DerSimonian-Laird)
      meta-analyses of controlled trials' posted means of mRS, NIHSS, Barthel Index,
      Fugl-Meyer or infarct volume, pooling only the same measure reported the same way
      at time frames within 30% of each other, and never one study alone.
    synthesis_excluded: every study left out, and why.
    `kb classify` and every load run this by themselves.
    Example:
        kb synthesize --db regenkb.db
    """
    from . import synthesis

    db = open_db(db_path(db_file))
    if not db["evidence"].count:
        raise click.ClickException("no studies in `evidence`: run `kb classify` first")
    click.echo(synthesis_summary(synthesis.synthesize(db)))


def synthesis_summary(summary):
    return (f"{summary['safety']} safety figure(s), {summary['meta']} pooled outcome(s), "
            f"{summary['excluded']} study result(s) left out (table synthesis_excluded)")


@cli.command(name="related")
@click.argument("work")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text")
@db_option
def related_command(work, as_json, db_file):
    """Trials related to WORK (a PMID, DOI or works.id), best first, with the reasons.

    \b
    Explicit links (the paper names the registry number, the trial's references list the
    paper) and probable same-study links come first; then shared institutions and people,
    the same intervention, cell source, route, origin and stroke type, and title words.
    Example:
        kb related 35281985
    """
    db = open_db(db_path(db_file))
    rows = list(db.query(
        "SELECT r.rank, t.nct_id, t.brief_title, t.phases, t.enrollment, r.score, r.reasons FROM related_trials r "
        "JOIN trials t ON t.id = r.trial_id JOIN works w ON w.id = r.work_id "
        "WHERE w.pmid = :work OR w.doi = lower(:work) OR CAST(w.id AS TEXT) = :work ORDER BY r.rank", {"work": work}))
    if not rows and not db.execute("SELECT 1 FROM works WHERE pmid = :work OR doi = lower(:work) "
                                   "OR CAST(id AS TEXT) = :work", {"work": work}).fetchone():
        raise click.ClickException(f"no such work: {work} is not a PMID, DOI or works.id in the KB; "
                                   "find it with `kb search`")
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if not rows:
        raise click.ClickException(f"work {work} has no related trials: `kb classify` ranks them for on-topic works "
                                   "(run it again after adding works or trials)")
    for row in rows:
        click.echo(f"{row['rank']}. {row['nct_id']}  {printable(row['brief_title'])}  (score {row['score']:.2f})\n"
                   f"   {printable(row['reasons'])}")


@cli.command(name="doctor")
@click.option("--fix", is_flag=True, help="Rebuild what is derived from the stored raw records, then check again")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Where --fix recovers a damaged file to  [default: NAME.recovered.db beside it]")
@db_option
def doctor_command(fix, output, db_file):
    """Check a KB: SQLite's and FTS5's integrity checks, full-text indexes in step with
    their tables, no dangling rows, a source record behind every work and trial, people and
    evidence up to date. Exits 1 when it finds a problem.

    \b
    --fix rebuilds every work and trial from its stored raw record (the parsers are pure,
    so nothing is lost), the full-text indexes, and the derived tables (institutions,
    people, study links, evidence), and deletes rows that point at nothing.
    A damaged file (cut short, overwritten, a garbled header) is never changed: --fix
    copies what it still yields into a new KB (--output) and rebuilds that, saying what
    could not be saved.
    Example:
        kb doctor --fix --db regenkb.db
    """
    from . import doctor

    path = db_path(db_file)
    if not os.path.exists(path):
        raise click.ClickException(f"{path} does not exist")
    damage = doctor.diagnose(path)
    if damage:
        for finding in damage:
            click.echo(printable(f"problem: {finding.problem} (--fix will {finding.fix})"))
        if not fix:
            raise SystemExit(1)
        target = output or os.path.splitext(path)[0] + ".recovered.db"
        try:
            done, lost = doctor.recover(path, target)
        except (FileExistsError, doctor.RecoveryFailed) as error:
            raise click.ClickException(str(error)) from None
        for line in done:
            click.echo(f"recovered: {line}")
        for line in lost:
            click.echo(f"lost: {line}")
        click.echo(f"{target}: the recovered KB ({path} is left as it was); check it, then use it in its place")
        return
    db = open_db(path)
    if fix:
        for line in doctor.fix(db):
            click.echo(f"fixed: {line}")
    findings = doctor.check(db)
    for finding in findings:
        click.echo(printable(f"problem: {finding.problem} (--fix will {finding.fix})"))
    if findings:
        raise SystemExit(1)
    click.echo(f"{path}: healthy ({db['works'].count} works, {db['trials'].count} trials)")


@cli.command(name="unmerge")
@click.argument("work_id", type=int)
@click.argument("source", type=click.Choice(["pubmed", "openalex", "europepmc", "crossref", "library"]))
@click.argument("source_id")
@db_option
def unmerge_command(work_id, source, source_id, db_file):
    """Split a wrong merge: move SOURCE's record SOURCE_ID out of work WORK_ID.

    \b
    The record becomes a work of its own, both works are rebuilt from the records they
    keep, and later loads never put the two together again (merge_blocks).
    Example:
        kb unmerge 42 europepmc MED:25349395
    """
    db = open_db(db_path(db_file))
    try:
        new_id = unmerge(db, work_id, source, source_id)
    except UnmergeError as error:
        raise click.ClickException(str(error))
    click.echo(f"{source} {source_id} is now work {new_id}; work {work_id} keeps its other records")
    relink(db)


@cli.command()
@db_option
def link(db_file):
    """Recompute the probably_same_study links between works and trials.

    A work and a trial that share no registry number or PMID are linked when their
    titles, institutions, people, topic, dates and patient numbers agree; each link keeps
    its score and the reasons. Loads and harvests run this by themselves.
    """
    db = open_db(db_path(db_file))
    click.echo(f"{link_studies(db)} probably_same_study link(s)")


@cli.command()
@click.argument("query")
@db_option
@click.option("--trials", is_flag=True, help="Search registered trials instead of works")
@click.option("--limit", default=10, show_default=True, help="How many hits to show")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON array")
def search(query, db_file, trials, limit, as_json):
    """Full-text search of works (or, with --trials, of trials), best match first.

    \b
    Words must all match (stemmed, accents ignored); "quoted phrases" match as phrases,
    word* as a prefix, and AND / OR / NOT work as operators. A title hit outranks a
    MeSH or keyword hit, which outranks an abstract hit; a trial matches on its sites
    (city, facility) and eligibility criteria too, ranked lowest. Synonyms from the topic
    vocabulary, MeSH entry terms of the KB's headings (kb load mesh) and British/American
    spellings are searched too, and said. A PMID, PMCID, DOI, registry number, OpenAlex
    id, ORCID or ROR names its record.
    Examples:
        kb search "placenta exosome craniectomy"
        kb search --trials "exosome stroke"
        kb search 10.4103/ijpvm.ijpvm_441_21
    """
    path = db_path(db_file)
    if not os.path.exists(path):
        raise click.ClickException(f"{path} does not exist: build it with `kb demo --no-serve` or `kb load`")
    found = search_module.find(open_db(path).conn, query, kind="trials" if trials else "works", size=limit)
    hits = found["rows"]
    if as_json:
        for hit in hits:
            hit["snippet"] = search_module.highlight(hit["snippet"], "<mark>", "</mark>")
        click.echo(json.dumps(hits, ensure_ascii=False, indent=2))
        return
    identifier = found["identifier"]
    if identifier:
        named = "; ".join(f"{r['kind']} {r['id']}: {r['label']}" for r in identifier["records"])
        click.echo(printable(f"{identifier['scheme']} {identifier['value']}: {named or 'not in this KB'}"))
    if not hits and not identifier:
        click.echo(f"No {'trials' if trials else 'works'} match {query!r}.")
    start, end = ("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else ("[", "]")
    for number, hit in enumerate(hits, 1):
        if trials:
            about = f"{hit['overall_status']}, {', '.join(json.loads(hit['phases'] or '[]'))}, {hit['lead_sponsor']}"
            ids = f"{hit['nct_id']}, started {hit['year']}, enrollment {hit['enrollment']}"
        else:
            about = f"{hit['year']}, {hit['journal']}"
            ids = ", ".join(f"{k.upper()} {hit[k]}" for k in ("pmid", "doi") if hit[k])
        # Harvested text is escaped before our own bold markers go in.
        click.echo(click.style(f"{number}. {printable(hit['title'])}", bold=True) + f" ({printable(about)})")
        click.echo(f"   {printable(ids)}  [{'trial' if trials else 'work'} {hit['id']}]")
        click.echo("   " + search_module.highlight(printable_snippet(hit["snippet"]), start, end))
    for expansion in found["expanded"]:
        click.echo(f"Also searched {expansion['typed']!r} as {' or '.join(expansion['as'])} ({expansion['why']}).")


@cli.command()
@db_option
@serve_options
@click.option("--immutable", is_flag=True,
              help="Serve a finished KB as immutable (faster counts; other kb commands refuse the KB meanwhile)")
@click.option("--cors", is_flag=True, help="Send CORS headers, so pages on other sites can call the JSON API")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Server processes: one a core answers more clients at once (each holds its own page cache)")
@click.option("--debug-endpoints", is_flag=True,
              help="Show Datasette's debug pages (/-/databases, /-/threads, ...), which name server paths")
def serve(db_file, host, port, immutable, cors, workers, debug_endpoints):
    """Serve a KB with Datasette (read-only, with a SQL time limit).

    \b
    Browse http://127.0.0.1:8001/ (the home page, also at /<db>); the tables and the
    SQL editor are at /<db>/-/tables; search everything at /-/search-all?q=..., a work's
    page is /-/work/<id>, and every table answers JSON, e.g.
    /<db>/works.json?_search=exosome&_shape=array (docs/api.md has more).
    """
    path = db_path(db_file)
    if not os.path.exists(path):
        raise click.ClickException(f"{path} does not exist: build it with `kb demo --no-serve` or `kb load`")
    serve_module.upgrade(path, immutable)
    serve_module.serve(path, host, port, immutable=immutable, cors=cors, workers=workers,
                       debug_endpoints=debug_endpoints)
