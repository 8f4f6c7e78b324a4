"""Every reference of every recorded real file is in the KB, in its order, with its text.

The expected lists come from the files themselves, read here with xml.etree, json and csv
(not with regenkb's parsers): PubMed <Reference> entries, Crossref reference[] entries and
ClinicalTrials.gov references (API v2, classic v1, legacy XML). Each check is a
(what, from the file, from the KB) triple; `checks_of` is what the closing report counts.
"""

import csv
import gzip
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kb.ingest import load_ctgov_file, load_pubmed_file, load_works_file

from test_conformance_real import files_of, real_data


def text(element):
    """An element's text as a citation is stored: inline markup flattened, whitespace collapsed."""
    if element is None:
        return None
    return " ".join("".join(element.itertext()).split()) or None


def pubmed_root(path):
    data = path.read_bytes()
    data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    return root if root.tag == "PubmedArticleSet" else None


def files_with(source, reader):
    """The files of a source that `reader` recognises; a missing folder gives one name that fails."""
    names = files_of(source)
    if names == ["<missing>"]:
        return names
    folder = Path(os.environ["REGENKB_REAL_DATA"]) / source
    return [name for name in names if reader(folder / name)] or ["<missing>"]


def pubmed_expected(root):
    """{pmid: (the article's DOI, [(citation, pmid, doi, pmcid), ...])} for each article of an efetch file."""
    found = {}
    for article in root:
        if article.tag == "PubmedArticle":
            pmid = article.findtext("MedlineCitation/PMID").strip()
        elif article.tag == "PubmedBookArticle":
            pmid = article.findtext("BookDocument/PMID").strip()
        else:
            continue
        doi = next((i.text.strip().lower() for i in article.iterfind("PubmedData/ArticleIdList/ArticleId")
                    if i.get("IdType") == "doi" and i.text), None)
        references = []
        for reference in article.iter("Reference"):
            ids = {}
            for article_id in reference.iterfind("ArticleIdList/ArticleId"):
                if article_id.text and article_id.text.strip():
                    ids.setdefault(article_id.get("IdType"), article_id.text.strip())
            references.append((text(reference.find("Citation")), ids.get("pubmed"),
                               ids["doi"].lower() if "doi" in ids else None,
                               ids["pmc"].upper() if "pmc" in ids else None))
        found[pmid] = (doi, references)
    return found


def stored(db, where, arguments):
    return db.execute("SELECT r.citation, r.pmid, r.doi, r.pmcid, r.cited_work_id, r.title FROM work_references r "
                      f"JOIN works w ON w.id = r.work_id WHERE {where} ORDER BY r.position", arguments).fetchall()


def pubmed_checks(db, path):
    expected = pubmed_expected(pubmed_root(path))
    load_pubmed_file(db, path)
    in_file = {("pmid", pmid) for pmid in expected} | {("doi", doi) for doi, _ in expected.values() if doi}
    checks = []
    for pmid, (_, references) in expected.items():
        rows = stored(db, "w.pmid = ? AND r.source = 'pubmed'", [pmid])
        checks.append((f"{pmid}: number of references", len(references), len(rows)))
        for position, ((citation, cited_pmid, doi, pmcid), row) in enumerate(zip(references, rows), 1):
            where = f"{pmid} reference {position}"
            checks.append((f"{where}: citation", citation, row[0]))
            checks.append((f"{where}: PMID", cited_pmid, row[1]))
            if doi:
                checks.append((f"{where}: DOI", doi, row[2]))
            checks.append((f"{where}: PMCID", pmcid, row[3]))
            # Resolved exactly when one of its identifiers names a work of this file.
            names = {("pmid", cited_pmid), ("doi", doi)} & in_file
            checks.append((f"{where}: resolved", bool(names), row[4] is not None))
    return checks


def crossref_works(path):
    if path.suffix != ".json":
        return None
    try:
        payload = json.loads(path.read_bytes())
    except ValueError:
        return None
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict):
        return None
    return [item for item in message.get("items", [message]) if item.get("DOI")]


def crossref_checks(db, path):
    works = crossref_works(path)
    load_works_file(db, "crossref", path)
    checks = []
    for work in works:
        doi = work["DOI"].lower()
        references = work.get("reference") or []
        rows = stored(db, "w.doi = ? AND r.source = 'crossref'", [doi])
        checks.append((f"{doi}: number of references", len(references), len(rows)))
        for position, (reference, row) in enumerate(zip(references, rows), 1):
            where = f"{doi} reference {position} ({reference.get('key')})"
            checks.append((f"{where}: DOI", reference["DOI"].lower() if reference.get("DOI") else None, row[2]))
            checks.append((f"{where}: article title", reference.get("article-title"), row[5]))
            if reference.get("unstructured"):
                checks.append((f"{where}: citation", reference["unstructured"], row[0]))
            elif not reference.get("DOI"):
                # No text of its own: the citation written from its fields holds each of them.
                for field in ("author", "article-title", "journal-title", "volume-title", "year", "volume",
                              "first-page"):
                    if reference.get(field):
                        checks.append((f"{where}: citation holds its {field}", True,
                                       reference[field].rstrip(".") in (row[0] or "")))
    return checks


def ctgov_expected(path):
    """{nct_id: [(type or None, citation, pmid), ...]} of a ClinicalTrials.gov file, or None."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return {row["NCT Number"]: [] for row in csv.DictReader(handle)}
    if path.suffix == ".xml":
        root = ET.parse(path).getroot()
        if root.tag == "rss":
            return {item.findtext("guid"): [] for item in root.iter("item")}
        references = [(None, text(ref.find("citation")), text(ref.find("PMID")))
                      for ref in root if ref.tag in ("reference", "results_reference")]
        return {root.findtext("id_info/nct_id"): references}
    payload = json.loads(path.read_bytes())
    if "StudyFieldsResponse" in payload:
        return {nct: [] for study in payload["StudyFieldsResponse"]["StudyFields"] for nct in study["NCTId"]}
    if "FullStudiesResponse" in payload:
        found = {}
        for study in payload["FullStudiesResponse"]["FullStudies"]:
            protocol = study["Study"]["ProtocolSection"]
            module = protocol.get("ReferencesModule", {}).get("ReferenceList", {})
            found[protocol["IdentificationModule"]["NCTId"]] = [
                (r.get("ReferenceType", "").upper() or None, r.get("ReferenceCitation"), r.get("ReferencePMID"))
                for r in module.get("Reference", [])]
        return found
    found = {}
    for study in payload.get("studies", [payload]):
        protocol = study["protocolSection"]
        found[protocol["identificationModule"]["nctId"]] = [
            (r.get("type"), r.get("citation"), r.get("pmid"))
            for r in protocol.get("referencesModule", {}).get("references", [])]
    return found


def ctgov_checks(db, path):
    expected = ctgov_expected(path)
    load_ctgov_file(db, path)
    checks = []
    for nct_id, references in expected.items():
        rows = db.execute("SELECT r.type, r.citation, r.pmid, r.cited_work_id FROM trial_references r "
                          "JOIN trials t ON t.id = r.trial_id WHERE t.nct_id = ? ORDER BY r.position",
                          [nct_id]).fetchall()
        checks.append((f"{nct_id}: number of references", len(references), len(rows)))
        for position, ((kind, citation, pmid), row) in enumerate(zip(references, rows), 1):
            where = f"{nct_id} reference {position}"
            if kind:
                checks.append((f"{where}: type", kind, row[0]))
            checks.append((f"{where}: citation", citation, row[1]))
            checks.append((f"{where}: PMID", pmid, row[2]))
            # A trial file holds no works: every reference waits for its work.
            checks.append((f"{where}: unresolved", True, row[3] is None))
    return checks


CHECKS = {"pubmed": (pubmed_root, pubmed_checks), "crossref": (crossref_works, crossref_checks),
          "ctgov": (lambda path: path.suffix in (".csv", ".xml", ".json"), ctgov_checks)}


def checks_of(db, source, name):
    return CHECKS[source][1](db, real_data() / source / name)


@pytest.mark.parametrize("source,name", [(source, name) for source, (reader, _) in CHECKS.items()
                                         for name in files_with(source, reader)])
def test_every_reference_of_a_real_file_is_stored_in_order_with_its_text(db, source, name):
    assert (real_data() / source / name).is_file(), f"{source}/{name} is missing"
    checks = checks_of(db, source, name)
    assert checks
    assert [check for check in checks if check[1] != check[2]] == []
