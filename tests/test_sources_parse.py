import json

from harvest import crossref, europepmc, openalex
from harvest.errors import ParseError

from conftest import FIXTURES

MERGE = FIXTURES / "merge"


def test_openalex_abstract_is_rebuilt_from_the_inverted_index():
    index = {"Five": [0], "patients": [1, 5], "were": [2], "included.": [3], "All": [4], "recovered.": [6]}
    assert openalex.abstract_from_index(index) == "Five patients were included. All patients recovered."


def test_openalex_work_keeps_ids_authors_institutions_and_links():
    record = openalex.parse_payload((MERGE / "openalex_W2109415576.json").read_bytes(), "w.json")[0][0]
    assert (record["openalex_id"], record["doi"], record["pmid"], record["pmcid"]) == (
        "W2109415576", "10.1073/pnas.1414271111", "25349395", "PMC4234579")
    last = record["authors"][-1]
    assert last["orcid"] == "0000-0001-5387-8405" and last["is_corresponding"] is True
    assert last["affiliations"][-1]["identifiers"]["ror"] == "https://ror.org/05rrcem69"
    assert {(l["relation"], l["target"]) for l in record["links"]} >= {("cites", "W1490897467"),
                                                                       ("related", "W3215530055")}
    assert (record["cited_by_count"], record["oa_status"]) == (138, "bronze")


def test_openalex_404_page_is_a_clear_not_found():
    items, _ = openalex.parse_payload(b"<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>", "W1")
    assert items[0].fatal and "not found" in str(items[0])


def test_europepmc_joined_pub_types_retractions_and_orcids():
    page = json.loads((MERGE / "europepmc_MED_25349395.json").read_text())
    result = page["resultList"]["result"][0]
    result["pubTypeList"] = {"pubType": "Journal Article; Retracted Publication"}
    result["commentCorrectionList"] = {"commentCorrection": [
        {"id": "99999999", "source": "MED", "type": "Retraction in", "reference": "PNAS 2030"}]}
    record = europepmc.parse_payload(json.dumps(page).encode(), "e.json")[0][0]
    assert record["pub_types"] == ["Journal Article", "Retracted Publication"]
    assert record["links"] == [{"relation": "retracted_by", "scheme": "pmid", "target": "99999999"}]
    assert record["is_retracted"] is True
    assert record["authors"][0]["orcid"] == "0000-0003-4136-4620"
    assert record["source_id"] == "MED:25349395"


def test_europepmc_error_bean_is_an_error():
    items, _ = europepmc.parse_payload(b'<?xml version="1.0"?><errorBean><errCode>0</errCode>'
                                       b"<errMsg>Article with id PMC1 is not open access one</errMsg></errorBean>", "x")
    assert items[0].fatal and "not open access" in str(items[0])


def test_crossref_references_updates_and_preprints():
    payload = json.loads((MERGE / "crossref_10.1073_pnas.1414271111.json").read_text())
    payload["message"]["updated-by"] = [{"DOI": "10.1073/PNAS.RETRACT", "type": "retraction"}]
    record = crossref.parse_payload(json.dumps(payload).encode(), "c.json")[0][0]
    assert ("cites", "10.1089/ten.2006.12.969") in {(l["relation"], l["target"]) for l in record["links"]}
    assert ("retracted_by", "10.1073/pnas.retract") in {(l["relation"], l["target"]) for l in record["links"]}
    assert record["is_retracted"] is True and record["year"] == 2014 and record["pub_date"] == "2014-11-11"
    payload["message"]["type"] = "posted-content"
    assert crossref.parse_payload(json.dumps(payload).encode(), "c.json")[0][0]["is_preprint"] is True


def test_crossref_404_text_is_a_clear_not_found():
    items, _ = crossref.parse_payload(b"Resource not found.", "10.48550/arxiv.1")
    assert isinstance(items[0], ParseError) and items[0].fatal and "not found" in str(items[0])
