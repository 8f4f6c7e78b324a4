import json

import pytest
import pytest_asyncio

from kb import demo, serve
from kb.db import SCHEMA, open_db


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "regenkb.db"
    demo.build(open_db(str(path)))
    return path


@pytest_asyncio.fixture
async def client(demo_db):
    datasette = serve.datasette_for(demo_db)
    await datasette.invoke_startup()
    return datasette.client


@pytest.mark.asyncio
async def test_json_api_searches_works(client, demo_db):
    response = await client.get("/regenkb/works.json?_search=exosome&_shape=array&_size=max")
    assert response.status_code == 200
    found = {row["id"] for row in response.json()}
    expected = {r[0] for r in open_db(str(demo_db)).execute(
        "select rowid from works_fts where works_fts match 'exosome'")}
    assert found == expected and len(found) >= 3
    assert any(row["pmid"] == "35281985" for row in response.json())


@pytest.mark.asyncio
async def test_ranked_search_query_puts_the_seed_first_with_marked_snippets(client):
    response = await client.get("/regenkb/search.json?q=placenta+exosome+craniectomy&_shape=array")
    rows = response.json()
    assert rows[0]["pmid"] == "35281985"
    page = await client.get("/regenkb/search?q=exosome+stroke")
    assert page.status_code == 200
    assert "<mark>" in page.text and "\x02" not in page.text


@pytest.mark.asyncio
async def test_canned_queries_give_the_seed_author_list_with_numbered_affiliations(client):
    authors = (await client.get("/regenkb/work_authors.json?pmid=35281985&_shape=array")).json()
    assert [(a["written_name"], a["affiliation_numbers"]) for a in authors][:3] == [
        ("Dehghani L", "1"), ("Khojasteh A", "1"), ("Soleimani M", "1, 2, 3")]
    affiliations = (await client.get("/regenkb/work_affiliations.json?pmid=35281985&_shape=array")).json()
    assert [a["number"] for a in affiliations] == list(range(1, 9))


@pytest.mark.asyncio
async def test_an_empty_search_answers_no_rows_not_an_error(client):
    response = await client.get("/regenkb/search.json?q=&_shape=array")
    assert response.status_code == 200 and response.json() == []


@pytest.mark.asyncio
async def test_metadata_reaches_the_table_pages(client):
    metadata = (await client.get("/-/metadata.json")).json()
    assert "regenkb" in metadata["databases"]
    page = await client.get("/regenkb/works")
    assert "One row per real work" in page.text


def test_every_table_and_column_is_described():
    metadata = json.loads(serve.METADATA.read_text())
    tables = metadata["databases"][serve.TEMPLATE_DATABASE]["tables"]
    for table, (columns, _) in SCHEMA.items():
        assert tables[table]["description"], table
        assert set(columns) <= set(tables[table]["columns"]), table


def test_metadata_follows_the_kb_file_name(tmp_path):
    metadata = serve.metadata_for(tmp_path / "my.db")
    assert list(metadata["databases"]) == ["my"]


@pytest.mark.asyncio
async def test_related_trials_of_the_seed_paper_by_pmid_doi_or_work_id(client, demo_db):
    by_pmid = (await client.get("/regenkb/trials_for_work.json?work=35281985&_shape=array")).json()
    assert by_pmid[0]["nct_id"] == "NCT03384433" and by_pmid[0]["rank"] == 1
    assert "probably the same study" in by_pmid[0]["reasons"]
    assert "same sponsor institution: Isfahan University of Medical Sciences" in by_pmid[0]["reasons"]
    assert "same intervention: MSC-derived exosome/EV" in by_pmid[0]["reasons"]
    assert len(by_pmid) > 1 and by_pmid[1]["score"] < by_pmid[0]["score"]
    by_doi = (await client.get("/regenkb/trials_for_work.json?work=10.4103/IJPVM.IJPVM_441_21&_shape=array")).json()
    work_id = open_db(str(demo_db)).execute("select id from works where pmid = '35281985'").fetchone()[0]
    by_id = (await client.get(f"/regenkb/trials_for_work.json?work={work_id}&_shape=array")).json()
    assert by_pmid == by_doi == by_id


@pytest.mark.asyncio
async def test_trials_for_work_tells_an_unknown_work_from_a_known_work_without_trials(client, demo_db):
    unknown = await client.get("/regenkb/trials_for_work.json?work=99999998&_shape=array")
    assert unknown.status_code == 200
    assert [(row["nct_id"], row["note"]) for row in unknown.json()] == [
        (None, "No work in this KB has the PMID, DOI or id '99999998': search for it at /-/search-all")]
    page = (await client.get("/regenkb/trials_for_work?work=10.9999/no.such.doi")).text
    assert "No work in this KB has the PMID, DOI or id &#39;10.9999/no.such.doi&#39;" in page
    lonely = open_db(str(demo_db)).execute(
        "select pmid from works where pmid is not null and id not in (select work_id from related_trials) "
        "order by id").fetchone()[0]
    known = await client.get(f"/regenkb/trials_for_work.json?work={lonely}&_shape=array")
    assert known.status_code == 200 and known.json() == []
    blank = await client.get("/regenkb/trials_for_work.json?work=&_shape=array")
    assert blank.json() == []  # the form before a work is given says nothing


@pytest.mark.asyncio
async def test_trial_publications_lists_the_works_a_trial_is_linked_to(client):
    rows = (await client.get("/regenkb/trial_publications.json?trial=NCT02961504&_shape=array")).json()
    assert {(r["pmid"], r["relation"]) for r in rows} >= {("38227308", "reported_in"), ("29134924", "background_for")}
    assert all(r["strength"] == 1.0 for r in rows if r["relation"] != "probably_same_study")


@pytest.mark.asyncio
async def test_trials_are_searchable_and_facetable(client):
    rows = (await client.get("/regenkb/search_trials.json?q=exosome+stroke&_shape=array")).json()
    assert rows[0]["nct_id"] == "NCT03384433"
    page = (await client.get("/regenkb/trials.json?_facet_array=phases&_facet=overall_status")).json()
    assert {"phases", "overall_status"} <= set(page["facet_results"])


@pytest.mark.asyncio
async def test_identifiers_render_as_links_to_their_registries(client):
    page = (await client.get("/regenkb/trials?nct_id=NCT03384433")).text
    assert '<a href="https://clinicaltrials.gov/study/NCT03384433">NCT03384433</a>' in page
    page = (await client.get("/regenkb/works?pmid=35281985")).text
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/35281985/">35281985</a>' in page


@pytest.mark.asyncio
async def test_the_seed_work_shows_its_portal_record_and_related_documents(client):
    related = (await client.get("/regenkb/related_works.json?work=35281985&_shape=array")).json()
    titles = {r["title"] for r in related if "related (portal)" in r["links"]}
    assert titles == {"Microrna: Relevance to Stroke Diagnosis, Prognosis, and Therapy",
                      "The Therapeutic Effect of Mscs and Their Extracellular Vesicles on Neuroblastoma",
                      "Stem Cell Therapy in Stroke: A Review Literature"}
    sources = (await client.get("/regenkb/work_sources.json?work=35281985&_shape=array")).json()
    assert {s["source"] for s in sources} == {"pubmed", "portal"}
