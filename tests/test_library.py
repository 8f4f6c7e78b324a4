import json
import re
import time
import xml.etree.ElementTree as ET
import zipfile
import zlib

import pytest
from click.testing import CliRunner

from harvest import limits
from kb import merge
from kb.citations import works_for_citation
from kb.cli import cli
from kb.db import open_db
from kb.ingest import LoadError, load_ctgov_file, load_library_file, load_pubmed_file

from conftest import EFETCH, FIXTURES, get

LIBRARY = FIXTURES / "library"
SEED_DOI = "10.4103/ijpvm.ijpvm_441_21"
ZWNJ, RLM = "\u200c", "\u200f"


def seed_work(db):
    return next(db.query("select * from works where doi = ?", [SEED_DOI]), None)


def authors_of(db, work_id):
    return db.execute("select n.last_name, n.fore_name, n.is_collective, n.name from work_authors wa "
                      "join author_names n on n.id = wa.name_id where wa.work_id = ? order by wa.position",
                      [work_id]).fetchall()


def library_record(db, source_id):
    raw = db.execute("select raw from records where source = 'library' and source_id = ?", [source_id]).fetchone()[0]
    return merge.reparse("library", zlib.decompress(raw))


def bibtex_entries(text):
    """key -> {field: value} of a .bib file, read simply: one field per line, as our fixture writes them."""
    entries = {}
    for block in re.split(r"\n(?=@)", text):
        head = re.match(r"@(\w+)\{([^,]+),", block)
        if head and head.group(1).lower() != "string":
            entries[head.group(2)] = dict(re.findall(r"^\s*(\w+) = \{?(.*?)\}?,?$", block, re.M))
    return entries


def test_each_format_is_told_by_its_content_not_its_extension(db, tmp_path):
    for fixture in ("review.bib", "seed.ris", "zotero.json", "endnote.xml"):
        disguised = tmp_path / (fixture + ".txt")
        disguised.write_bytes((LIBRARY / fixture).read_bytes())
        stats, note = load_library_file(db, disguised)
        assert stats.loaded >= 2, fixture
    formats = dict(db.execute("select origin, format from library_entries group by origin").fetchall())
    assert sorted(formats.values()) == ["bibtex", "csljson", "endnote", "ris"]
    refused = tmp_path / "notes.txt"
    refused.write_text("Just some notes about stroke trials.\n")
    with pytest.raises(LoadError, match="not a BibTeX, RIS, CSL-JSON"):
        load_library_file(db, refused)


def test_a_bibtex_file_loads_every_good_entry_and_quarantines_the_broken_one_with_its_line(db):
    text = (LIBRARY / "review.bib").read_text()
    expected = bibtex_entries(text)
    stats, _ = load_library_file(db, LIBRARY / "review.bib")
    assert (stats.added, stats.quarantined) == (5, 1)
    broken_line = text.splitlines().index("@article{bang_autologous_2005,") + 1
    source, origin, record_id, error, raw = db.execute(
        "select source, origin, record_id, error, raw from quarantine").fetchone()
    assert source == "library" and origin.endswith("review.bib") and record_id == f"review.bib line {broken_line}"
    assert "not a complete entry" in error and zlib.decompress(raw).decode().startswith("@article{bang_autologous_2005")
    for key, fields in expected.items():
        if key == "bang_autologous_2005":
            continue
        work = db.execute("select w.* from works w join records r on r.work_id = w.id "
                          "where r.source = 'library' and r.source_id = ?", [f"review.bib#{key}"]).fetchone()
        assert work is not None, key
        work = dict(zip([c[0] for c in db.execute("select * from works limit 0").description], work))
        year = fields.get("year") or fields["date"][:4]
        assert work["year"] == int(year), key
        assert work["volume"] == fields.get("volume"), key
        if "doi" in fields:
            assert work["doi"] == fields["doi"].lower(), key
        assert work["pages"] == fields["pages"].replace("--", "-"), key


def test_bibtex_names_strings_accents_corporate_authors_others_and_empty_slots(db):
    load_library_file(db, LIBRARY / "review.bib")

    def work(key):
        return db.execute("select w.id, w.journal from works w join records r on r.work_id = w.id "
                          "where r.source_id = ?", [f"review.bib#{key}"]).fetchone()

    pisces, journal = work("kalladka_human_2016")
    assert journal == "Lancet (London, England)"  # the @string resolved
    assert authors_of(db, pisces)[8][:2] == ("Bath", "Philip M.")
    amascis, _ = work("decelisruiz_amascis_2021")
    names = [row[:2] for row in authors_of(db, amascis)]
    assert names[0] == ("de Celis-Ruiz", "Elena")
    assert names[5:] == [("Gutiérrez-Fernández", "Maria"), ("Díez-Tejedor", "Exuperio")]
    treasure, _ = work("houkin_allogeneic_2024")
    rows = authors_of(db, treasure)
    assert [r[0] for r in rows[:3]] == ["Houkin", "Osanai", "Uchiyama"]
    assert rows[3][2:] == (1, "TREASURE Study Investigators") and len(rows) == 4  # 'and others' is no one
    stroke34, _ = work("sargentofreitas_stroke34_2018")
    assert [r[:2] for r in authors_of(db, stroke34)] == [("Sargento-Freitas", "João"), ("Pereira", "Anabela"),
                                                          ("Gomes", "André")]  # the empty slot 'and }' is no one
    title = db.execute("select title from works where id = ?", [stroke34]).fetchone()[0]
    assert title.startswith("STROKE34 Study Protocol: A Randomized Controlled Phase IIa Trial of Intra-Arterial CD34+")


def test_identifiers_are_read_out_of_urls_eprints_and_notes(db):
    load_library_file(db, LIBRARY / "review.bib")
    seed = seed_work(db)
    assert db.execute("select pmid, pmcid from works where doi = ?", [SEED_DOI]).fetchone() == ("35281985",
                                                                                                "PMC8883670")
    pisces = db.execute("select id from works where doi = '10.1016/s0140-6736(16)30513-x'").fetchone()
    assert pisces is not None  # the DOI is only in its doi.org URL
    assert db.execute("select registry, accession, found_in from registry_ids where work_id = ?",
                      [pisces[0]]).fetchall() == [("ClinicalTrials.gov", "NCT01151124", "note")]
    assert db.execute("select relation, to_id, evidence from links where from_work_id = ? and to_scheme = 'nct'",
                      [pisces[0]]).fetchone() == ("registered_as", "NCT01151124", "note names NCT01151124")
    assert db.execute("select pmid from works where doi = '10.1136/bmjopen-2021-051790'").fetchone() == ("34373315",)
    assert seed is not None


def test_keywords_abstracts_notes_urls_and_attachment_names_are_kept(db):
    text = (LIBRARY / "review.bib").read_text()
    fields = bibtex_entries(text)["dehghani_safety_2022"]
    load_library_file(db, LIBRARY / "review.bib")
    work = db.execute("select keywords, abstract, issn, language from works where doi = ?", [SEED_DOI]).fetchone()
    assert json.loads(work[0]) == [k.strip() for k in fields["keywords"].split(",")]
    assert work[1] == fields["abstract"] and work[2] == fields["issn"] and work[3] == fields["language"]
    entry = db.execute("select format, entry_type, urls, notes, attachments from library_entries "
                       "where source_id = 'review.bib#dehghani_safety_2022'").fetchone()
    assert entry[:2] == ("bibtex", "article")
    assert json.loads(entry[2]) == [fields["url"]] and entry[3] == fields["note"]
    assert json.loads(entry[4]) == [fields["file"].split(":")[1].rsplit("/", 1)[1]]


def test_a_persian_ris_entry_gets_its_gregorian_year_keeps_its_solar_hijri_date_and_one_author(db):
    lines = (LIBRARY / "seed.ris").read_text(encoding="utf-8").splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("TY  -")][1]
    persian = lines[start:lines.index("ER  - ", start) + 1]
    written_year = next(line[6:] for line in persian if line.startswith("PY"))
    year, month = (int(part) for part in written_year.split("/")[:2])
    named = [line[6:] for line in persian if line.startswith("AU") and line[6:].strip()]
    stats, _ = load_library_file(db, LIBRARY / "seed.ris")
    assert stats.added + stats.updated == 2
    record = library_record(db, f"seed.ris#line{start + 1}")
    # Bahman (month 11) of a Solar Hijri year falls in January-February of Gregorian year + 622.
    assert record["year"] == year + 622 == 2022
    assert record["pub_date_text"] == f"{year}/{month} (Solar Hijri)"
    assert len(record["authors"]) == len(named) == 1
    author = record["authors"][0]
    assert author["written_name"] == named[0] and RLM in author["written_name"]
    assert author["last_name"] == "هاشمی" and author["fore_name"] == f"سید{ZWNJ}محمود"  # ZWNJ kept, RLM gone
    assert seed_work(db)["year"] == 2022  # both entries are the seed: one work


def test_a_solar_hijri_year_alone_is_the_gregorian_year_it_starts_in(db, tmp_path):
    path = tmp_path / "fa.ris"
    path.write_text("TY  - JOUR\nTI  - Stem cells in stroke\nAU  - سلیمانی، مسعود\nAU  - \nPY  - ۱۳۸۳///\nER  - \n")
    load_library_file(db, path)
    assert db.execute("select year, pub_date_text, author_list from works").fetchone() == (
        2004, "1383 (Solar Hijri)", "سلیمانی، مسعود")


def test_ris_csl_json_and_endnote_give_the_seed_as_the_fixture_writes_it(db):
    ris = (LIBRARY / "seed.ris").read_text(encoding="utf-8").split("ER  - ")[0]
    tags = [(line[:2], line[6:]) for line in ris.splitlines() if line[2:6] == "  - "]
    csl = json.loads((LIBRARY / "zotero.json").read_text())[0]
    endnote = ET.parse(LIBRARY / "endnote.xml").getroot().find("records/record")
    expected_authors = [tuple(value.split(", ")) for tag, value in tags if tag == "AU"]
    assert expected_authors == [(a["family"], a["given"]) for a in csl["author"]]
    assert expected_authors == [tuple("".join(a.itertext()).split(", ")) for a in endnote.iter("author")]
    for fixture in ("seed.ris", "zotero.json", "endnote.xml"):
        load_library_file(db, LIBRARY / fixture)
    assert db.execute("select count(*) from works").fetchone()[0] == 3  # the seed, PISCES, TREASURE
    seed = seed_work(db)
    assert db.execute("select count(*) from records where work_id = ?", [seed["id"]]).fetchone()[0] == 4
    for source_id in ("seed.ris#line1", "zotero.json#" + csl["id"], "endnote.xml#12"):
        record = library_record(db, source_id)
        assert [(a["last_name"], a["fore_name"]) for a in record["authors"]] == expected_authors, source_id
        assert record["doi"] == dict(tags)["DO"] == csl["DOI"], source_id
        assert (record["pmid"], record["pmcid"]) == ("35281985", "PMC8883670"), source_id
        assert record["year"] == int(dict(tags)["PY"]) == int(csl["issued"]["date-parts"][0][0]), source_id
        assert (record["volume"], record["issue"], record["pages"]) == (csl["volume"], csl["issue"], csl["page"])
        assert record["title"] == dict(tags)["TI"] == csl["title"] == "".join(endnote.find("titles/title").itertext())
    attachments = dict(db.execute("select source_id, attachments from library_entries").fetchall())
    assert json.loads(attachments["endnote.xml#12"]) == ["Dehghani-2022-Safety of Intraparenchymal.pdf"]
    quarantined = db.execute("select record_id, error from quarantine").fetchall()
    assert quarantined == [("zotero.json item 3", quarantined[0][1])]


def test_a_library_entry_never_overrides_what_pubmed_says(db):
    load_library_file(db, LIBRARY / "review.bib")
    library_title = seed_work(db)["title"]
    load_pubmed_file(db, EFETCH)
    pubmed = ET.parse(EFETCH).getroot()
    article = next(a for a in pubmed.iter("PubmedArticle") if a.findtext(".//PMID") == "35281985")
    work = seed_work(db)
    assert db.execute("select count(*) from works where doi = ? or pmid = '35281985'", [SEED_DOI]).fetchone()[0] == 1
    assert work["title"] == "".join(article.find(".//ArticleTitle").itertext()) != library_title
    assert work["journal"] == article.findtext(".//Journal/Title")
    provenance = json.loads(work["provenance"])
    assert provenance["title"] == "pubmed" and provenance["journal"] == "pubmed"
    assert json.loads(work["sources"]) == ["library", "pubmed"]
    assert provenance["keywords"] == "library"  # a gap PubMed leaves, the library fills


@pytest.fixture(scope="module")
def exports(demo_site):
    """Our .bibtex, .ris and .csljson exports of the whole demo, fetched as a reader would."""
    db, datasette = demo_site
    texts = {extension: get(datasette, f"/regenkb/works.{extension}?_size=max").text
             for extension in ("bibtex", "ris", "csljson")}
    return db, texts


def facts(db):
    """Each work's DOI, year, title and authors as the exports write them ((surname, fore name), or
    (name, None) for a group or a surname alone), keyed by DOI or title."""
    ids = [row[0] for row in db.execute("select id from works")]
    return {work["doi"] or work["title"]: (work["doi"], work["year"], work["title"], work["authors"])
            for work in works_for_citation(db.conn, ids)}


@pytest.mark.parametrize("extension", ["bibtex", "ris", "csljson"])
def test_our_own_exports_of_the_demo_load_back_into_the_same_works(exports, extension, tmp_path):
    demo_db, texts = exports
    path = tmp_path / f"works.{extension}"
    path.write_text(texts[extension], encoding="utf-8")
    db = open_db(str(tmp_path / "empty.db"))
    stats, _ = load_library_file(db, path)
    assert stats.quarantined == 0
    expected, loaded = facts(demo_db), facts(db)
    assert len(loaded) == len(expected) == demo_db["works"].count
    for key, (doi, year, title, authors) in expected.items():
        assert loaded[key][:2] == (doi, year), key
        assert " ".join(loaded[key][2].split()) == " ".join(title.split()), key
        assert loaded[key][3] == authors, key


def test_five_thousand_entries_load_in_seconds(db, tmp_path):
    # As in a real collection, few entries share a first author, a first title word and a year
    # (the block a title is compared within); thousands in one block would be compared pairwise.
    entries = [f"@article{{entry{n},\n  title = {{Cohort{n} of mesenchymal stem cells after stroke}},\n"
               f"  author = {{Author{n}, Some and Soleimani, Masoud and Dehghani, Leila}},\n"
               f"  journal = {{Stem Cell Research}},\n  year = {{{2000 + n % 25}}},\n  doi = {{10.5555/kb.{n}}},\n"
               f"  keywords = {{stroke, exosome}},\n}}\n" for n in range(5000)]
    path = tmp_path / "big.bib"
    path.write_text("\n".join(entries))
    started = time.perf_counter()
    stats, _ = load_library_file(db, path)
    seconds = time.perf_counter() - started
    print(f"5,000 BibTeX entries loaded in {seconds:.1f} s")
    assert stats.added == 5000 and db["works"].count == 5000
    assert seconds < 30


def legacy_xml_files():
    return sorted(FIXTURES.glob("ctgov*/legacy_NCT*.xml"))


def test_a_legacy_clinicaltrials_zip_loads_each_study_inside(db, tmp_path):
    files = legacy_xml_files()
    nct_ids = sorted({ET.parse(f).getroot().findtext("id_info/nct_id") for f in files})
    archive = tmp_path / "search_results.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for number, path in enumerate(files):
            out.write(path, f"{number}_{path.name}")  # two fixtures may be one study
        out.write(FIXTURES / "ctgov" / "v2_NCT04267848_ids.json", "NCT04267848.json")
    stats = load_ctgov_file(db, archive)
    assert stats.quarantined == 0
    stored = [row[0] for row in db.execute("select nct_id from trials order by nct_id")]
    assert stored == sorted(set(nct_ids) | {"NCT04267848"})
    for path in files:
        root = ET.parse(path).getroot()
        title = db.execute("select brief_title from trials where nct_id = ?", [root.findtext("id_info/nct_id")])
        assert title.fetchone()[0] == " ".join(root.findtext("brief_title").split())


def test_a_zip_bomb_is_set_aside_and_the_studies_beside_it_load(db, tmp_path):
    archive = tmp_path / "bomb.zip"
    study = legacy_xml_files()[0]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("bomb.xml", b"<clinical_study>" + b" " * (8 * limits.MB))
        out.writestr("zeros.xml", b"\0" * limits.MB)
        out.write(study, study.name)
    started = time.perf_counter()
    stats = load_ctgov_file(db, archive)
    assert time.perf_counter() - started < 10
    errors = dict(db.execute("select origin, error from quarantine").fetchall())
    assert "times its compressed size" in errors[f"{archive}:bomb.xml"]
    assert "binary data" in errors[f"{archive}:zeros.xml"]
    assert stats.added == 1 and stats.quarantined == 2


def test_a_zip_of_too_many_files_is_refused_unread(db, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "ZIP_MEMBERS", 2)
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for number in range(3):
            out.writestr(f"NCT0000000{number}.xml", b"<clinical_study/>")
    with pytest.raises(LoadError, match="3 files in the archive, more than 2"):
        load_ctgov_file(db, archive)
    assert db["trials"].count == 0


def test_kb_load_library_loads_every_format_in_one_command(tmp_path):
    kb = str(tmp_path / "kb.db")
    files = [str(LIBRARY / name) for name in ("review.bib", "seed.ris", "zotero.json", "endnote.xml")]
    result = CliRunner().invoke(cli, ["load", "library", *files, "--db", kb])
    assert result.exit_code == 0, result.output
    assert "review.bib: 5 added" in result.output and "1 quarantined; 5 bibtex entr(ies)" in result.output
    assert "quarantined: library" in result.output and "review.bib line" in result.output
    db = open_db(kb)
    assert db.execute("select count(*) from works where doi = ?", [SEED_DOI]).fetchone()[0] == 1
    assert "kb load library" in CliRunner().invoke(cli, ["load", "library", "--help"]).output


def test_a_zotero_api_answer_loads_its_items_with_their_creators_and_tags(db, tmp_path):
    items = [{"key": "X8R2M4QF", "version": 3, "data": {
        "key": "X8R2M4QF", "itemType": "journalArticle",
        "title": "STROKE34 Study Protocol: A Randomized Controlled Phase IIa Trial of Intra-Arterial CD34+ Cells "
                 "in Acute Ischemic Stroke.",
        "creators": [{"creatorType": "author", "lastName": "Sargento-Freitas", "firstName": "João"},
                     {"creatorType": "author", "lastName": "Pereira", "firstName": "Anabela"},
                     {"creatorType": "editor", "lastName": "Someone", "firstName": "Else"}],
        "publicationTitle": "Frontiers in neurology", "volume": "9", "pages": "302", "date": "2018",
        "DOI": "10.3389/fneur.2018.00302", "extra": "PMID: 29867719\nPMCID: PMC5949561",
        "tags": [{"tag": "stroke"}, {"tag": "CD34+"}]}}]
    path = tmp_path / "zotero-api.json"
    path.write_text(json.dumps(items))
    stats, note = load_library_file(db, path)
    assert stats.added == 1 and note == "1 zotero entr(ies)"
    work = next(db.query("select * from works"))
    data = items[0]["data"]
    assert (work["doi"], work["pmid"], work["pmcid"], work["year"]) == (data["DOI"], "29867719", "PMC5949561", 2018)
    assert json.loads(work["keywords"]) == [t["tag"] for t in data["tags"]]
    assert [row[:2] for row in authors_of(db, work["id"])] == [
        (c["lastName"], c["firstName"]) for c in data["creators"] if c["creatorType"] == "author"]


def test_a_library_file_of_zeros_is_refused_from_its_first_bytes(db, tmp_path):
    path = tmp_path / "library.bib"
    path.write_bytes(b"\0" * limits.MB)
    with pytest.raises(LoadError, match="binary data"):
        load_library_file(db, path)


def test_real_registry_files_in_a_zip_load_as_each_file_says(db, tmp_path):
    """Conformance: the recorded legacy XML and v2 JSON studies, zipped as a download would
    be, give each study's id, title, conditions in order and number of sites."""
    from test_conformance_real import files_of, real_data

    folder = real_data() / "ctgov"
    names = [n for n in files_of("ctgov") if n.startswith("aact__legacyxml_") or
             (n.startswith(("aact__v2_", "py_load_ctgov__v2_")) and n.endswith(".json"))]
    expected = {}
    for name in names:
        if name.endswith(".xml"):
            root = ET.parse(folder / name).getroot()
            expected[root.findtext("id_info/nct_id")] = (root.findtext("brief_title"),
                                                         [c.text for c in root.findall("condition")],
                                                         len(root.findall("location")))
        else:
            protocol = json.loads((folder / name).read_text())["protocolSection"]
            identification = protocol["identificationModule"]
            expected[identification["nctId"]] = (
                identification["briefTitle"], protocol.get("conditionsModule", {}).get("conditions", []),
                len(protocol.get("contactsLocationsModule", {}).get("locations", [])))
    archive = tmp_path / "ctgov.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for name in names:
            out.write(folder / name, name)
    stats = load_ctgov_file(db, archive)
    assert stats.quarantined == 0 and len(expected) >= 8
    checks = 0
    for nct_id, (title, conditions, sites) in expected.items():
        trial_id, stored_title = db.execute("select id, brief_title from trials where nct_id = ?", [nct_id]).fetchone()
        assert stored_title == " ".join(title.split()), nct_id
        assert [row[0] for row in db.execute("select condition from trial_conditions where trial_id = ? and "
                                             "kind = 'condition' order by position", [trial_id])] == conditions, nct_id
        assert db.execute("select count(*) from trial_sites where trial_id = ?", [trial_id]).fetchone()[0] == sites
        checks += 3
    print(f"{len(expected)} real studies from a ZIP, {checks} field checks")


def test_latex_in_a_bibtex_field_becomes_text_and_a_bare_percent_ampersand_or_dollar_stays(db, tmp_path):
    path = tmp_path / "hand.bib"
    path.write_text("@article{k,\n"
                    "  title = {Over 50% of {CD34}$^+$ cells \\& \\emph{in vivo} & US$ costs in M{\\\"u}nster},\n"
                    "  author = {M{\\\"u}ller, J{\\\"u}rgen},\n  year = {2020},\n}\n")
    load_library_file(db, path)
    assert db.execute("select title, author_list from works").fetchone() == (
        "Over 50% of CD34^+ cells & in vivo & US$ costs in Münster", "Müller, Jürgen")


def test_kb_unmerge_splits_a_library_entry_from_its_work_and_a_reload_keeps_them_apart(tmp_path):
    kb = str(tmp_path / "kb.db")
    db = open_db(kb)
    load_pubmed_file(db, EFETCH)
    load_library_file(db, LIBRARY / "review.bib")
    work_id = db.execute("select id from works where pmid = '35281985'").fetchone()[0]
    result = CliRunner().invoke(cli, ["unmerge", str(work_id), "library", "review.bib#dehghani_safety_2022",
                                      "--db", kb])
    assert result.exit_code == 0, result.output
    load_library_file(db, LIBRARY / "review.bib")
    assert sorted(row[0] for row in db.execute("select sources from works where doi = ?", [SEED_DOI])) == [
        '["library"]', '["pubmed"]']


def test_a_utf16_ris_export_and_a_windows_1252_bibtex_file_read_as_what_they_are(db, tmp_path):
    ris = (LIBRARY / "seed.ris").read_text(encoding="utf-8")
    (tmp_path / "utf16.ris").write_bytes(ris.encode("utf-16"))
    (tmp_path / "old.bib").write_bytes("@article{k, title = {Sargento-Freitas study}, author = {Sargento-Freitas, "
                                       "João}, year = {2018}}\n".encode("cp1252"))
    assert load_library_file(db, tmp_path / "utf16.ris")[0].loaded == 2
    assert load_library_file(db, tmp_path / "old.bib")[0].loaded == 1
    assert library_record(db, "utf16.ris#line33")["authors"][0]["fore_name"] == f"سید{ZWNJ}محمود"
    assert library_record(db, "old.bib#k")["authors"][0]["fore_name"] == "João"
