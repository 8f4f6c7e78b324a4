import gzip
import io
import json

import pytest
from lxml import etree

from harvest import pubmed
from harvest.errors import ParseError
from kb.ingest import LoadError, load_pubmed_file

from conftest import EFETCH, FIXTURES

INVESTIGATORS = FIXTURES / "pubmed" / "efetch_investigators_dates.xml"


def records(data, origin="test"):
    return list(pubmed.iter_articles(io.BytesIO(data), origin))


def by_pmid(items):
    return {item["pmid"]: item for item in items if isinstance(item, dict)}


def test_seed_record_keeps_structured_abstract_labels_and_ids():
    seed = by_pmid(records(EFETCH.read_bytes()))["35281985"]
    assert seed["doi"] == "10.4103/ijpvm.ijpvm_441_21"
    assert seed["pmcid"] == "PMC8883670"
    assert seed["year"] == 2022 and seed["pub_date"] == "2022-01-19"
    assert seed["journal_iso"] == "Int J Prev Med" and seed["volume"] == "13" and seed["pages"] == "7"
    sections = seed["abstract"].split("\n")
    assert [s.split(":")[0] for s in sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert "mean NIHSS: 17.6 ± 5.02" in seed["abstract"]
    assert seed["registry_ids"] == []  # the seed names its trial nowhere in its PubMed record
    assert seed["version"] == "2022-03-15"


def test_authors_keep_order_and_every_affiliation():
    seed = by_pmid(records(EFETCH.read_bytes()))["35281985"]
    authors = seed["authors"]
    assert [a["written_name"] for a in authors] == [
        "Dehghani L", "Khojasteh A", "Soleimani M", "Oraee-Yazdani S", "Keshel SH",
        "Saadatnia M", "Saboori M", "Zali A", "Hashemi SM", "Soleimani R"]
    assert authors[2]["fore_name"] == "Masoud"
    assert len(authors[2]["affiliations"]) == 3
    assert authors[2]["affiliations"][1]["name"].startswith("Department of Hematology, Faculty of Medical")
    assert [len(a["affiliations"]) for a in authors] == [1, 1, 3, 1, 1, 1, 1, 1, 2, 1]


def test_mesh_headings_carry_ui_qualifiers_and_major_flag():
    pisces = by_pmid(records(EFETCH.read_bytes()))["27497862"]
    assert pisces["mesh"] == [
        {"ui": "D006801", "name": "Humans", "major": False, "qualifiers": [], "descriptor_major": False,
         "major_qualifiers": []},
        # "Stroke/therapy*": the qualifier is the major topic, not the descriptor.
        {"ui": "D020521", "name": "Stroke", "major": True, "qualifiers": ["therapy"], "descriptor_major": False,
         "major_qualifiers": ["therapy"]},
        {"ui": "D058953", "name": "Neural Stem Cells", "major": True, "qualifiers": [], "descriptor_major": True,
         "major_qualifiers": []},
    ]
    assert pisces["pages"] == "787-96"
    assert pisces["registry_ids"] == [{"registry": "ClinicalTrials.gov", "accession": "NCT01151124"}]


def test_inline_markup_is_flattened_and_medline_date_gives_year_and_month():
    data = EFETCH.read_bytes().replace(
        b"Autologous mesenchymal stem cell transplantation in stroke patients.",
        b"Autologous <i>mesenchymal</i> stem cell transplantation in stroke patients.").replace(
        b"<PubDate><Year>2005</Year><Month>Jun</Month></PubDate>",
        b"<PubDate><MedlineDate>2005 Jun-Jul</MedlineDate></PubDate>")
    bang = by_pmid(records(data))["15929052"]
    assert bang["title"] == "Autologous mesenchymal stem cell transplantation in stroke patients."
    assert (bang["year"], bang["pub_date"], bang["pub_date_text"]) == (2005, "2005-06", "2005 Jun-Jul")


def test_comments_corrections_become_typed_links_and_retraction_flags_the_work():
    data = EFETCH.read_bytes().replace(
        b"</MedlineJournalInfo></MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus>"
        b"<ArticleIdList><ArticleId IdType=\"pubmed\">15929052",
        b"</MedlineJournalInfo><CommentsCorrectionsList><CommentsCorrections RefType=\"RetractionIn\">"
        b"<RefSource>Ann Neurol. 2030</RefSource><PMID Version=\"1\">99999999</PMID></CommentsCorrections>"
        b"<CommentsCorrections RefType=\"ErratumIn\"><RefSource>x</RefSource><PMID Version=\"1\">99999998</PMID>"
        b"</CommentsCorrections></CommentsCorrectionsList></MedlineCitation><PubmedData><PublicationStatus>"
        b"ppublish</PublicationStatus><ArticleIdList><ArticleId IdType=\"pubmed\">15929052")
    bang = by_pmid(records(data))["15929052"]
    assert {(link["relation"], link["target"]) for link in bang["links"]} == {
        ("retracted_by", "99999999"), ("erratum_in", "99999998")}
    assert bang["is_retracted"] is True


def test_a_bad_record_is_reported_and_the_others_still_parse():
    data = EFETCH.read_bytes().replace(b"<Article PubModel=\"Print\">", b"<Broken PubModel=\"Print\">", 1)
    data = data.replace(b"</Article><MedlineJournalInfo><MedlineTA>Ann Neurol", b"</Broken><MedlineJournalInfo>"
                        b"<MedlineTA>Ann Neurol")
    items = records(data, origin="batch.xml")
    errors = [i for i in items if isinstance(i, ParseError)]
    assert set(by_pmid(items)) == {"35281985", "27497862"}
    assert len(errors) == 1 and errors[0].record_id == "15929052" and not errors[0].fatal
    assert "pubmed batch.xml record 15929052" in str(errors[0]) and b"<Broken" in errors[0].raw


def test_truncated_document_yields_complete_records_then_a_fatal_error():
    data = EFETCH.read_bytes()
    cut = data[:data.index(b"<PMID Version=\"1\">15929052") + 40]
    items = records(cut, origin="cut.xml")
    assert set(by_pmid(items)) == {"35281985", "27497862"}
    assert items[-1].fatal and "after PMID 27497862" in str(items[-1])


def test_an_html_error_page_is_not_taken_for_records():
    items = records(b"<html><head><title>503 Service Unavailable</title></head><body/></html>", "efetch")
    assert len(items) == 1 and items[0].fatal and "expected a PubmedArticleSet, got <html>" in str(items[0])
    assert pubmed.error_message(b"<html><head><title>503 Service Unavailable</title></head></html>") == \
        "an HTML page (503 Service Unavailable)"


def test_update_files_stream_from_gzip_with_deletions():
    data = EFETCH.read_bytes().replace(
        b"</PubmedArticleSet>", b"<DeleteCitation><PMID Version=\"1\">27497862</PMID></DeleteCitation>"
                                b"</PubmedArticleSet>")
    items = records(gzip.decompress(gzip.compress(data)))
    assert items[-1] == pubmed.Deletion(["27497862"])


def test_esearch_errors_in_a_200_body_raise():
    try:
        pubmed.parse_esearch(b'{"esearchresult": {"ERROR": "Empty term and query_key - nothing todo"}}')
    except ParseError as error:
        assert "nothing todo" in str(error)
    else:
        raise AssertionError("an esearch ERROR must raise")


def test_sniff_tells_payloads_apart():
    assert pubmed.sniff(EFETCH.read_bytes()) == "efetch"
    assert pubmed.sniff(b'{"error":"API rate limit exceeded","count":"4","limit":"3"}') == "error"
    assert pubmed.sniff(b"<?xml version='1.0'?><eSearchResult><Count>0</Count></eSearchResult>") == "esearch"


@pytest.mark.parametrize("date, expected", [
    ("<MedlineDate>1999 Jan-Feb</MedlineDate>", (1999, "1999-01", "1999 Jan-Feb")),
    ("<MedlineDate>2020 Jul-Sep</MedlineDate>", (2020, "2020-07", "2020 Jul-Sep")),
    ("<MedlineDate>2001 Spring</MedlineDate>", (2001, "2001-03", "2001 Spring")),
    ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", (1998, "1998-12", "1998 Dec-1999 Jan")),
    ("<MedlineDate>1997-1998</MedlineDate>", (1997, "1997", "1997-1998")),
    ("<MedlineDate>2004 Jul 1-15</MedlineDate>", (2004, "2004-07-01", "2004 Jul 1-15")),
    ("<Year>2001</Year><Season>May-Jun</Season>", (2001, "2001-05", "2001 May-Jun")),
    ("<Year>1998</Year><Season>Fall-Winter</Season>", (1998, "1998-09", "1998 Fall-Winter")),
    ("<Year>2012</Year><Month>Jul</Month><Day>12</Day>", (2012, "2012-07-12", None)),
])
def test_a_date_span_keeps_its_start_as_the_date_and_its_text_as_written(date, expected):
    assert pubmed.parse_pub_date(etree.fromstring(f"<PubDate>{date}</PubDate>")) == expected


def test_a_season_in_a_record_is_stored_with_its_start_month_and_its_text():
    acute = by_pmid(records(INVESTIGATORS.read_bytes()))["11446611"]
    assert (acute["year"], acute["pub_date"], acute["pub_date_text"]) == (2001, "2001-05", "2001 May-Jun")


def test_the_copyright_line_is_kept_apart_from_the_abstract():
    seed = by_pmid(records(EFETCH.read_bytes()))["35281985"]
    assert seed["copyright"] == ("© 2022 International Journal of Preventive Medicine | "
                                 "Published by Wolters Kluwer - Medknow.")
    assert "Wolters Kluwer" not in seed["abstract"]


def test_investigators_are_kept_apart_from_authors_and_a_collective_name_stays_an_author():
    metric = by_pmid(records(INVESTIGATORS.read_bytes()))["22663011"]
    assert [a["written_name"] for a in metric["authors"]] == [
        "Flaherty KT", "Robert C", "Schadendorf D", "METRIC Study Group"]
    assert metric["authors"][3]["collective_name"] == "METRIC Study Group"
    assert [(i["position"], i["last_name"], i["fore_name"], i["initials"]) for i in metric["investigators"]] == [
        (1, "Cinat", "G", "G"), (2, "Begbie", "S", "S"), (3, "Petrella", "Teresa", "T")]
    assert metric["issn"] == metric["eissn"] == "1533-4406"


def test_an_investigator_keeps_affiliations_and_orcid():
    citation = etree.fromstring(
        "<InvestigatorList><Investigator ValidYN=\"Y\"><LastName>Muir</LastName><ForeName>Keith W</ForeName>"
        "<Initials>KW</Initials><Identifier Source=\"ORCID\">0000-0001-9535-1904</Identifier><AffiliationInfo>"
        "<Affiliation>Institute of Neuroscience and Psychology, University of Glasgow, Glasgow, UK.</Affiliation>"
        "</AffiliationInfo></Investigator></InvestigatorList>")
    muir, = pubmed.parse_authors(citation, "Investigator")
    assert muir["orcid"] == "0000-0001-9535-1904" and muir["collective_name"] is None
    assert [a["name"] for a in muir["affiliations"]] == [
        "Institute of Neuroscience and Psychology, University of Glasgow, Glasgow, UK."]


def test_investigators_load_into_their_own_table_and_never_become_authors(db):
    load_pubmed_file(db, INVESTIGATORS)
    work_id = db.execute("select id from works where pmid = '22663011'").fetchone()[0]
    assert [tuple(row) for row in db.execute(
        "select position, name, last_name from work_investigators where work_id = ? order by position",
        [work_id])] == [(1, "Cinat G", "Cinat"), (2, "Begbie S", "Begbie"), (3, "Petrella T", "Petrella")]
    assert db.execute("select count(*) from work_authors where work_id = ?", [work_id]).fetchone()[0] == 4
    assert db.execute("select count(*) from author_names where last_name in ('Cinat', 'Begbie', 'Petrella')"
                      ).fetchone()[0] == 0
    assert db.execute("select name, is_collective from author_names where is_collective = 1").fetchall() == [
        ("METRIC Study Group", 1)]
    melanoma = db.execute("select major_topic, descriptor_major, major_qualifiers from work_mesh "
                          "where work_id = ? and mesh_id = 'D008545'", [work_id]).fetchone()
    assert tuple(melanoma) == (1, 0, '["drug therapy"]')
    acute = db.execute("select pub_date, pub_date_text, issn, eissn from works where pmid = '11446611'").fetchone()
    assert tuple(acute) == ("2001-05", "2001 May-Jun", "1470-2118", None)


NEW_FIELDS = ["SELECT pmid, pub_date_text, eissn, copyright FROM works ORDER BY pmid",
              "SELECT * FROM work_investigators ORDER BY work_id, position",
              "SELECT work_id, mesh_id, descriptor_major, major_qualifiers FROM work_mesh ORDER BY work_id, mesh_id"]


def test_the_bulk_and_parquet_paths_store_investigators_date_texts_and_mesh_majors_as_a_direct_load(tmp_path):
    from kb import bulk, cluster, parquet
    from kb.db import open_db

    direct, parallel, parsed = (open_db(str(tmp_path / name)) for name in ("direct.db", "parallel.db", "parsed.db"))
    load_pubmed_file(direct, INVESTIGATORS)
    bulk.load_files(parallel, [INVESTIGATORS], workers=2)
    cluster.parse_file((0, INVESTIGATORS), str(tmp_path / "parquet"), None)
    parquet.load_parquet(parsed, tmp_path / "parquet")
    expected = [direct.execute(query).fetchall() for query in NEW_FIELDS]
    assert len(expected[1]) == 3 and ("11446611", "2001 May-Jun", None, None) in expected[0]
    assert [parallel.execute(query).fetchall() for query in NEW_FIELDS] == expected
    assert [parsed.execute(query).fetchall() for query in NEW_FIELDS] == expected


def test_a_group_in_an_esummary_answer_is_a_collective_author_not_dropped():
    summary = json.dumps({"result": {"uids": ["22663011"], "22663011": {
        "uid": "22663011", "title": "Improved survival with MEK inhibition in BRAF-mutated melanoma.",
        "pubdate": "2012 Jul 12", "fulljournalname": "The New England journal of medicine",
        "authors": [{"name": "Flaherty KT", "authtype": "Author", "clusterid": ""},
                    {"name": "METRIC Study Group", "authtype": "CollectiveName", "clusterid": ""}],
        "articleids": [{"idtype": "pubmed", "value": "22663011"}]}}}).encode()
    record, = pubmed.parse_esummary(summary)
    assert [(a["written_name"], a["last_name"], a["initials"], a["collective_name"]) for a in record["authors"]] == [
        ("Flaherty KT", "Flaherty", "KT", None), ("METRIC Study Group", None, None, "METRIC Study Group")]


def test_an_esummary_name_suffix_is_not_taken_for_initials_and_its_issns_are_kept():
    summary = (b'<?xml version="1.0" ?><eSummaryResult><DocSum><Id>11850928</Id>'
               b'<Item Name="PubDate" Type="Date">1965 Aug</Item><Item Name="Source" Type="String">Arch Dermatol</Item>'
               b'<Item Name="AuthorList" Type="List"><Item Name="Author" Type="String">LoPresti PJ</Item>'
               b'<Item Name="Author" Type="String">Hambrick GW Jr</Item></Item>'
               b'<Item Name="Title" Type="String">Zirconium granuloma following treatment of rhus dermatitis.</Item>'
               b'<Item Name="ISSN" Type="String">0003-987X</Item><Item Name="ESSN" Type="String"></Item>'
               b'</DocSum></eSummaryResult>')
    record, = pubmed.parse_esummary(summary)
    assert [(a["last_name"], a["initials"], a["suffix"]) for a in record["authors"]] == [
        ("LoPresti", "PJ", None), ("Hambrick", "GW", "Jr")]
    assert (record["issn"], record["eissn"]) == ("0003-987X", None)


@pytest.mark.parametrize("written, expected", [
    ("1975 Apr", (1975, "1975-04", None)),
    ("2012 Jul 12", (2012, "2012-07-12", None)),
    ("1999 Jan-Feb", (1999, "1999-01", "1999 Jan-Feb")),
    ("2001 Spring", (2001, "2001-03", "2001 Spring")),
    ("1998 Dec-1999 Jan", (1998, "1998-12", "1998 Dec-1999 Jan")),
    ("1997-1998", (1997, "1997", "1997-1998")),
    ("2004 Jul 1-15", (2004, "2004-07-01", "2004 Jul 1-15")),
])
def test_an_esummary_date_is_as_precise_as_its_pubdate_and_a_span_is_kept_as_written(written, expected):
    # sortpubdate is a sort key: NCBI fills in a day (and a month) the record does not have.
    doc = {"uid": "123455", "pubdate": written, "sortpubdate": f"{written[:4]}/01/01 00:00", "title": "T."}
    record, = pubmed.parse_esummary(json.dumps({"result": {"uids": ["123455"], "123455": doc}}).encode())
    docsum, = pubmed.parse_esummary(
        b'<eSummaryResult><DocSum><Id>123455</Id><Item Name="PubDate" Type="Date">' + written.encode()
        + b'</Item><Item Name="Title" Type="String">T.</Item></DocSum></eSummaryResult>')
    assert (record["year"], record["pub_date"], record["pub_date_text"]) == expected
    assert (docsum["year"], docsum["pub_date"], docsum["pub_date_text"]) == expected


def test_an_esummary_title_in_another_language_only_is_the_title_and_stays_the_vernacular_title():
    doc = {"uid": "123455", "pubdate": "1975 Apr", "title": "",
           "vernaculartitle": "Diagnóstico clínico y terapéutica. Rehidratación oral e intravenosa"}
    record, = pubmed.parse_esummary(json.dumps({"result": {"uids": ["123455"], "123455": doc}}).encode())
    assert record["title"] == record["vernacular_title"] == doc["vernaculartitle"]


# Facts of two recorded answers (metapub's PMID 14873513 alone, Biopython's elink3 for two PMIDs
# in one comma list), cut to a link or two.
ELINK = (b'<eLinkResult><LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>14873513</Id></IdList>'
         b'<LinkSetDb><DbTo>pubmed</DbTo><LinkName>pubmed_pubmed</LinkName>'
         b'<Link><Id>14873513</Id></Link><Link><Id>16450204</Id></Link></LinkSetDb></LinkSet>'
         b'<LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>11812492</Id><Id>11774222</Id></IdList>'
         b'<LinkSetDb><DbTo>pubmed</DbTo><LinkName>pubmed_pubmed_citedin</LinkName>'
         b'<Link><Id>18508935</Id></Link></LinkSetDb></LinkSet></eLinkResult>')


def test_only_a_linkset_of_one_pmid_links_that_pmid_and_a_shared_one_is_named_apart():
    assert pubmed.parse_elink(ELINK) == [{"from": "14873513", "relation": "related", "scheme": "pmid",
                                          "target": "16450204", "score": None}]
    assert pubmed.shared_link_sets(ELINK) == [(["11812492", "11774222"], {("cited_by", "18508935")})]


# cmd=neighbor_score with retmode=json: each link an {"id", "score"} object. Facts of a live answer
# for PMID 37258680 (seed and score of its first two neighbours), with the seed itself added.
ELINK_JSON_SCORED = json.dumps({"header": {"type": "elink", "version": "0.3"}, "linksets": [
    {"dbfrom": "pubmed", "ids": ["37258680"], "linksetdbs": [{"dbto": "pubmed", "linkname": "pubmed_pubmed", "links": [
        {"id": "37258680", "score": 99999999}, {"id": "42026145", "score": 28347383},
        {"id": "39636237", "score": 24718838}]}]}]}).encode()


def test_a_json_elink_answer_with_scores_links_its_pmid_with_each_score():
    assert pubmed.sniff(ELINK_JSON_SCORED) == "elink"
    assert pubmed.parse_elink(ELINK_JSON_SCORED) == [
        {"from": "37258680", "relation": "related", "scheme": "pmid", "target": "42026145", "score": 28347383},
        {"from": "37258680", "relation": "related", "scheme": "pmid", "target": "39636237", "score": 24718838}]
    assert pubmed.shared_link_sets(ELINK_JSON_SCORED) == []


def test_a_score_of_zero_is_kept_as_zero_and_a_link_without_one_has_none():
    answer = json.loads(ELINK_JSON_SCORED)
    answer["linksets"][0]["linksetdbs"][0]["links"][1]["score"] = 0
    del answer["linksets"][0]["linksetdbs"][0]["links"][2]["score"]
    links = pubmed.parse_elink(json.dumps(answer).encode())
    assert [link["score"] for link in links] == [0, None]


def test_a_json_elink_error_answer_fails_to_load_with_ncbis_message(db, tmp_path):
    path = tmp_path / "elink.json"
    path.write_bytes(b'{"header":{"type":"elink","version":"0.3"},"linksets":[],'
                     b'"ERROR":"NCBI C++ Exception: Error: TXCLIENT(CException::eUnknown)"}')
    with pytest.raises(LoadError, match=r"elink error: NCBI C\+\+ Exception"):
        load_pubmed_file(db, path)
    assert db["links"].count == 0
