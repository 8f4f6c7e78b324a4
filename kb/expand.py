"""Snowballing, as systematic reviewers do: fetch the works the KB's works cite, are cited
by or are related to, which the KB does not hold yet (the link stubs), then resolve the
references that name no work by an identifier to the works of the KB their titles name."""

import io

from harvest import openalex, pubmed

from .ingest import LoadStats, store_institutions
from .load import WorkLoader
from .references import resolve_by_title

RELATIONS = ("cites", "cited_by", "related", "related_review", "version_of")


def missing(db, relations=RELATIONS):
    """{scheme: [identifier, ...]} of link targets no work in the KB answers to yet."""
    marks = ", ".join("?" for _ in relations)
    found = {}
    for scheme, identifier in db.execute(
            f"SELECT DISTINCT to_scheme, to_id FROM links WHERE to_work_id IS NULL AND to_trial_id IS NULL "
            f"AND from_work_id IS NOT NULL AND relation IN ({marks}) ORDER BY to_scheme, to_id", relations):
        found.setdefault(scheme, []).append(identifier)
    return found


def library_only(db):
    """{scheme: [identifier, ...]} of works only a researcher's reference file describes
    (`kb load library`): their full records are fetched like missing link targets, by PMID
    from PubMed, else by DOI."""
    found = {}
    for pmid, doi in db.execute(
            "SELECT pmid, doi FROM works WHERE id IN (SELECT work_id FROM records WHERE work_id IS NOT NULL "
            "GROUP BY work_id HAVING min(source) = 'library' AND max(source) = 'library') ORDER BY id"):
        if pmid or doi:
            found.setdefault("pmid" if pmid else "doi", []).append(pmid or doi)
    return found


def expand(db, pubmed_client, openalex_client, depth=1, limit=None, progress=lambda note: None):
    """Fetch missing link targets, `depth` rounds deep: PMIDs from PubMed, OpenAlex ids and
    DOIs from OpenAlex, and the full records of works only a reference file describes; then
    match the references still unresolved to works by title. Returns LoadStats and
    {scheme: identifiers still missing}."""
    stats = LoadStats()
    for round_ in range(1, depth + 1):
        targets = missing(db)
        for scheme, identifiers in library_only(db).items():
            targets[scheme] = sorted(set(targets.get(scheme, [])) | set(identifiers))
        if limit:
            targets = {scheme: ids[:limit] for scheme, ids in targets.items()}
        if not any(targets.get(s) for s in ("pmid", "openalex", "doi")):
            break
        loader = WorkLoader(db, pubmed.SOURCE)
        for body in pubmed_client.fetch_ids(targets.get("pmid", [])):
            stats += loader.write_batch(list(pubmed.iter_articles(io.BytesIO(body), "expand")), "expand pmid")
        loader = WorkLoader(db, openalex.SOURCE)
        for key, scheme in (("openalex", "openalex"), ("doi", "doi")):
            for body in openalex_client.works_by(key, targets.get(scheme, [])):
                stats += loader.write_batch(openalex.parse_payload(body, f"expand {key}")[0], f"expand {key}")
        progress(f"round {round_}: {stats.added} work(s) added so far")
    with db.atomic():
        resolved = resolve_by_title(db)
    progress(f"{resolved} reference(s) matched to a work of the KB by title")
    fetch_institutions(db, openalex_client, progress)
    return stats, {scheme: len(ids) for scheme, ids in missing(db).items()}


def fetch_institutions(db, client, progress=lambda note: None):
    """Institutions the works' affiliations name (OpenAlex ids) but the KB does not describe yet."""
    wanted = [row[0] for row in db.execute(
        "SELECT DISTINCT openalex_id FROM affiliations WHERE openalex_id IS NOT NULL "
        "AND openalex_id NOT IN (SELECT openalex_id FROM institutions WHERE fetched_from = 'openalex') ORDER BY openalex_id")]
    stored = 0
    for body in client.institutions_by(wanted):
        stored += len(store_institutions(db, openalex.parse_payload(body, "institutions")[1]["entities"]))
    if wanted:
        progress(f"{stored} of {len(wanted)} missing institution(s) fetched from OpenAlex")
    return stored
