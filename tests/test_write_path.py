"""The write side of a load: how a KB stores its most numerous rows."""

import re

import sqlite_utils

from kb.db import SCHEMA, VALUES_ONLY, WITHOUT_ROWID, indexes_deferred, open_db
from kb.ingest import load_pubmed_file

from conftest import EFETCH

ROWS = {"work_mesh": "SELECT work_id, mesh_id, major_topic, qualifiers, descriptor_major, major_qualifiers "
                     "FROM work_mesh ORDER BY work_id, mesh_id",
        "work_author_affiliations": "SELECT work_id, position, affiliation_id, number "
                                    "FROM work_author_affiliations ORDER BY work_id, position, affiliation_id"}


def without_rowid(db, table):
    return db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0].endswith("WITHOUT ROWID")


def test_a_new_kb_keeps_mesh_and_affiliation_rows_in_their_keys_and_an_older_kb_loads_the_same_rows(tmp_path):
    new = open_db(str(tmp_path / "new.db"))
    older = sqlite_utils.Database(tmp_path / "older.db")
    for table in WITHOUT_ROWID:  # as a regenkb before this one made them
        older[table].create(SCHEMA[table][0], pk=SCHEMA[table][1])
    older.close()
    older = open_db(str(tmp_path / "older.db"))
    assert set(WITHOUT_ROWID) == {"work_mesh", "work_author_affiliations"}
    assert all(without_rowid(new, table) for table in WITHOUT_ROWID)
    assert not any(without_rowid(older, table) for table in WITHOUT_ROWID)
    for db in (new, older):
        assert load_pubmed_file(db, EFETCH)[0].added == 3
        assert load_pubmed_file(db, EFETCH)[0].unchanged == 3
    for sql in ROWS.values():
        assert new.execute(sql).fetchall() == older.execute(sql).fetchall()
    text = EFETCH.read_text()
    assert len(new.execute(ROWS["work_mesh"]).fetchall()) == text.count("<MeshHeading>")


def test_a_mesh_heading_that_names_no_descriptor_is_left_out_and_its_record_loads(db, tmp_path):
    text = EFETCH.read_text()
    empty = '<DescriptorName MajorTopicYN="N"></DescriptorName>'
    damaged = text.replace('<DescriptorName UI="D006801" MajorTopicYN="N">Humans</DescriptorName>', empty, 1)
    path = tmp_path / "empty-heading.xml"
    path.write_text(damaged)
    stats, _ = load_pubmed_file(db, path)
    assert (stats.added, stats.quarantined) == (3, 0)
    article = next(article for article in damaged.split("</PubmedArticle>") if empty in article)
    pmid = re.search(r"<PMID[^>]*>(\d+)</PMID>", article).group(1)
    named = re.findall(r'<DescriptorName UI="(D\d+)"', article)
    assert named and db.execute("SELECT mesh_id FROM work_mesh JOIN works ON works.id = work_id WHERE pmid = ?",
                                [pmid]).fetchall() == [(ui,) for ui in sorted(named)]


def index_sql(db, table, column):
    return db.execute("SELECT sql FROM sqlite_master WHERE name = ?", [f"idx_{table}_{column}"]).fetchone()[0]


def test_indexes_of_mostly_empty_columns_hold_only_values_serve_lookups_and_come_back_so_after_a_bulk_load(tmp_path):
    db = open_db(str(tmp_path / "kb.db"))
    assert all(index_sql(db, table, column).endswith(f'WHERE "{column}" IS NOT NULL') for table, column in VALUES_ONLY)
    with indexes_deferred(db, [("links", ["to_work_id"]), ("work_references", ["doi"])]):
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name IN "
                          "('idx_links_to_work_id', 'idx_work_references_doi')").fetchone()[0] == 0
    assert index_sql(db, "links", "to_work_id").endswith('WHERE "to_work_id" IS NOT NULL')
    for sql, index in (("SELECT work_id FROM work_references WHERE doi = ?", "idx_work_references_doi"),
                       ("SELECT id FROM links WHERE to_work_id IN (?)", "idx_links_to_work_id"),
                       ("SELECT work_id FROM work_references WHERE cited_work_id = ?",
                        "idx_work_references_cited_work_id")):
        plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, ["x"]))
        assert f"INDEX {index} " in plan
