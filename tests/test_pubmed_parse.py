import gzip
import io

from harvest import pubmed
from harvest.errors import ParseError

from conftest import EFETCH


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
        {"ui": "D006801", "name": "Humans", "major": False, "qualifiers": []},
        {"ui": "D020521", "name": "Stroke", "major": True, "qualifiers": ["therapy"]},
        {"ui": "D058953", "name": "Neural Stem Cells", "major": True, "qualifiers": []},
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
    assert (bang["year"], bang["pub_date"]) == (2005, "2005-06")


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
