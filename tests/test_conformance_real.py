"""Every recorded real E-utilities response must load (or fail with a clear error naming it).

The folder comes from $REGENKB_REAL_DATA. When the variable is set and the folder is
missing, these tests fail: CI must never pass by skipping them.
"""

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harvest import ctgov, pubmed
from kb.ingest import LoadError, load_ctgov_file, load_pubmed_file, load_works_file


def real_data():
    root = os.environ.get("REGENKB_REAL_DATA")
    if not root:
        pytest.skip("REGENKB_REAL_DATA is not set")
    path = Path(root)
    assert path.is_dir(), f"REGENKB_REAL_DATA={root} is set but is not a folder"
    return path


def files_of(source):
    root = os.environ.get("REGENKB_REAL_DATA")
    folder = Path(root) / source if root else None
    if folder is None or not folder.is_dir():
        return ["<missing>"]
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def is_error_body(path):
    """Recorded error bodies and header dumps are not E-utilities payloads by design."""
    return "RATE_LIMIT" in path.name or "RESPONSE_HEADERS" in path.name


@pytest.mark.parametrize("name", files_of("pubmed"))
def test_every_recorded_pubmed_file_loads(db, name):
    folder = real_data() / "pubmed"
    assert folder.is_dir(), f"{folder} is missing"
    path = folder / name
    if is_error_body(path):
        with pytest.raises(LoadError, match=rf"{path.name}: not a PubMed E-utilities payload"):
            load_pubmed_file(db, path)
        return
    stats, _ = load_pubmed_file(db, path)
    assert stats.quarantined == 0, stats.errors
    with pubmed.open_payload(path) as handle:
        data = handle.read()
    if pubmed.sniff(data) == "efetch":
        expected = data.count(b"<PubmedArticle>") + data.count(b"<PubmedBookArticle>") + \
            data.count(b"<MedlineCitation ") * (b"<PubmedArticle>" not in data)
        assert stats.added == expected == db["works"].count
        assert db["works"].count == db["records"].count
        assert db.execute("select count(*) from works where title is null or year is null").fetchone()[0] == 0


def load_all(db):
    for path in sorted((real_data() / "pubmed").iterdir()):
        if path.is_file() and not is_error_body(path):
            load_pubmed_file(db, path)


def work(db, pmid):
    return db["works"].get(db.execute("select id from works where pmid = ?", [pmid]).fetchone()[0])


def test_real_facts_survive_loading(db):
    load_all(db)
    nejm = work(db, "29768149")
    assert nejm["journal"] == "The New England journal of medicine" and nejm["year"] == 2018
    assert db.execute("select accession from registry_ids where work_id = ?", [nejm["id"]]).fetchone()[0] \
        == "NCT02149199"
    assert nejm["abstract"].count("\n") >= 2  # structured abstract labels kept, one section per line

    gecko = work(db, "38988993")
    assert gecko["title"] == "Prey size preference in the tokay gecko (Gekko gecko)."
    assert db.execute("select ror from affiliations where name like 'Division of Behavioural Ecology%'"
                      ).fetchone()[0] == "https://ror.org/02k7v4d05"
    assert db.execute("select count(*) from author_names where orcid = '0000-0002-3226-8621'").fetchone()[0] == 1

    book = work(db, "20301577")
    assert book["title"] == "CACNA1C-Related Disorders" and book["journal"] == "GeneReviews®"

    erratum = work(db, "38962805")
    assert db.execute("select relation from links where from_work_id = ? and asserted_by = 'pubmed'",
                      [erratum["id"]]).fetchone()[0] == "erratum_for"

    group = db.execute("select a.name, a.is_collective from works w join work_authors wa on wa.work_id = w.id "
                       "join author_names a on a.id = wa.name_id where w.pmid = '34843274'").fetchall()
    assert len(group) == 1 and group[0][1] == 1

    german = work(db, "38048813")
    assert german["language"] == "ger" and german["title"].startswith("[")

    ringgold = db.execute("select count(*) from affiliations where ringgold is not null").fetchone()[0]
    assert ringgold >= 1
    multi = db.execute("select max(n) from (select count(*) n from work_author_affiliations "
                       "group by work_id, position)").fetchone()[0]
    assert multi >= 2
    assert db.execute("select count(*) from links where asserted_by = 'pubmed-elink'").fetchone()[0] > 100


@pytest.mark.parametrize("name", files_of("ctgov"))
def test_every_recorded_ctgov_file_loads(db, name):
    folder = real_data() / "ctgov"
    assert folder.is_dir(), f"{folder} is missing"
    path = folder / name
    stats = load_ctgov_file(db, path)
    items, _ = ctgov.parse_payload(path.read_bytes(), name)
    assert stats.quarantined == 0, stats.errors
    assert stats.added == len(items) == db["trials"].count > 0
    assert db.execute("select count(*) from trials where nct_id not like 'NCT________'").fetchone()[0] == 0


def load_ctgov(db):
    for path in sorted((real_data() / "ctgov").iterdir()):
        load_ctgov_file(db, path)


def trial(db, nct_id):
    return next(db.query("select * from trials where nct_id = ?", [nct_id]))


def test_real_trial_facts_survive_loading(db):
    load_ctgov(db)
    many_sites = trial(db, "NCT02552212")
    sites = db.execute("select count(*), count(latitude) from trial_sites where trial_id = ?",
                       [many_sites["id"]]).fetchone()
    assert sites == (105, 105)
    assert many_sites["phases"] == '["PHASE3"]' and many_sites["has_results"] == 1
    references = db.execute("select count(*) from links where from_id = 'NCT03630471' and asserted_by = 'ctgov'"
                            ).fetchone()[0]
    assert references == 10  # 12 references, 2 without a PMID
    classic = trial(db, "NCT04780763")
    assert (classic["masking"], classic["overall_status"], classic["start_date"]) == (
        "QUADRUPLE", "NOT_YET_RECRUITING", "2021-03-04")
    assert trial(db, "NCT03182660")["overall_status"] == "WITHHELD"
    exosome = trial(db, "NCT03384433")
    assert exosome["enrollment"] == 5 and exosome["lead_sponsor"] == "Isfahan University of Medical Sciences"
    assert db.execute("select count(*) from trial_ids where registry = 'EudraCT'").fetchone()[0] >= 1


# Recorded error bodies: a 404 page or text, an errorBean, a dump of response headers.
WORK_ERROR_BODIES = ("404", "errorBean", "RESPONSE_HEADERS")


@pytest.mark.parametrize("source,name", [(source, name) for source in ("openalex", "europepmc", "crossref")
                                         for name in files_of(source)])
def test_every_recorded_openalex_europepmc_crossref_file_loads(db, source, name):
    folder = real_data() / source
    assert folder.is_dir(), f"{folder} is missing"
    path = folder / name
    if any(marker in name for marker in WORK_ERROR_BODIES):
        with pytest.raises(LoadError, match=re.escape(name)):
            load_works_file(db, source, path)
        return
    stats, note = load_works_file(db, source, path)
    assert stats.quarantined == 0, stats.errors
    assert stats.added + stats.updated + stats.unchanged > 0 or note or "zero" in name or "no_results" in name


def test_real_works_from_several_sources_become_one(db):
    root = real_data()
    load_works_file(db, "crossref", root / "crossref" / "paperqa__works_doi_10.1073_pnas.1414271111.json")
    load_works_file(db, "openalex", root / "openalex" / "paperqa__work_by_doi_pnas.1414271111.json")
    rows = db.execute("select id, sources, openalex_id, pmid from works where doi = '10.1073/pnas.1414271111'"
                      ).fetchall()
    assert len(rows) == 1 and rows[0][2] == "W2109415576" and rows[0][3] == "25349395"
    assert json.loads(rows[0][1]) == ["crossref", "openalex"]
    assert db.execute("select count(*) from links where from_work_id = ? and relation = 'cites'",
                      [rows[0][0]]).fetchone()[0] > 60
    load_works_file(db, "openalex", root / "openalex" / "openalex-python__institution_I27837315.json")
    assert db.execute("select ror from institutions").fetchone()[0] == "https://ror.org/00jmfr291"
    load_works_file(db, "europepmc", root / "europepmc" / "pyepmc__cursor_10pages_wrapper.json")
    assert db.execute("select count(*) from records where source = 'europepmc'").fetchone()[0] == 1000


def test_the_real_msc_exosome_trial_export_holds_one_stroke_trial(db):
    from kb import evidence

    load_ctgov_file(db, real_data() / "ctgov" / "jesnyder__legacy_csv_MSC_exosome_trials.csv")
    evidence.classify(db)
    stroke = [row[0] for row in db.execute(
        "select t.nct_id from tags g join trials t on t.id = g.subject_id "
        "where g.subject = 'trial' and g.tag = 'topic' and g.value = 'stroke'")]
    assert stroke == ["NCT03384433"]  # checked by hand: the only stroke condition among the 18
    row = db["evidence"].get("NCT03384433")
    assert (row["on_topic"], row["phase"], row["n"], row["origin"], row["stroke_type"]) == (
        1, "1/2", 5, '["allogeneic"]', '["ischaemic"]')
    routes = dict(db.execute("select study_id, route from evidence where route is not null"))
    assert routes["NCT04388982"] == '["intranasal"]' and routes["NCT04798716"] == '["intravenous"]'


def of_kind(source, marker):
    """The recorded files of `source` whose name holds `marker` ('<missing>' too, so that a
    missing folder fails rather than leaving nothing to run)."""
    return [name for name in files_of(source) if marker in name or name == "<missing>"]


@pytest.mark.parametrize("name", of_kind("pubmed", "esearch"))
def test_every_recorded_esearch_answer_gives_its_count_ids_history_keys_and_errors(db, name):
    data = (real_data() / "pubmed" / name).read_bytes()
    if data.lstrip().startswith(b"{"):
        answer = json.loads(data)["esearchresult"]
        expected = (int(answer["count"]), answer["idlist"], answer.get("webenv"), answer.get("querykey"), [])
    else:
        root = ET.fromstring(data)
        expected = (int(root.findtext("Count")), [i.text for i in root.findall("IdList/Id")], root.findtext("WebEnv"),
                    root.findtext("QueryKey"), [f"{e.tag}: {e.text}" for e in root.findall("ErrorList/*")])
    result = pubmed.parse_esearch(data, name)
    assert (result.count, result.ids, result.webenv, result.query_key, result.errors) == expected
    stats, note = load_pubmed_file(db, real_data() / "pubmed" / name)
    assert stats.added == db["works"].count == 0  # ids, not records
    assert f"({expected[0]} hit(s), {len(expected[1])} id(s) listed)" in note


# An elink LinkName and the relation it asserts from the linked-from PMID to each linked one.
ELINK_NAMES = {"pubmed_pubmed": "related", "pubmed_pubmed_five": "related", "pubmed_pubmed_citedin": "cited_by",
               "pubmed_pubmed_refs": "cites", "pubmed_pubmed_reviews": "related_review",
               "pubmed_pubmed_reviews_five": "related_review"}


@pytest.mark.parametrize("name", of_kind("pubmed", "elink"))
def test_every_link_of_a_recorded_single_pmid_elink_answer_is_stored_with_its_relation(db, name):
    root = ET.parse(real_data() / "pubmed" / name).getroot()
    # A LinkSet of ids asked for in one comma list answers for them together: only a LinkSet
    # of one PMID says what is linked to that PMID.
    single = [link_set for link_set in root.iter("LinkSet") if len(link_set.findall("IdList/Id")) == 1]
    expected = set()
    for link_set in single:
        pmid = link_set.findtext("IdList/Id").strip()
        for db_links in link_set.findall("LinkSetDb"):
            relation = ELINK_NAMES.get(db_links.findtext("LinkName"))
            if relation and db_links.findtext("DbTo") == "pubmed":
                expected |= {(pmid, relation, link.findtext("Id").strip()) for link in db_links.findall("Link")
                             if link.findtext("Id").strip() != pmid}
    load_pubmed_file(db, real_data() / "pubmed" / name)
    stored = set(db.execute("SELECT from_id, relation, to_id FROM links WHERE asserted_by = 'pubmed-elink' "
                            "AND from_scheme = 'pmid' AND to_scheme = 'pmid'").fetchall())
    assert {link for link in stored if link[0] in {pmid for pmid, _, _ in expected}} == expected
    assert len(expected) >= 50 * len(single)


def shared_link_set(path):
    """The PMIDs of the one LinkSet of a recorded answer to a comma list, and its
    (relation, linked PMID) pairs."""
    (link_set,) = ET.parse(path).getroot().iter("LinkSet")
    pmids = [i.text.strip() for i in link_set.findall("IdList/Id")]
    linked = {(ELINK_NAMES[db_links.findtext("LinkName")], link.findtext("Id").strip())
              for db_links in link_set.findall("LinkSetDb") if db_links.findtext("LinkName") in ELINK_NAMES
              for link in db_links.findall("Link")}
    return pmids, linked


def test_a_linkset_of_several_pmids_asserts_no_link_from_any_one_of_them(db):
    path = real_data() / "pubmed" / "biopython__elink3_pubmed_2ids.xml"
    pmids, linked = shared_link_set(path)
    assert len(pmids) == 2 and len(linked) > 500
    _, note = load_pubmed_file(db, path)
    assert db["links"].count == 0
    assert note.startswith("0 link(s) between PMIDs stored; 1 LinkSet(s) of PMIDs asked for together "
                           f"({', '.join(pmids)}) stored no link")


def test_reloading_a_comma_list_elink_answer_withdraws_the_links_an_older_kb_drew_from_each_pmid(db):
    path = real_data() / "pubmed" / "biopython__elink3_pubmed_2ids.xml"
    pmids, linked = shared_link_set(path)
    # What regenkb stored for this answer before 2026-12: every linked PMID from each PMID of the set.
    old = [{"from_scheme": "pmid", "from_id": pmid, "relation": relation, "to_scheme": "pmid", "to_id": target,
            "asserted_by": "pubmed-elink"} for pmid in pmids for relation, target in sorted(linked) if target != pmid]
    (relation, target) = min(linked)
    kept = [{"from_scheme": "pmid", "from_id": "14873513", "relation": relation, "to_scheme": "pmid", "to_id": target,
             "asserted_by": "pubmed-elink"},  # another PMID's own answer
            {"from_scheme": "pmid", "from_id": pmids[0], "relation": "cites", "to_scheme": "pmid", "to_id": target,
             "asserted_by": "pubmed"}]  # the PMID's own record
    db["links"].insert_all(old + kept)
    notes = []
    for _ in range(2):  # a reload, then the same reload again
        notes.append(load_pubmed_file(db, path)[1])
        assert [{key: row[key] for key in kept[0]} for row in db["links"].rows] == kept
    assert notes[0].endswith(f"per PMID); {len(old)} link(s) an older regenkb had drawn from them withdrawn")
    assert notes[1].endswith("per PMID)")


@pytest.mark.parametrize("name", of_kind("openalex", "institution_"))
def test_a_recorded_openalex_institution_is_stored_field_by_field(db, name):
    entity = json.loads((real_data() / "openalex" / name).read_bytes())
    load_works_file(db, "openalex", real_data() / "openalex" / name)
    (row,) = db["institutions"].rows
    geo = entity["geo"]
    assert (row["openalex_id"], row["ror"], row["name"], row["country"], row["type"], row["city"], row["latitude"],
            row["longitude"]) == (entity["id"].rsplit("/", 1)[-1], entity["ror"], entity["display_name"],
                                  entity["country_code"], entity["type"], geo["city"], geo["latitude"],
                                  geo["longitude"])


def test_the_recorded_rate_limits_are_the_rates_the_clients_keep():
    from harvest import crossref
    from harvest.http import HEADROOM, limiter_for

    # NCBI: 3 requests a second without an API key (its 429 body names the limit), 10 with one
    # (the X-RateLimit-Limit of an answer to a keyed request).
    throttled = json.loads((real_data() / "pubmed" / "biomcp__eutils_RATE_LIMIT_error.json").read_bytes())
    keyed = json.loads((real_data() / "pubmed" / "citer__esummary_json_pubmed_123455.RESPONSE_HEADERS.json"
                        ).read_bytes())["headers"]
    assert (pubmed.PubMed(client=None).client.rate, pubmed.PubMed(client=None, api_key="k").client.rate) == (
        int(throttled["limit"]), int(keyed["X-RateLimit-Limit"]))
    # Crossref states its limit on each answer; the client slows the host down to it.
    headers = json.loads((real_data() / "crossref" / "citer__transform_json_10.4103_npmj.npmj_69_20.RESPONSE_HEADERS"
                                                     ".json").read_bytes())["headers"]
    crossref.Crossref(client=object()).follow_rate_limit("https://recorded-headers.invalid/works/x", headers)
    per_second = int(headers["x-rate-limit-limit"]) / float(headers["x-rate-limit-interval"].rstrip("s"))
    assert limiter_for("recorded-headers.invalid", 1e9).interval == pytest.approx(HEADROOM / per_second)


MONTHS = {month: number for number, month in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def esummary_documents(path):
    """{PMID: (volume, issue, pages, publication date as written, publication types)} of an
    esummary answer (JSON or XML DocSums)."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        result = json.loads(data)["result"]
        return {uid: (result[uid]["volume"], result[uid]["issue"], result[uid]["pages"], result[uid]["pubdate"],
                      result[uid]["pubtype"]) for uid in result["uids"]}
    documents = {}
    for doc in ET.fromstring(data).iter("DocSum"):
        items = {item.get("Name"): item.text for item in doc.iter("Item")}
        documents[doc.findtext("Id")] = (items["Volume"], items["Issue"], items["Pages"], items["PubDate"],
                                         [i.text for i in doc.findall("Item[@Name='PubTypeList']/Item")])
    return documents


ESUMMARIES = [name for name in of_kind("pubmed", "esummary") if "RESPONSE_HEADERS" not in name]


@pytest.mark.parametrize("name", ESUMMARIES)
def test_every_recorded_esummary_document_gives_its_volume_issue_pages_year_and_types(db, name):
    documents = esummary_documents(real_data() / "pubmed" / name)
    load_pubmed_file(db, real_data() / "pubmed" / name)
    for pmid, (volume, issue, pages, date, types) in documents.items():
        row = db.execute("SELECT volume, issue, pages, year, pub_types FROM works WHERE pmid = ?", [pmid]).fetchone()
        assert row == (volume, issue, pages, int(date[:4]), json.dumps(types)), pmid
    assert documents


def iso_date(date):
    """'1975 Apr' -> '1975-04', '2012 Jul 12' -> '2012-07-12': a plain esummary date in ISO form,
    no more precise than it is written."""
    year, *rest = date.split()
    return "-".join([year, *(f"{MONTHS[rest[0][:3].lower()]:02d}",) * bool(rest), *(f"{int(d):02d}" for d in rest[1:])])


@pytest.mark.parametrize("name", ESUMMARIES)
def test_an_esummary_publication_date_says_no_more_than_the_document_does(db, name):
    documents = esummary_documents(real_data() / "pubmed" / name)
    load_pubmed_file(db, real_data() / "pubmed" / name)
    for pmid, (_, _, _, date, _) in documents.items():
        assert db.execute("SELECT pub_date, pub_date_text FROM works WHERE pmid = ?", [pmid]).fetchone() == \
            (iso_date(date), None), pmid


def json_summaries():
    path = real_data() / "pubmed" / "citer__esummary_json_pubmed_123455.json"
    result = json.loads(path.read_bytes())["result"]
    return path, {uid: result[uid] for uid in result["uids"]}


def test_a_json_esummary_keeps_its_title_and_its_vernacular_title(db):
    path, documents = json_summaries()
    load_pubmed_file(db, path)
    for pmid, doc in documents.items():
        assert db.execute("SELECT title, vernacular_title FROM works WHERE pmid = ?", [pmid]).fetchone() == \
            (doc["title"], doc["vernaculartitle"]), pmid
    assert any(doc["vernaculartitle"] for doc in documents.values())


def older_kb_holding(db, documents):
    """A KB that read these summaries before 2026-12: sortpubdate's day, no vernacular title."""
    for pmid, doc in documents.items():
        db.execute("UPDATE works SET pub_date = ?, vernacular_title = NULL WHERE pmid = ?",
                   [doc["sortpubdate"][:10].replace("/", "-"), pmid])
    db.conn.commit()


def stored_dates_and_titles(db, documents):
    return {pmid: db.execute("SELECT pub_date, vernacular_title FROM works WHERE pmid = ?", [pmid]).fetchone()
            for pmid in documents}


def test_reloading_a_json_esummary_answer_corrects_what_an_older_kb_made_of_it(db):
    path, documents = json_summaries()
    expected = {pmid: (iso_date(doc["pubdate"]), doc["vernaculartitle"]) for pmid, doc in documents.items()}
    load_pubmed_file(db, path)
    older_kb_holding(db, documents)
    assert stored_dates_and_titles(db, documents) == {pmid: ("1975-04-01", None) for pmid in documents}
    for _ in range(2):  # a reload, then the same reload again
        stats, _ = load_pubmed_file(db, path)
        assert (stats.unchanged, stats.updated) == (len(documents), 0)
        assert stored_dates_and_titles(db, documents) == expected
    assert db["works"].count == db["records"].count == len(documents)


def test_kb_doctor_fix_corrects_what_an_older_kb_made_of_a_json_esummary_answer(db):
    from kb import doctor

    path, documents = json_summaries()
    load_pubmed_file(db, path)
    older_kb_holding(db, documents)
    doctor.fix(db)
    assert stored_dates_and_titles(db, documents) == {
        pmid: (iso_date(doc["pubdate"]), doc["vernaculartitle"]) for pmid, doc in documents.items()}
