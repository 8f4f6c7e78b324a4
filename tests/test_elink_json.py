"""JSON elink answers (retmode=json) load as the XML ones do.

Our fixtures restate two recorded XML answers in the JSON format E-utilities gives
({"header": {"type": "elink"}, "linksets": [{"dbfrom", "ids", "linksetdbs": [{"dbto", "linkname",
"links"}]}]}): Biopython's elink1 (PMID 9298984 alone) and elink3 (two PMIDs in one comma list).
"""

import json
import xml.etree.ElementTree as ET

from kb.ingest import load_pubmed_file

from conftest import FIXTURES
from test_conformance_real import ELINK_NAMES, real_data, shared_link_set

SINGLE = FIXTURES / "pubmed" / "elink_json_9298984.json"
ONE_LIST = FIXTURES / "pubmed" / "elink_json_2ids_one_list.json"


def json_facts(path):
    """(PMIDs, {(LinkName, linked PMID)}) of each LinkSet of a JSON answer, read plainly."""
    return [(link_set["ids"], {(db_links["linkname"], target) for db_links in link_set["linksetdbs"]
                               if db_links["dbto"] == "pubmed" for target in db_links["links"]})
            for link_set in json.loads(path.read_bytes())["linksets"]]


def test_the_json_fixtures_restate_the_recorded_xml_answers_id_for_id():
    for fixture, name in ((SINGLE, "biopython__elink1_pubmed_pubmed.xml"),
                          (ONE_LIST, "biopython__elink3_pubmed_2ids.xml")):
        root = ET.parse(real_data() / "pubmed" / name).getroot()
        recorded = [([i.text.strip() for i in link_set.findall("IdList/Id")],
                     {(db_links.findtext("LinkName"), link.findtext("Id").strip())
                      for db_links in link_set.findall("LinkSetDb") for link in db_links.findall("Link")})
                    for link_set in root.iter("LinkSet")]
        assert json_facts(fixture) == recorded


def test_every_link_of_a_json_elink_answer_for_one_pmid_is_stored_with_its_relation(db):
    ((pmids, linked),) = json_facts(SINGLE)
    expected = {(pmids[0], ELINK_NAMES[name], target) for name, target in linked
                if name in ELINK_NAMES and target != pmids[0]}
    stats, note = load_pubmed_file(db, SINGLE)
    stored = set(db.execute("SELECT from_id, relation, to_id FROM links WHERE asserted_by = 'pubmed-elink' "
                            "AND from_scheme = 'pmid' AND to_scheme = 'pmid'").fetchall())
    assert stored == expected and len(expected) > 150
    assert {relation for _, relation, _ in stored} == {"related", "cited_by", "cites", "related_review"}
    assert stats.added == 0 and note == f"{len(expected)} link(s) between PMIDs stored"


def test_a_json_linkset_of_several_pmids_stores_no_link_and_is_named_in_the_note(db):
    ((pmids, linked),) = json_facts(ONE_LIST)
    assert (pmids, {(ELINK_NAMES[n], t) for n, t in linked if n in ELINK_NAMES}) == \
        shared_link_set(real_data() / "pubmed" / "biopython__elink3_pubmed_2ids.xml")
    _, note = load_pubmed_file(db, ONE_LIST)
    assert db["links"].count == 0
    assert note.startswith("0 link(s) between PMIDs stored; 1 LinkSet(s) of PMIDs asked for together "
                           f"({', '.join(pmids)}) stored no link")
