"""Crossref, field by field: what the KB stores against what each saved answer says.

The expected values are read from the JSON here with json alone (never with
harvest.crossref): DOI, title, year, journal, ISSN, volume, issue, pages, authors in order
(personal and group names), each author's affiliation strings and ORCID, and the number of
references (reference lists themselves are checked in test_fidelity_references).
"""

import json
import re

import pytest
from test_conformance_real import files_of, real_data

from kb.ingest import LoadError, load_works_file


def works_in(path):
    """The work objects of a saved Crossref answer, or None for a file that is no Crossref JSON."""
    try:
        payload = json.loads(path.read_bytes())
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("status") not in (None, "ok"):
        return None
    message = payload.get("message", payload)
    if not isinstance(message, dict) or not message.keys() & {"DOI", "items", "total-results"}:
        return None
    return message.get("items", [message] if "DOI" in message else [])


def year_of(work):
    for key in ("published-print", "published", "issued", "published-online"):
        parts = ((work.get(key) or {}).get("date-parts") or [[None]])[0]
        if parts and parts[0] is not None:
            return int(parts[0])
    return None


def first(value):
    """Crossref lists titles; CSL-JSON (/transform) gives them as strings."""
    return (value[0] if value else None) if isinstance(value, list) else value


# NEJM-style strings tag each institution with its authors' initials: "(J.S., P.G.)".
INITIALS_TAG = re.compile(r"\s*\((?:[A-Z]\.(?:-?[A-Z]\.)*(?:,\s*)?)+\)")


def written(text):
    """An affiliation string as the KB keeps it: spaces collapsed, initials tags and edge
    punctuation dropped."""
    return " ".join(INITIALS_TAG.sub("", text).split()).strip(" .;,")


def fidelity_checks(db, work):
    """(work, field, expected, stored) for every field of one Crossref work."""
    doi = work["DOI"].lower()
    row = db.execute("SELECT id, title, year, journal, issn, volume, issue, pages FROM works WHERE doi = ?",
                     [doi]).fetchone()
    yield doi, "stored as one work", True, row is not None
    if row is None:
        return
    work_id, *stored = row
    yield doi, "title", first(work.get("title")), stored[0]
    yield doi, "year", year_of(work), stored[1]
    yield doi, "journal", first(work.get("container-title")), stored[2]
    yield doi, "issn", first(work.get("ISSN")), stored[3]
    yield doi, "volume", work.get("volume"), stored[4]
    yield doi, "issue", work.get("issue") or (work.get("journal-issue") or {}).get("issue"), stored[5]
    yield doi, "pages", work.get("page"), stored[6]
    authors = work.get("author") or []
    rows = db.execute("SELECT wa.position, n.last_name, n.is_collective, n.name, n.orcid FROM work_authors wa "
                      "JOIN author_names n ON n.id = wa.name_id WHERE wa.work_id = ? ORDER BY wa.position",
                      [work_id]).fetchall()
    yield doi, "author count", len(authors), len(rows)
    for position, (author, row) in enumerate(zip(authors, rows), 1):
        if author.get("family"):
            yield doi, f"author {position} surname", author["family"].casefold(), (row[1] or "").casefold()
        else:
            yield doi, f"author {position} is a group named as written", (1, author.get("name")), (row[2], row[3])
        orcid = re.search(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", author.get("ORCID") or "")
        yield doi, f"author {position} orcid", orcid and orcid.group(0), row[4]
        expected = sorted({written(a["name"]) for a in author.get("affiliation") or [] if a.get("name")})
        stored_names = sorted({name for name, in db.execute(
            "SELECT a.name FROM work_author_affiliations waa JOIN affiliations a ON a.id = waa.affiliation_id "
            "WHERE waa.work_id = ? AND waa.position = ?", [work_id, position])})
        # One string may be stored as the institutions it names, each a part of the string.
        yield doi, f"author {position} affiliations", expected, sorted(
            {next((text for text in expected if name in text or text in name), name) for name in stored_names})
    yield doi, "references", len(work.get("reference") or []), db.execute(
        "SELECT count(*) FROM work_references WHERE work_id = ? AND source = 'crossref'", [work_id]).fetchone()[0]


@pytest.mark.parametrize("name", files_of("crossref"))
def test_every_recorded_crossref_work_is_stored_field_by_field(db, name):
    path = real_data() / "crossref" / name
    assert path.is_file(), f"{path} is missing"
    works = works_in(path)
    if works is None:
        with pytest.raises(LoadError, match=re.escape(name)):
            load_works_file(db, "crossref", path)
        return
    load_works_file(db, "crossref", path)
    assert db["works"].count == len({work["DOI"].lower() for work in works})
    checks = [check for work in works for check in fidelity_checks(db, work)]
    assert len(checks) >= len(works) * 9
    assert [check for check in checks if check[2] != check[3]] == []


def test_a_deposited_ror_id_ties_a_crossref_affiliation_to_its_institution(db, tmp_path):
    # The shape Crossref gives since 2023 when a publisher deposits ROR ids (facts of PMID 35281985).
    work = {"DOI": "10.1186/s13287-022-02771-2", "type": "journal-article", "title": ["Placenta exosomes"],
            "issued": {"date-parts": [[2022, 3, 12]]},
            "author": [{"given": "Leila", "family": "Dehghani", "sequence": "first", "affiliation": [
                {"name": "Shahid Beheshti University of Medical Sciences, Tehran, Iran",
                 "id": [{"id": "https://ror.org/034m2b326", "id-type": "ROR", "asserted-by": "publisher"}]},
                {"name": "Stem Cell Bank, Tehran, Iran"}]}]}
    path = tmp_path / "work.json"
    path.write_text(json.dumps({"status": "ok", "message-type": "work", "message": work}))
    load_works_file(db, "crossref", path)
    rows = db.execute("SELECT a.name, a.ror FROM work_author_affiliations waa JOIN affiliations a "
                      "ON a.id = waa.affiliation_id ORDER BY waa.number").fetchall()
    assert [tuple(r) for r in rows] == [("Shahid Beheshti University of Medical Sciences, Tehran, Iran",
                                         "https://ror.org/034m2b326"), ("Stem Cell Bank, Tehran, Iran", None)]
