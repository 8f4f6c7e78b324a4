"""OpenAlex, field by field: what the KB stores against what each work object says.

The expected values are read from the JSON here with json alone (never with harvest.openalex):
title, DOI, PMID, year, authors in order, each author's affiliation strings with the
institutions (ROR, OpenAlex id) each string names, those institutions' rows, and the number
of referenced works.
"""

import copy
import gzip
import json
import re

import pytest
from click.testing import CliRunner
from test_conformance_real import files_of, real_data

from harvest import openalex
from kb import institutions
from kb.cli import cli
from kb.ingest import LoadError, load_works_file

from conftest import FIXTURES

PART = FIXTURES / "openalex" / "part_000.jsonl"
ISCHOOL = "Information School, University of Washington, Seattle, USA"
UW, SEATTLE_U = "https://ror.org/00cvxb145", "https://ror.org/02jqc0m91"


def key_of(url):
    return (url or "").rstrip("/").rsplit("/", 1)[-1] or None


def written(text):
    """An affiliation string as the KB writes it: spaces collapsed, edge punctuation dropped."""
    return " ".join(text.split()).strip(" .;,")


def works_in(path):
    """The work objects of a saved OpenAlex file (a JSON answer or JSON Lines, gzipped or not),
    or None for a file that is not OpenAlex JSON."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        payloads = [json.loads(data)]
    except ValueError:
        try:
            payloads = [json.loads(line) for line in data.splitlines() if line.strip()]
        except ValueError:
            return None
    objects = []
    for payload in payloads:
        if isinstance(payload, dict) and "results" in payload:
            objects += payload["results"]
        elif isinstance(payload, list):
            objects += payload
        elif isinstance(payload, dict):
            objects.append(payload)
    # A work fetched with a narrow select= may have no id at all (only its DOI).
    return [o for o in objects if isinstance(o, dict) and (key_of(o.get("id")) or "W").startswith("W")]


def expected_affiliations(authorship):
    """{string: {(ror key, openalex key)}} of one authorship, from its JSON: affiliations[] says
    which institutions each string names; without it strings and institutions pair by position
    when their counts match; institutions no string names stand under their own names."""
    listed = {key_of(i["id"]): i for i in authorship.get("institutions") or []}
    strings = authorship.get("raw_affiliation_strings") or (
        [authorship["raw_affiliation_string"]] if authorship.get("raw_affiliation_string") else [])
    if "affiliations" in authorship:
        pairs = [(a["raw_affiliation_string"], [key_of(i) for i in a.get("institution_ids") or []])
                 for a in authorship["affiliations"] or []] + [(text, []) for text in strings]
    elif len(strings) == len(listed):
        pairs = [(text, [key]) for text, key in zip(strings, listed)]
    else:
        pairs = [(text, []) for text in strings]
    expected, named = {}, set()
    for text, keys in pairs:
        if text and written(text):
            expected.setdefault(written(text), set()).update(
                (key_of((listed.get(key) or {}).get("ror")), key) for key in keys)
            named.update(keys)
    for key, institution in listed.items():
        if key not in named and institution.get("display_name"):
            expected.setdefault(written(institution["display_name"]), set()).add((key_of(institution.get("ror")), key))
    return expected


def stored_affiliations(db, work_id, position, strings):
    """The same shape from the KB; a row split off a string counts under that string."""
    stored = {}
    for name, ror, openalex_id in db.execute(
            "SELECT a.name, a.ror, a.openalex_id FROM work_author_affiliations waa "
            "JOIN affiliations a ON a.id = waa.affiliation_id WHERE waa.work_id = ? AND waa.position = ?",
            [work_id, position]):
        owner = next((text for text in strings if name == text), None) or next(
            (text for text in strings if name in text), name)
        named = stored.setdefault(owner, set())
        if ror or openalex_id:
            named.add((key_of(ror), openalex_id))
    return stored


def fidelity_checks(db, work):
    """(work, field, expected, stored) for every field of one work object."""
    key = key_of(work.get("id"))
    ids = work.get("ids") or {}
    source_doi = work.get("doi") or ids.get("doi")
    doi_key = re.sub(r"^https?://(dx\.)?doi\.org/", "", source_doi).lower() if source_doi else None
    row = db.execute("SELECT id, title, doi, pmid, year FROM works WHERE openalex_id = ? OR (? IS NULL AND doi = ?)",
                     [key, key, doi_key]).fetchone()
    key = key or doi_key
    yield key, "stored as one work", True, row is not None
    if row is None:
        return
    work_id, title, doi, pmid, year = row
    yield key, "title", work.get("title") or work.get("display_name"), title
    yield key, "doi", doi_key, doi
    yield key, "pmid", key_of(ids.get("pmid")), pmid
    yield key, "year", work.get("publication_year"), year
    authorships = work.get("authorships") or []
    stored_names = [name for name, in db.execute(
        "SELECT n.name FROM work_authors wa JOIN author_names n ON n.id = wa.name_id WHERE wa.work_id = ? "
        "ORDER BY wa.position", [work_id])]
    yield key, "authors in order", [(a.get("author") or {}).get("display_name") or a.get("raw_author_name")
                                    for a in authorships], stored_names
    named = {}
    for position, authorship in enumerate(authorships, 1):
        expected = expected_affiliations(authorship)
        stored = stored_affiliations(db, work_id, position, list(expected))
        for text, institutions_named in expected.items():
            yield key, f"author {position} at {text[:60]!r}: its institutions", institutions_named, stored.get(text)
        yield key, f"author {position}: no other affiliation", [], sorted(set(stored) - set(expected))
        named.update({key_of(i["id"]): i for i in authorship.get("institutions") or []})
    for openalex_id, institution in sorted(named.items()):
        yield key, f"institution {openalex_id} (ror, name)", (
            key_of(institution.get("ror")), institution.get("display_name")), db.execute(
            "SELECT substr(ror, 17), name FROM institutions WHERE openalex_id = ?", [openalex_id]).fetchone()
    yield key, "referenced works", len({key_of(w) for w in work.get("referenced_works") or []}), db.execute(
        "SELECT count(*) FROM links WHERE from_work_id = ? AND relation = 'cites'", [work_id]).fetchone()[0]


def wrong_fields(db, works):
    checks = [check for work in works for check in fidelity_checks(db, work)]
    assert checks
    return [check for check in checks if check[2] != check[3]]


@pytest.mark.parametrize("name", files_of("openalex"))
def test_every_recorded_openalex_work_is_stored_field_by_field(db, name):
    path = real_data() / "openalex" / name
    assert path.is_file(), f"{path} is missing"
    works = works_in(path)
    if works is None:
        with pytest.raises(LoadError, match=re.escape(name)):
            load_works_file(db, "openalex", path)
        return
    load_works_file(db, "openalex", path)
    institutions.resolve(db)
    if not works:  # an author, institution, source, topic or concept entity
        assert db["works"].count == 0
        return
    assert db["works"].count == len({key_of(work.get("id")) or work["doi"] for work in works})
    assert wrong_fields(db, works) == []


# ---------------------------------------------------------------- our snapshot part

def fixture_works():
    return [json.loads(line) for line in PART.read_text(encoding="utf-8").splitlines()]


def snapshot_part(folder, lines):
    """A part file where the OpenAlex snapshot keeps it, gzipped."""
    path = folder / "data" / "works" / "updated_date=2025-09-09" / "part_000.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"".join(line.rstrip(b"\n") + b"\n" for line in lines)))
    return path


def authorship_of(work, name):
    return next(a for a in work["authorships"] if a["author"]["display_name"] == name)


def institutions_named(record, last_name):
    author = next(a for a in record["authors"] if a["last_name"] == last_name)
    return [(a["name"], a["identifiers"].get("ror"), a["identifiers"].get("openalex")) for a in author["affiliations"]]


def test_each_affiliation_string_gets_the_institutions_openalex_maps_it_to():
    record = openalex.parse_work(fixture_works()[0])
    assert institutions_named(record, "Larivière") == [
        ("Observatoire des Sciences et des Technologies (OST), Centre Interuniversitaire de Recherche sur la Science "
         "et la Technologie (CIRST), Université du Québec à Montréal, Montréal, QC, Canada",
         "https://ror.org/002rjbv21", "I159129438"),
        ("École de bibliothéconomie et des sciences de l’information, Université de Montréal, Montréal, QC, "
         "Canada",
         "https://ror.org/0161xgx34", "I70931966")]
    assert institutions_named(record, "Norlander") == [
        ("FlourishOA, USA", None, None), (ISCHOOL, UW, "I201448701"), (ISCHOOL, SEATTLE_U, "I58610484")]
    seattle = next(a for a in record["authors"][5]["affiliations"] if a["identifiers"].get("ror") == SEATTLE_U)
    assert seattle["institution"] == "Seattle University" and seattle["identifiers"]["country"] == "US"


def test_an_institution_no_string_names_stays_with_the_author_under_its_own_name():
    work = fixture_works()[0]
    west = authorship_of(work, "Jevin D. West")
    west["affiliations"][0]["institution_ids"] = ["https://openalex.org/I201448701"]
    assert institutions_named(openalex.parse_work(work), "West") == [
        (ISCHOOL, UW, "I201448701"), ("Seattle University", SEATTLE_U, "I58610484")]


def test_without_affiliations_strings_pair_with_institutions_by_position_only_when_counts_match():
    work = fixture_works()[0]
    for authorship in work["authorships"]:
        del authorship["affiliations"]
    record = openalex.parse_work(work)
    assert institutions_named(record, "Haustein")[1] == (
        "School of Information Studies, University of Ottawa, Ottawa, ON, Canada", "https://ror.org/03c4mmv16",
        "I153718931")
    # One string, two institutions: nothing says which, so the string stands alone.
    assert institutions_named(record, "West") == [
        (ISCHOOL, None, None), ("University of Washington", UW, "I201448701"),
        ("Seattle University", SEATTLE_U, "I58610484")]


def test_a_snapshot_part_stores_each_string_at_each_institution_it_names(db, tmp_path):
    path = snapshot_part(tmp_path, PART.read_bytes().splitlines())
    stats, _ = load_works_file(db, "openalex", path)
    institutions.resolve(db)
    assert stats.added == 3 and wrong_fields(db, fixture_works()) == []
    norlander = db.execute(
        "SELECT a.name, a.ror, waa.number, i.name FROM work_authors wa "
        "JOIN work_author_affiliations waa USING (work_id, position) JOIN affiliations a ON a.id = waa.affiliation_id "
        "LEFT JOIN institutions i ON i.id = a.institution_id JOIN works w ON w.id = wa.work_id "
        "WHERE w.openalex_id = 'W2741809807' AND wa.position = 6 ORDER BY waa.number, a.ror").fetchall()
    assert norlander == [("FlourishOA, USA", None, 7, "FlourishOA"), (ISCHOOL, UW, 8, "University of Washington"),
                         (ISCHOOL, SEATTLE_U, 8, "Seattle University")]
    assert db.execute("SELECT count(*) FROM institutions WHERE ror IS NOT NULL AND openalex_id IS NULL"
                      ).fetchone()[0] == 0


def test_a_string_stored_first_at_no_institution_does_not_hide_the_institutions_a_later_work_names(db, tmp_path):
    plain = copy.deepcopy(fixture_works()[2])
    plain["id"] = plain["ids"]["openalex"] = "https://openalex.org/W1"
    plain["doi"] = plain["ids"]["doi"] = "https://doi.org/10.5555/1"
    del plain["ids"]["pmid"]
    ischool = authorship_of(plain, "Sam Cox")
    ischool["raw_affiliation_strings"] = [ISCHOOL]
    ischool["affiliations"] = [{"raw_affiliation_string": ISCHOOL, "institution_ids": []}]
    ischool["institutions"] = []
    (tmp_path / "first.json").write_text(json.dumps(plain))
    load_works_file(db, "openalex", tmp_path / "first.json")
    load_works_file(db, "openalex", snapshot_part(tmp_path, PART.read_bytes().splitlines()))
    institutions.resolve(db)
    assert wrong_fields(db, fixture_works()) == []


def test_a_bad_line_in_a_snapshot_part_is_quarantined_by_its_number_and_the_rest_load(db, tmp_path):
    lines = PART.read_bytes().splitlines()
    path = snapshot_part(tmp_path, [lines[0], b'{"id": "https://openalex.org/W9", "title": "cut', *lines[1:]])
    stats, _ = load_works_file(db, "openalex", path)
    assert (stats.added, stats.quarantined) == (3, 1)
    assert db.execute("SELECT record_id, origin FROM quarantine").fetchall() == [("line 2", str(path))]


def test_a_damaged_snapshot_part_is_a_load_error_naming_it_after_the_works_before_the_damage(db, tmp_path):
    path = snapshot_part(tmp_path, PART.read_bytes().splitlines() * 40)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(LoadError, match=re.escape(str(path))):
        load_works_file(db, "openalex", path, batch_size=1)
    assert db["works"].count == 3


def test_a_plain_json_lines_file_loads_through_the_cli(tmp_path):
    result = CliRunner().invoke(cli, ["load", "openalex", str(PART), "--db", str(tmp_path / "kb.db")])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output


def test_snapshot_lines_are_read_one_at_a_time():
    lines = PART.read_bytes().splitlines()
    read = []
    stream = openalex.parse_lines((read.append(n) or line for n, line in enumerate(lines)), "part", [])
    assert next(stream)["openalex_id"] == "W2741809807" and read == [0]


def test_a_string_openalex_ties_to_institutions_stays_whole_even_one_missing_from_institutions(db, tmp_path):
    # Two affiliations in one string, as some publishers write them; OpenAlex maps the string to
    # both institutions but lists only one of them in `institutions`.
    work = fixture_works()[0]
    alperin = authorship_of(work, "Juan Pablo Alperín")
    both = "Canadian Institute for Studies in Publishing, Simon Fraser University, Vancouver, BC, Canada; " \
           "Public Knowledge Project, Canada"
    alperin["raw_affiliation_strings"] = [both]
    alperin["affiliations"] = [{"raw_affiliation_string": both, "institution_ids": [
        "https://openalex.org/I18014758", "https://openalex.org/I4387153203"]}]
    alperin["institutions"] = alperin["institutions"][:1]
    (tmp_path / "work.json").write_text(json.dumps(work))
    load_works_file(db, "openalex", tmp_path / "work.json")
    institutions.resolve(db)
    assert wrong_fields(db, [work]) == []
    assert db.execute("SELECT a.name, a.ror, a.openalex_id FROM work_author_affiliations waa "
                      "JOIN affiliations a ON a.id = waa.affiliation_id WHERE waa.position = 4 ORDER BY a.openalex_id"
                      ).fetchall() == [(both, "https://ror.org/0213rcc28", "I18014758"), (both, None, "I4387153203")]


def test_an_empty_affiliations_list_pairs_nothing_by_position():
    # The current schema, saying no string names an institution: position would guess.
    work = fixture_works()[0]
    haustein = authorship_of(work, "Stefanie Haustein")
    haustein["affiliations"] = []
    assert [ror for _, ror, _ in institutions_named(openalex.parse_work(work), "Haustein")] == [
        None, None, "https://ror.org/002rjbv21", "https://ror.org/03c4mmv16"]
