"""People and institutions named by a search (kb.search.named) come from the name indexes
authors_fts and institutions_fts, which follow every write of people and institutions."""

import json
import sqlite3
import unicodedata

import pytest

from harvest.records import new_author, new_work
from kb import demo, doctor
from kb.db import insert_rows, names_indexed, open_db
from kb.ingest import load_works_file, refresh
from kb.load import WorkLoader
from kb.search import named

from test_conformance_real import of_kind, real_data


@pytest.fixture(scope="module")
def demo_kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("names") / "regenkb.db"
    db = open_db(str(path))
    demo.build(db)
    return db, path


def words_of(text):
    """The words of a name, folded as a reader would: case and accents aside."""
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return "".join(c if c.isalnum() else " " for c in plain).split()


def expected(db, table, query):
    """The ids of the rows with, for each word of the query (one letter is no word), a word of
    the name or a name form starting with it; computed from the rows themselves."""
    wanted = [w for w in words_of(query) if len(w) > 1]
    return {row_id for row_id, name, forms in db.execute(f"SELECT id, name, name_forms FROM {table}")
            if all(any(w.startswith(q) for w in words_of(name) + words_of(" ".join(json.loads(forms or "[]"))))
                   for q in wanted)}


@pytest.mark.parametrize("query", ["lotv", "LÖTVALL jan", "li yi", "y li", "bang oh", "isfahan univ", "medical sci",
                                   "tarbiat", "stem cell"])
def test_a_search_names_the_people_and_institutions_with_a_word_starting_with_each_word_typed(demo_kb, query):
    db, _ = demo_kb
    found = named(db.conn, query, limit=1000)
    people, institutions = expected(db, "authors", query), expected(db, "institutions", query)
    assert {p["id"] for p in found["people"]} == people
    assert {i["id"] for i in found["institutions"]} == institutions
    assert people or institutions
    works = [p["works"] for p in found["people"]]
    assert works == sorted(works, reverse=True)


def test_a_word_is_matched_from_its_start_not_inside_it(demo_kb):
    db, _ = demo_kb
    assert [p["name"] for p in named(db.conn, "lotvall")["people"]] == ["Jan Lötvall"]
    assert named(db.conn, "otvall") == {"people": [], "institutions": []}


def test_an_older_kb_gains_name_indexes_filled_from_its_people_and_institutions(demo_kb, tmp_path):
    db, path = demo_kb
    reopened = open_db(altered_copy(path, tmp_path / "older.db", "DROP TABLE authors_fts", "DROP TABLE institutions_fts"))
    assert reopened["authors_fts"].count == db["authors"].count > 400
    assert reopened["institutions_fts"].count == db["institutions"].count > 30
    for query in ("li", "isfahan", "bang oh"):
        assert named(reopened.conn, query) == named(db.conn, query)


def test_a_name_index_out_of_step_is_found_by_the_doctor_and_fixed(demo_kb, tmp_path):
    _, path = demo_kb
    db = open_db(altered_copy(
        path, tmp_path / "copy.db", "DELETE FROM authors_fts WHERE rowid IN (SELECT id FROM authors ORDER BY id LIMIT 2)",
        "INSERT INTO institutions_fts (rowid, name, name_forms) VALUES (42, 'Gone University', '[]')"))
    problems = [finding.problem for finding in doctor.check(db)]
    assert "the full-text index authors_fts is out of step with authors: 2 row(s) missing from it, 0 row(s) in it " \
           "for authors that are gone" in problems
    assert "the full-text index institutions_fts is out of step with institutions: 0 row(s) missing from it, " \
           "1 row(s) in it for institutions that are gone" in problems
    doctor.fix(db)
    assert doctor.check(db) == []
    for table in ("authors", "institutions"):
        assert indexed(db, table) == stored(db, table)


def indexed(db, table):
    return db.execute(f"SELECT rowid, name, name_forms FROM {table}_fts ORDER BY rowid").fetchall()


def stored(db, table):
    """Each row's id, name and name forms as its index should hold them (the forms as text)."""
    return [(row_id, name, "; ".join(json.loads(forms or "[]")) or None)
            for row_id, name, forms in db.execute(f"SELECT id, name, name_forms FROM {table} ORDER BY id")]


def work(last_name):
    record = new_work(pmid="99999991", title="Exosomes after stroke", year=2024, authors=[
        new_author(1, last_name=last_name, fore_name="Josiah", initials="J", affiliations=[
            {"name": "Department of Neurology, Carberry Stroke Institute, Glasgow, UK", "identifiers": {}}])])
    record["raw"] = f"<PubmedArticle>99999991 {last_name}</PubmedArticle>".encode()
    return record


def test_the_name_indexes_follow_people_and_institutions_written_again(db):
    WorkLoader(db, "pubmed").write_batch([work("Carberry")], "first")
    refresh(db)
    assert [p["name"] for p in named(db.conn, "josiah carb")["people"]] == ["Josiah Carberry"]
    assert [i["name"] for i in named(db.conn, "carberry stroke")["institutions"]] == ["Carberry Stroke Institute"]
    WorkLoader(db, "pubmed").write_batch([work("Carbury")], "revised")
    refresh(db)
    assert [p["name"] for p in named(db.conn, "josiah carb")["people"]] == ["Josiah Carbury"]
    assert named(db.conn, "carberry")["people"] == []
    for table in ("authors", "institutions"):
        assert indexed(db, table) == stored(db, table)


@pytest.mark.parametrize("name", of_kind("openalex", "institution_"))
def test_a_recorded_openalex_institution_is_named_by_a_search_for_its_name(db, name):
    entity = json.loads((real_data() / "openalex" / name).read_bytes())
    load_works_file(db, "openalex", real_data() / "openalex" / name)
    (found,) = named(db.conn, entity["display_name"])["institutions"]
    assert (found["name"], found["country"]) == (entity["display_name"], entity["country_code"])


def test_a_person_written_again_under_the_same_id_is_found_by_the_new_name_only(db):
    person = {"id": 7, "name": "Josiah Carberry", "name_forms": '["Carberry J"]', "works": 1}
    other = {"id": 8, "name": "Jan Lötvall", "name_forms": '["Lötvall J"]', "works": 2}
    insert_rows(db, "authors", [person, other])
    names_indexed(db, "authors", [7, 8])
    insert_rows(db, "authors", [{**person, "name": "Josiah Carbury", "name_forms": '["Carbury J"]'}, other])
    names_indexed(db, "authors", [7, 8, 9])  # 9: a person deleted before it was indexed
    assert [p["name"] for p in named(db.conn, "carbury")["people"]] == ["Josiah Carbury"]
    assert named(db.conn, "carberry")["people"] == []
    assert db.execute("SELECT rowid, name FROM authors_fts ORDER BY rowid").fetchall() == \
        [(7, "Josiah Carbury"), (8, "Jan Lötvall")]


def altered_copy(path, copy, *statements):
    """A copy of the KB at path with the statements run on it: its path, as a string."""
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        for statement in statements:
            target.execute(statement)
    return str(copy)
