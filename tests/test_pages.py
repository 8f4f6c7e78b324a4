import asyncio
import json
import re
from pathlib import Path

import pytest

from harvest.records import new_author, new_work
from kb import citations, demo, serve
from kb.db import open_db
from kb.ingest import load_ctgov_file, refresh
from kb.load import WorkLoader

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"
XSS = '<script>alert("x")</script><img src=x onerror=alert(2)> Exosomes after stroke'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("site") / "regenkb.db"
    db = open_db(str(path))
    demo.build(db)
    # Harvested text is untrusted: a title that is an XSS payload must render as text.
    record = new_work(pmid="99999999", title=XSS, year=2024, abstract="<b onmouseover=alert(3)>bold</b> exosome",
                      authors=[new_author(1, last_name="Evil<script>", fore_name="Eve", initials="E",
                                          affiliations=[{"name": "<i>Lab</i>, Tehran, Iran", "identifiers": {}}])])
    record["raw"] = b"<PubmedArticle>99999999</PubmedArticle>"
    WorkLoader(db, "pubmed").write_batch([record], "hand-built")
    trial = path.parent / "evil_trial.json"  # a registry record whose every text is a payload
    trial.write_text(json.dumps({"protocolSection": {
        "identificationModule": {"nctId": "NCT09999999", "briefTitle": XSS},
        "statusModule": {"overallStatus": "RECRUITING", "lastUpdatePostDateStruct": {"date": "2019-01-01"}},
        "sponsorCollaboratorsModule": {"leadSponsor": {"name": "<script>alert(4)</script> Sponsor"}},
        "outcomesModule": {"primaryOutcomes": [{"measure": XSS, "timeFrame": "<b onmouseover=alert(5)>1y</b>"}]},
        "eligibilityModule": {"studyPopulation": XSS, "eligibilityCriteria": (
            "Inclusion Criteria:\n\n* <script>alert(7)</script>\n\n"
            "Exclusion Criteria:\n\n* <img src=x onerror=alert(8)>")},
        "contactsLocationsModule": {
            "overallOfficials": [{"name": "<img src=x onerror=alert(6)>", "affiliation": "<i>Lab</i>, Tehran, Iran"}],
            "locations": [{"facility": XSS, "city": "Tehran", "country": "Iran, Islamic Republic of"}]}}}))
    load_ctgov_file(db, trial)
    refresh(db)
    datasette = serve.datasette_for(path)
    asyncio.run(datasette.invoke_startup())
    return db, datasette


def get(datasette, url):
    return asyncio.run(datasette.client.get(url))


def work_id(db, pmid):
    return db.execute("select id from works where pmid = ?", [pmid]).fetchone()[0]


def test_the_work_page_reads_like_the_seed_page(site):
    db, datasette = site
    page = get(datasette, f"/-/work/{work_id(db, '35281985')}")
    assert page.status_code == 200
    text = page.text
    assert text.count('<li value="') == 8  # the eight numbered affiliations
    assert re.search(r">Soleimani M</a><sup>1, 2, 3</sup>", text) and ">Soleimani R</a><sup>8</sup>" in text
    assert "International journal of preventive medicine" in text and "2022" in text
    assert "NCT03384433" in text and "same sponsor institution" in text  # its trial, with the reasons
    assert "route: intracerebral" in text and "Intraparenchymal" in text  # a tag with its words
    assert "Related documents" in text and text.count("Other Related Docs #") == 3  # as on the seed page
    assert "pubmed 35281985" in text  # the source record behind it


def test_a_missing_work_is_a_404_that_points_to_search(site):
    page = get(site[1], "/-/work/1234567")
    assert page.status_code == 404 and "/-/search-all" in page.text


def test_search_all_finds_works_trials_people_and_institutions(site):
    text = get(site[1], "/-/search-all?q=Soleimani").text
    assert "Masoud Soleimani" in text and "Reyhane Soleimani" in text
    text = get(site[1], "/-/search-all?q=placenta+exosome").text
    assert "<mark>" in text and "/-/work/" in text
    assert "Isfahan University of Medical Sciences" in get(site[1], "/-/search-all?q=Isfahan").text


def test_untrusted_text_renders_as_text_everywhere(site):
    db, datasette = site
    evil = work_id(db, "99999999")
    for url in (f"/-/work/{evil}", "/regenkb/works?pmid=99999999", "/-/search-all?q=exosomes+stroke",
                "/-/search?q=exosomes+stroke&kind=works&sort=newest", "/-/search?q=Evil&kind=works",
                "/regenkb/search?q=exosomes+stroke", f"/regenkb/works/{evil}", "/-/trial/NCT09999999",
                "/-/gap-map/studies?map=clinical&row=exosome%2FEV+%28other+source%29&outcome=no+outcome+tagged", "/"):
        text = get(datasette, url).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b onmouseover" not in text, url
        assert "&lt;script&gt;" in text or "&lt;img" in text or "&lt;b" in text, url
    criteria = get(datasette, "/-/trial/NCT09999999").text  # the criteria lists too
    assert '<li class="level-0">&lt;script&gt;alert(7)&lt;/script&gt;</li>' in criteria


def test_works_download_as_bibtex_ris_and_csl_json(site):
    datasette = site[1]
    bib = get(datasette, "/regenkb/works.bibtex?pmid=35281985")
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    assert bib.text.startswith("@article{pmid35281985,") and "Soleimani, Masoud and" in bib.text
    ris = get(datasette, "/regenkb/works.ris?pmid=35281985").text
    assert ris.startswith("TY  - JOUR") and "AU  - Soleimani, Reyhane" in ris and ris.rstrip().endswith("ER  -")
    csl = json.loads(get(datasette, "/regenkb/works.csljson?_search=exosome").text)
    assert len(csl) >= 5 and all(item["type"] == "article-journal" for item in csl)
    seed = next(item for item in csl if item.get("PMID") == "35281985")
    assert seed["issued"] == {"date-parts": [[2022]]} and seed["author"][0] == {"family": "Dehghani", "given": "Leila"}
    by_query = get(datasette, "/regenkb/works_by_author.bibtex?name=Saadatnia")
    assert by_query.status_code == 200 and "@article{" in by_query.text
    refused = get(datasette, "/regenkb/trials.bibtex")
    assert refused.status_code == 400 and "not works" in refused.text


def test_citation_formats_escape_and_expand_pages():
    work = {"id": 1, "pmid": None, "doi": "10.1/x{y}", "title": "50% of {braces} & more", "year": 2020,
            "journal": "J", "volume": "3", "issue": None, "pages": "123-9", "pmcid": None, "abstract": None,
            "authors": [("Müller", "Jürgen"), ("STROKE Group", None)]}
    bib = citations.to_bibtex([work])
    assert "title = {50\\% of \\{braces\\} \\& more}" in bib and "pages = {123--129}" in bib
    assert "author = {Müller, Jürgen and {STROKE Group}}" in bib
    assert "SP  - 123\r\nEP  - 129" in citations.to_ris([work])
    assert json.loads(citations.to_csl_json([work]))[0]["author"][1] == {"literal": "STROKE Group"}


def test_the_works_table_links_titles_to_work_pages_and_shows_lists_as_lists(site):
    db, datasette = site
    text = get(datasette, "/regenkb/works?pmid=35281985").text
    assert f'href="/-/work/{work_id(db, "35281985")}"' in text
    people = get(datasette, "/regenkb/authors?name=Masoud+Soleimani").text
    assert "Shahid Beheshti University of Medical Sciences (1); Tarbiat Modares University (1)" in people


def test_every_api_example_in_the_docs_answers(site):
    datasette = site[1]
    urls = re.findall(r"'http://127\.0\.0\.1:8001(/[^']+)'", DOCS.read_text())
    urls += re.findall(r'"http://127\.0\.0\.1:8001(/[^"]+)"', DOCS.read_text())
    assert len(urls) >= 10
    for url in urls:
        response = get(datasette, url)
        assert response.status_code == 200, url
        if ".json" in url:
            body = response.json()
            rows = body if isinstance(body, list) else body.get("rows", body)  # a page's twin is its record
            assert rows, url
    pages = get(datasette, "/regenkb/works.json?_size=20&_shape=objects").json()
    titles, url = [], "/regenkb/works.json?_size=20&_shape=objects"
    while url:  # the docs' pagination loop, through the same client
        page = get(datasette, url.replace("http://localhost", "")).json()
        titles += [row["title"] for row in page["rows"]]
        url = page["next_url"]
    assert len(titles) == open_db(str(site[0].conn.execute("pragma database_list").fetchone()[2]))["works"].count
    assert pages["next_url"]
    facets = get(datasette, "/regenkb/evidence.json?on_topic=1&route__arraycontains=intravenous&_shape=objects").json()
    assert facets["facet_results"]["design"]["results"]
    types = get(datasette, "/regenkb/works.json?_facet_array=pub_types&_size=5").json()["facet_results"]
    assert {"Clinical Trial", "Meta-Analysis"} <= {result["value"] for result in types["pub_types"]["results"]}


def test_cors_is_off_unless_asked_and_nothing_can_be_written(site):
    db, datasette = site
    path = db.conn.execute("pragma database_list").fetchone()[2]
    assert "access-control-allow-origin" not in get(datasette, "/regenkb/works.json").headers
    open_api = serve.datasette_for(path, immutable=True, cors=True)
    assert get(open_api, "/regenkb/works.json").headers["access-control-allow-origin"] == "*"
    refused = get(datasette, "/regenkb.json?sql=" + "delete from works")
    assert refused.status_code == 400 and db["works"].count > 60


def test_author_and_institution_pages_show_works_partners_and_an_offline_network(site):
    db, datasette = site
    masoud = db.execute("select wa.author_id from work_authors wa join works w on w.id = wa.work_id "
                        "where w.pmid = '35281985' and wa.position = 3").fetchone()[0]
    page = get(datasette, f"/-/author/{masoud}").text
    assert "<h1>Masoud Soleimani</h1>" in page and "Tarbiat Modares University (1)" in page
    assert page.count('href="/-/author/') >= 9  # his coauthors, each linked to their page
    assert "/-/static-plugins/regenkb/cytoscape.min.js" in page and "cdn" not in page.lower()
    elements = json.loads(re.search(r'<script type="application/json" id="regenkb-network-elements">(.*?)</script>',
                                    page).group(1))
    assert sum("source" not in e["data"] for e in elements) == 10 and any("source" in e["data"] for e in elements)
    script = get(datasette, "/-/static-plugins/regenkb/cytoscape.min.js")
    assert script.status_code == 200 and "cytoscape" in script.text[:2000].lower()
    sbmu = db.execute("select id from institutions where name = 'Shahid Beheshti University of Medical Sciences'"
                      ).fetchone()[0]
    page = get(datasette, f"/-/institution/{sbmu}").text
    assert "Tarbiat Modares University" in page and "Isfahan University of Medical Sciences" in page  # partners
    assert "Department of Tissue Engineering and Applied Cell Sciences" in page  # a department
    assert get(datasette, "/-/author/1").status_code == 404
    evil = db.execute("select author_id from work_authors wa join works w on w.id = wa.work_id "
                      "where w.pmid = '99999999'").fetchone()[0]
    page = get(datasette, f"/-/author/{evil}").text
    assert "Evil<script>" not in page and ("Evil\\u003cscript\\u003e" in page or "Evil&lt;script&gt;" in page)


def test_trial_sites_get_a_map_and_stay_a_list_without_tiles(site):
    page = get(site[1], "/regenkb/trial_sites?country=China&_size=50").text
    assert "/-/static-plugins/datasette-cluster-map/datasette-cluster-map.js" in page  # Leaflet ships locally
    assert page.count("China") >= 8  # the sites themselves, as rows, with tiles or without


def test_networks_download_as_graphml_and_gexf_from_the_graph_pages(site, tmp_path):
    import networkx as nx

    from kb import graph

    db, datasette = site
    graph.build(db, "coauthorship")
    response = get(datasette, "/regenkb/graph_edges.graphml?network=coauthorship&_size=max")
    assert response.status_code == 200 and response.text.startswith("<?xml")
    (tmp_path / "net.graphml").write_text(response.text)
    back = nx.read_graphml(tmp_path / "net.graphml")
    assert back.number_of_edges() == db.execute(
        "select count(*) from graph_edges where network = 'coauthorship'").fetchone()[0]  # every edge, not a page
    assert any(data.get("label") == "Masoud Soleimani" for _, data in back.nodes(data=True))
    gexf = get(datasette, "/regenkb/graph_edges.gexf?network=coauthorship&_size=20")
    assert gexf.status_code == 200 and "<gexf" in gexf.text
    assert get(datasette, "/regenkb/works.graphml").status_code == 400


def test_a_persons_page_says_only_the_spellings_their_papers_used(tmp_path):
    # Two people whose folded names are one ('Müller' and 'Muller' share an author_names row):
    # each page and its JSON give the spelling of that person's own papers.
    path = tmp_path / "kb.db"
    db = open_db(str(path))
    for pmid, last, title, place in (
            ("99999970", "Müller", "Stem cells after stroke in rats", "Charité, Berlin, Germany"),
            ("99999971", "Muller", "Plankton of the Benguela current",
             "University of Cape Town, Cape Town, South Africa")):
        record = new_work(pmid=pmid, title=title, year=2020, authors=[new_author(
            1, last_name=last, fore_name="Hans", initials="H", affiliations=[{"name": place, "identifiers": {}}])])
        record["raw"] = f"<PubmedArticle>{pmid}</PubmedArticle>".encode()
        WorkLoader(db, "pubmed").write_batch([record], "hand-built")
    refresh(db)
    datasette = serve.datasette_for(path)
    for pmid, written in (("99999970", "Müller H"), ("99999971", "Muller H")):
        person = db.execute("select author_id from work_authors wa join works w on w.id = wa.work_id where w.pmid = ?",
                            [pmid]).fetchone()[0]
        assert get(datasette, f"/-/author/{person}.json").json()["forms"] == [written]
        assert f"Written as: {written}." in get(datasette, f"/-/author/{person}").text
        page = get(datasette, f"/-/work/{work_id(db, pmid)}").text
        assert f">{written}</a>" in page
