import gzip
import random

import pytest

from kb.ingest import LoadError, load_pubmed_file

from conftest import EFETCH


def table_counts(db):
    return {name: db[name].count for name in db.table_names() if not name.startswith("works_fts_")}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_loading_the_same_file_twice_changes_nothing(db):
    first, _ = load_pubmed_file(db, EFETCH)
    before = table_counts(db)
    second, _ = load_pubmed_file(db, EFETCH)
    assert (first.added, second.added, second.updated, second.unchanged) == (3, 0, 0, 3)
    assert table_counts(db) == before


def test_seed_affiliations_are_numbered_as_on_the_paper(db):
    load_pubmed_file(db, EFETCH)
    rows = db.query("""
        select written_name, group_concat(number, ',') as numbers from (
          select wa.position, wa.written_name, waa.number
          from works w join work_authors wa on wa.work_id = w.id
          left join work_author_affiliations waa on waa.work_id = w.id and waa.position = wa.position
          where w.pmid = '35281985' order by wa.position, waa.number)
        group by position order by position""")
    assert [(r["written_name"], r["numbers"]) for r in rows] == [
        ("Dehghani L", "1"), ("Khojasteh A", "1"), ("Soleimani M", "1,2,3"), ("Oraee-Yazdani S", "4"),
        ("Keshel SH", "1"), ("Saadatnia M", "5"), ("Saboori M", "6"), ("Zali A", "5"),
        ("Hashemi SM", "1,7"), ("Soleimani R", "8")]
    eighth = db.execute("select a.name from work_author_affiliations waa join affiliations a "
                        "on a.id = waa.affiliation_id where waa.number = 8").fetchone()[0]
    assert eighth == "Department of Neurology, Shahid Beheshti University of Medical Sciences, Tehran, Iran"
    assert db.execute("select count(*) from affiliations").fetchone()[0] == 8


def test_a_newer_revision_replaces_derived_rows_and_an_older_one_is_ignored(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    newer = EFETCH.read_bytes().replace(b"<Year>2022</Year><Month>03</Month><Day>15</Day>",
                                        b"<Year>2024</Year><Month>01</Month><Day>02</Day>").replace(
        b"<LastName>Soleimani</LastName><ForeName>Reyhane</ForeName><Initials>R</Initials>",
        b"<LastName>Soleimani</LastName><ForeName>Reyhaneh</ForeName><Initials>R</Initials>")
    stats, _ = load_pubmed_file(db, write(tmp_path, "newer.xml", newer))
    assert (stats.updated, stats.unchanged) == (1, 2)
    names = [r[0] for r in db.execute(
        "select a.fore_name from works w join work_authors wa on wa.work_id = w.id "
        "join author_names a on a.id = wa.name_id where w.pmid = '35281985' and wa.position = 10")]
    assert names == ["Reyhaneh"]
    assert db.execute("select count(*) from work_authors wa join works w on w.id = wa.work_id "
                      "where w.pmid = '35281985'").fetchone()[0] == 10
    older = EFETCH.read_bytes().replace(b"<Year>2022</Year><Month>03</Month><Day>15</Day>",
                                        b"<Year>2022</Year><Month>03</Month><Day>01</Day>")
    stats, _ = load_pubmed_file(db, write(tmp_path, "older.xml", older))
    assert stats.updated == 0
    assert db.execute("select version from records where source_id = '35281985'").fetchone()[0] == "2024-01-02"


def test_search_index_follows_updates(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    renamed = EFETCH.read_bytes().replace(b"<Year>2019</Year><Month>05</Month><Day>10</Day>",
                                          b"<Year>2025</Year><Month>05</Month><Day>10</Day>").replace(
        b"Autologous mesenchymal stem cell transplantation in stroke patients.",
        b"Autologous marrow stromal cell transplantation in stroke patients.")
    load_pubmed_file(db, write(tmp_path, "renamed.xml", renamed))
    assert db.execute("select count(*) from works_fts where works_fts match 'stromal'").fetchone()[0] == 1
    assert db.execute("select count(*) from works_fts").fetchone()[0] == 3


def test_delete_citation_in_an_update_file_removes_the_work(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    update = (b'<?xml version="1.0" ?>\n<PubmedArticleSet><DeleteCitation><PMID Version="1">27497862</PMID>'
              b"</DeleteCitation></PubmedArticleSet>")
    stats, _ = load_pubmed_file(db, write(tmp_path, "pubmed25n1300.xml.gz", gzip.compress(update)))
    assert stats.deleted == 1
    assert [r[0] for r in db.execute("select pmid from works order by pmid")] == ["15929052", "35281985"]
    assert db.execute("select count(*) from work_mesh").fetchone()[0] == 0
    assert db.execute("select count(*) from works_fts").fetchone()[0] == 2


def test_a_bad_record_is_quarantined_and_the_good_ones_load(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    bad = EFETCH.read_bytes().replace(b"<PubmedArticle><MedlineCitation Status=\"MEDLINE\"",
                                      b"<PubmedArticle><Citation Status=\"MEDLINE\"").replace(
        b"</MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        b"<ArticleId IdType=\"pubmed\">27497862",
        b"</Citation><PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
        b"<ArticleId IdType=\"pubmed\">27497862")
    stats, _ = load_pubmed_file(db, write(tmp_path, "bad.xml", bad))
    assert (stats.quarantined, stats.unchanged) == (1, 2)
    row = db.execute("select origin, record_id, error from quarantine").fetchone()
    assert row[0].endswith("bad.xml") and row[1] == "27497862" and "cannot parse" in row[2]
    assert db["works"].count == 3  # what was stored before is still there


def test_a_truncated_file_loads_its_complete_records_then_fails_loudly(db, tmp_path):
    data = EFETCH.read_bytes()
    path = write(tmp_path, "cut.xml", data[:data.index(b"<PMID Version=\"1\">15929052") + 40])
    with pytest.raises(LoadError, match=r"cut\.xml.*after PMID 27497862.*2 good record"):
        load_pubmed_file(db, path)
    assert db["works"].count == 2
    raw = db.execute("select raw from quarantine").fetchone()[0]
    assert raw  # the faulty tail is kept


def test_an_error_body_names_the_file_and_the_error(db, tmp_path):
    path = write(tmp_path, "esummary.json", b'{"error":"API rate limit exceeded","count":"4","limit":"3"}')
    with pytest.raises(LoadError, match="esummary.json: not a PubMed E-utilities payload: API rate limit"):
        load_pubmed_file(db, path)


def test_links_resolve_whichever_end_arrives_first(db, tmp_path):
    comment = EFETCH.read_bytes().replace(
        b"</MedlineJournalInfo></MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus>"
        b"<ArticleIdList><ArticleId IdType=\"pubmed\">15929052",
        b"</MedlineJournalInfo><CommentsCorrectionsList><CommentsCorrections RefType=\"Cites\">"
        b"<RefSource>Lancet 2016</RefSource><PMID Version=\"1\">27497862</PMID></CommentsCorrections>"
        b"</CommentsCorrectionsList></MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus>"
        b"<ArticleIdList><ArticleId IdType=\"pubmed\">15929052")
    articles = comment.split(b"\n")
    head, (pisces, bang), tail = b"\n".join(articles[:3]), articles[4:6], b"\n".join(articles[6:])
    load_pubmed_file(db, write(tmp_path, "bang.xml", b"\n".join([head, bang, tail])))
    assert db.execute("select to_work_id from links where relation = 'cites'").fetchone()[0] is None
    load_pubmed_file(db, write(tmp_path, "pisces.xml", b"\n".join([head, pisces, tail])))
    pisces_id = db.execute("select id from works where pmid = '27497862'").fetchone()[0]
    assert db.execute("select to_work_id from links where relation = 'cites'").fetchone()[0] == pisces_id


@pytest.mark.parametrize("damage", ["cut", "corrupt", "bad-header"])
def test_a_damaged_gzip_file_fails_with_a_load_error_naming_it_after_its_good_records(db, tmp_path, damage):
    # Incompressible padding after the first record puts the damage well past it.
    padding = b"<!-- " + random.Random(1).randbytes(300_000).hex().encode() + b" -->"
    packed = gzip.compress(EFETCH.read_bytes().replace(b"</PubmedArticle>", b"</PubmedArticle>" + padding, 1))
    if damage == "cut":
        packed = packed[:len(packed) * 3 // 4]
    elif damage == "corrupt":
        middle = len(packed) // 2
        packed = packed[:middle] + bytes(b ^ 0xFF for b in packed[middle:middle + 64]) + packed[middle + 64:]
    else:
        packed = packed[:3] + b"\xff" + packed[4:]  # reserved flag bits set: not a gzip header we can read
    path = write(tmp_path, "pubmed25n0042.xml.gz", packed)
    with pytest.raises(LoadError, match="pubmed25n0042.xml.gz"):
        load_pubmed_file(db, path)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    if damage == "cut":
        assert db["works"].count == 1  # the record before the cut is kept
