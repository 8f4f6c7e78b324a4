import asyncio
import json
import re
import sqlite3

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from harvest.records import new_author, new_work
from kb import demo, serve
from kb.cli import cli
from kb.db import open_db
from kb.ingest import refresh
from kb.load import WorkLoader
from kb.search import find, fts_query, identifier_of, phrases_of, spelling_candidates

SEED_DOI = "10.4103/ijpvm.ijpvm_441_21"
ORCID = "0000-0002-1825-0097"
ROR = "https://ror.org/04sexa105"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo KB and one hand-built work by an author with an ORCID at an institution with a ROR."""
    path = tmp_path_factory.mktemp("search") / "regenkb.db"
    db = open_db(str(path))
    demo.build(db)
    record = new_work(pmid="99999990", openalex_id="W2741809807", title="Neural stem cells after stroke in rats",
                      year=2023, authors=[new_author(1, last_name="Carberry", fore_name="Josiah", initials="J",
                                                     orcid=ORCID, affiliations=[
                                                         {"name": "Weill Cornell Medicine, New York, USA",
                                                          "identifiers": {"ror": ROR}}])])
    record["raw"] = b"<PubmedArticle>99999990</PubmedArticle>"
    WorkLoader(db, "pubmed").write_batch([record], "hand-built")
    refresh(db)
    datasette = serve.datasette_for(path)
    asyncio.run(datasette.invoke_startup())
    return db, datasette, str(path)


def get(datasette, url):
    return asyncio.run(datasette.client.get(url))


def one(db, sql, params=()):
    return db.execute(sql, params).fetchone()[0]


def test_each_kind_of_identifier_opens_its_record(site):
    db, datasette, _ = site
    seed = one(db, "select id from works where pmid = '35281985'")
    person = one(db, "select author_id from work_authors wa join works w on w.id = wa.work_id where w.pmid = '99999990'")
    place = one(db, "select id from institutions where ror = ?", [ROR])
    isrctn_work = one(db, "select work_id from registry_ids where accession = 'ISRCTN14654908'")
    for query, page in [("35281985", f"/-/work/{seed}"), ("PMID: 35281985", f"/-/work/{seed}"),
                        ("PMC8883670", f"/-/work/{seed}"), (SEED_DOI, f"/-/work/{seed}"),
                        ("doi:" + SEED_DOI.upper(), f"/-/work/{seed}"), ("https://doi.org/" + SEED_DOI, f"/-/work/{seed}"),
                        ("NCT03384433", "/-/trial/NCT03384433"), ("nct03384433", "/-/trial/NCT03384433"),
                        ("ISRCTN14654908", f"/-/work/{isrctn_work}"), ("2019-001680-69", "/-/trial/NCT03545607"), ("W2741809807", f"/-/work/{one(db, 'select id from works where pmid = ?', ['99999990'])}"),
                        ("https://openalex.org/W2741809807", f"/-/work/{one(db, 'select id from works where pmid = ?', ['99999990'])}"),
                        (ORCID, f"/-/author/{person}"), ("https://orcid.org/" + ORCID, f"/-/author/{person}"),
                        (ROR, f"/-/institution/{place}"), ("04sexa105", f"/-/institution/{place}")]:
        response = get(datasette, "/-/search?" + f"q={query}".replace(" ", "+").replace("&", "%26"))
        assert response.status_code == 302 and response.headers["location"] == page, query


def test_an_identifier_the_kb_lacks_is_named_and_searched_as_text(site):
    page = get(site[1], "/-/search?q=NCT99999999")
    assert page.status_code == 200 and "this KB holds no record with that ClinicalTrials.gov" in page.text
    assert 'href="https://clinicaltrials.gov/study/NCT99999999"' in page.text
    answer = get(site[1], "/-/search.json?q=35281985").json()
    assert answer["identifier"]["path"] == answer["identifier"]["records"][0]["path"]
    assert answer["identifier"]["elsewhere"] == "https://pubmed.ncbi.nlm.nih.gov/35281985/"


def test_words_are_not_taken_for_identifiers():
    for text in ("stroke", "exosome 2022", "MSC", "phase 2", "W2 stroke", "orcid", "10.5 mg"):
        assert identifier_of(text) is None, text
    assert identifier_of("https://doi.org/10.1000/ABC") == ("DOI", "10.1000/abc")


@pytest.mark.parametrize("british, american", [("ischaemic stroke", "ischemic stroke"), ("haemorrhage", "hemorrhage"),
                                               ("randomised", "randomized"), ("exosome", "extracellular vesicle"),
                                               ("EV", "exosome"), ("MSC", "mesenchymal stem cell"),
                                               ("mesenchymal stromal cell", "MSC")])
def test_spelling_variants_and_synonyms_find_as_much_both_ways(site, british, american):
    conn = site[0].conn
    one_way, other_way = find(conn, british, size=100), find(conn, american, size=100)
    assert one_way["total"] == other_way["total"] > find(conn, british, widen=False)["total"] or (
        one_way["total"] == other_way["total"] >= find(conn, american, widen=False)["total"] > 0), (british, american)
    assert {r["id"] for r in one_way["rows"]} == {r["id"] for r in other_way["rows"]}


def test_the_ischaemic_stroke_query_finds_what_ischemic_finds(site):
    conn = site[0].conn
    typed = find(conn, "ischaemic stroke", widen=False)["total"]
    assert find(conn, "ischaemic stroke")["total"] == find(conn, "ischemic stroke")["total"] >= 30 > typed


def test_the_page_says_how_a_query_was_expanded(site):
    soup = BeautifulSoup(get(site[1], "/-/search?q=haemorrhage").text, "html.parser")
    expanded = soup.select_one("p.expanded").get_text(" ", strip=True)
    assert "“haemorrhage” as haemorrhage or hemorrhage (British and American spellings)" in expanded
    soup = BeautifulSoup(get(site[1], "/-/search?q=MSC").text, "html.parser")
    expanded = soup.select_one("p.expanded").get_text(" ", strip=True)
    assert "mesenchymal stromal cell" in expanded and "intervention.tsv" in expanded
    exact = get(site[1], "/-/search.json?q=MSC&exact=1").json()
    assert exact["expanded"] == [] and exact["match"] == '"msc"'


def test_operators_and_phrases_survive_expansion(site):
    conn = site[0].conn
    assert find(conn, "stroke NOT rat")["match"] == '"stroke" NOT "rat"'
    quoted = find(conn, '"ischaemic stroke"')  # a quoted phrase is searched as typed
    assert quoted["expanded"] == [] and quoted["total"] == find(conn, "ischaemic stroke", widen=False)["total"]
    assert fts_query("stroke NOT rat") == '"stroke" NOT "rat"' and fts_query("NOT AND") == '""'
    assert find(conn, "rat OR mouse")["match"] == '"rat" OR ("mouse" OR "mice" OR "murine")'


def test_an_institution_or_city_finds_the_works_of_its_authors(site):
    db, datasette, _ = site
    isfahan = {row[0] for row in db.execute(
        "select distinct waa.work_id from work_author_affiliations waa join affiliations af on af.id = waa.affiliation_id "
        "where af.name like '%Isfahan%'")}
    answer = get(datasette, "/-/search.json?q=Isfahan").json()
    assert isfahan and {hit["id"] for hit in answer["rows"]} == isfahan
    assert any(i["name"] == "Isfahan University of Medical Sciences" for i in answer["institutions"])
    cornell = get(datasette, "/-/search.json?q=Weill+Cornell").json()
    assert [hit["title"] for hit in cornell["rows"]] == ["Neural stem cells after stroke in rats"]


def test_filters_narrow_the_results_and_count_each_value(site):
    db, datasette = site[0], site[1]
    everything = get(datasette, "/-/search.json?q=stroke").json()
    everything_all = get(datasette, "/-/search.json?q=stroke&size=100").json()
    design = dict(everything["facets"]["design"])
    rct = get(datasette, "/-/search.json?q=stroke&design=randomised+controlled+trial").json()
    assert rct["total"] == design["randomised controlled trial"] < everything["total"]
    recent = get(datasette, "/-/search.json?q=stroke&year_from=2020&year_to=2022").json()
    assert recent["total"] == sum(n for year, n in everything["facets"]["year"] if 2020 <= year <= 2022)
    assert all(2020 <= hit["year"] <= 2022 for hit in recent["rows"])
    on_topic = get(datasette, "/-/search.json?q=stroke&on_topic=1").json()
    assert on_topic["total"] == everything["facets"]["on_topic"] < everything["total"]
    with_trial = get(datasette, "/-/search.json?q=stroke&has_trial=1&size=100").json()
    assert with_trial["total"] == everything["facets"]["has_trial"] > 0
    assert all(hit["trials"] for hit in with_trial["rows"])
    linked = {row[0] for row in db.execute(
        "select work_id from registry_ids union select from_work_id from links where to_trial_id is not null and "
        "(relation in ('registered_as', 'reported_in') or (relation = 'probably_same_study' and score >= 0.7)) union "
        "select to_work_id from links where from_trial_id is not null and relation in ('registered_as', 'reported_in')")}
    assert {hit["id"] for hit in with_trial["rows"]} == linked & {hit["id"] for hit in everything_all["rows"]}
    assert get(datasette, "/-/search.json?q=stroke&open_access=1").json()["total"] == everything["facets"]["open_access"]
    phase = get(datasette, "/-/search.json?q=stroke&kind=trials&phase=2").json()
    assert phase["total"] == dict(get(datasette, "/-/search.json?q=stroke&kind=trials").json()["facets"]["phase"])["2"]
    reviews = get(datasette, "/-/search.json?q=stroke&pub_type=Review&size=100").json()
    assert reviews["total"] > 0 and all("Review" in hit["pub_types"] for hit in reviews["rows"])


def test_sorting_by_newest_and_most_cited(site):
    newest = get(site[1], "/-/search.json?q=stroke&sort=newest&size=100").json()["rows"]
    years = [hit["year"] for hit in newest if hit["year"] is not None]
    assert years == sorted(years, reverse=True) and len(years) > 10
    cited = get(site[1], "/-/search.json?q=stroke&sort=cited&size=100").json()["rows"]
    counts = [hit["cited_by_count"] for hit in cited if hit["cited_by_count"] is not None]
    assert counts == sorted(counts, reverse=True)


def test_paging_walks_every_result_once(site):
    everything = get(site[1], "/-/search.json?q=stroke&size=100").json()
    seen = []
    for page in range(1, 100):
        answer = get(site[1], f"/-/search.json?q=stroke&size=10&page={page}").json()
        if not answer["rows"]:
            break
        seen += [hit["id"] for hit in answer["rows"]]
    assert seen == [hit["id"] for hit in everything["rows"]] and len(seen) == everything["total"] > 10
    soup = BeautifulSoup(get(site[1], "/-/search?q=stroke&size=10&page=2").text, "html.parser")
    assert soup.select_one("a[rel=next]")["href"].endswith("page=3")
    assert soup.select_one("a[rel=prev]")["href"] == "/-/search?q=stroke&size=10&page=1"
    assert soup.select_one("ol.hits")["start"] == "11"


def test_every_result_links_to_our_page_and_its_registries(site):
    soup = BeautifulSoup(get(site[1], "/-/search?q=placenta+exosome+craniectomy").text, "html.parser")
    first = soup.select_one("ol.hits > li")
    assert first.a["href"].startswith("/-/work/") and "Safety of Intraparenchymal Injection" in first.a.text
    outside = [a["href"] for a in first.select(".outside a")]
    assert outside == ["https://pubmed.ncbi.nlm.nih.gov/35281985/", "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC8883670/",
                       "https://doi.org/" + SEED_DOI, "/-/trial/NCT03384433"]
    assert first.select_one(".outside a.trial")["title"] == "probably same study"
    trials = BeautifulSoup(get(site[1], "/-/search?q=exosome+ischemic+stroke&kind=trials").text, "html.parser")
    hit = trials.select_one("ol.hits > li")
    assert hit.a["href"] == "/-/trial/NCT03384433"
    assert [a["href"] for a in hit.select(".outside a")] == ["https://clinicaltrials.gov/study/NCT03384433"]


def test_the_json_twin_gives_the_page_hits_with_the_same_marks(site):
    page = get(site[1], "/-/search?q=placenta+exosome").text
    answer = get(site[1], "/-/search.json?q=placenta+exosome").json()
    assert answer["total"] == len(answer["rows"]) > 0
    for hit in answer["rows"]:
        assert "<mark>" in hit["snippet"] and hit["snippet"] in page
        assert f'href="{hit["path"]}"' in page
    assert get(site[1], "/-/search-all.json?q=placenta+exosome").json()["rows"] == answer["rows"]


def test_a_query_too_long_or_a_bad_page_is_a_400(site):
    assert get(site[1], "/-/search.json?q=" + "stroke+" * 100).status_code == 400
    assert get(site[1], "/-/search?q=stroke&page=x").status_code == 400
    beyond = get(site[1], "/-/search.json?q=stroke&page=" + "9" * 30)
    assert beyond.status_code == 200 and beyond.json()["rows"] == [] and beyond.json()["total"] > 0


def test_kb_search_opens_identifiers_and_says_how_it_widened(site):
    path = site[2]
    text = CliRunner().invoke(cli, ["search", SEED_DOI, "--db", path]).output
    assert text.startswith("DOI 10.4103/ijpvm.ijpvm_441_21: work ") and "Safety of Intraparenchymal Injection" in text
    text = CliRunner().invoke(cli, ["search", "haemorrhage", "--db", path, "--limit", "50"]).output
    assert "Also searched 'haemorrhage' as haemorrhage or hemorrhage (British and American spellings)." in text
    hits = json.loads(CliRunner().invoke(cli, ["search", "haemorrhage", "--db", path, "--json", "--limit", "50"]).output)
    assert len(hits) == find(site[0].conn, "hemorrhage", size=50)["total"] > 0
    assert re.search(r"\d+\. ", text)


def test_an_older_kb_gains_the_affiliations_column_filled_from_its_tables(site, tmp_path):
    older = tmp_path / "older.db"
    with sqlite3.connect(site[2]) as source, sqlite3.connect(older) as copy:
        source.backup(copy)
        columns = "title, abstract, mesh, keywords, authors, journal"
        copy.execute(f"CREATE VIRTUAL TABLE works_fts_v1 USING fts5({columns}, tokenize='porter unicode61 remove_diacritics 2')")
        copy.execute(f"INSERT INTO works_fts_v1 (rowid, {columns}) SELECT rowid, {columns} FROM works_fts")
        copy.execute("DROP TABLE works_fts")
        copy.execute("ALTER TABLE works_fts_v1 RENAME TO works_fts")
        assert not copy.execute("SELECT count(*) FROM works_fts WHERE works_fts MATCH 'isfahan'").fetchone()[0]
    db = open_db(str(older))
    assert "affiliations" in db["works_fts"].columns_dict
    assert find(db.conn, "Isfahan")["total"] == find(site[0].conn, "Isfahan")["total"] > 0
    assert db["works_fts"].count == site[0]["works_fts"].count


def test_works_with_the_words_as_typed_in_either_spelling_rank_before_synonym_hits(site):
    conn = site[0].conn
    typed = {row[0] for row in conn.execute(
        """select rowid from works_fts where works_fts match '"ischaemic stroke" OR "ischemic stroke"'""")}
    for query in ("ischaemic stroke", "ischemic stroke"):
        ranked = [hit["id"] for hit in find(conn, query, size=100)["rows"]]
        assert 0 < len(typed) < len(ranked) and set(ranked[:len(typed)]) == typed, query


def test_vocabulary_patterns_read_as_the_phrases_they_name():
    assert phrases_of(r"\bmesenchymal (stem|stromal) cells?\b|\bexosom|\bmscs?\b") == [
        (("mesenchymal", "stem", "cell"), False), (("mesenchymal", "stromal", "cell"), False), (("exosom",), True),
        (("msc",), False)]
    assert phrases_of(r"\bphase (i|1)\b(?!/| ?-)") == [(("phase", "i"), False), (("phase", "1"), False)]
    assert phrases_of(r"\brandomi[sz]ed[- ](double[- ]blind[- ])*trial\b|\bca.e\b") == []  # no finite list


def test_spelling_rules_give_the_other_form_of_a_word():
    assert {"hemorrhage"} <= spelling_candidates("haemorrhage") and "haemorrhage" in spelling_candidates("hemorrhage")
    assert "randomized" in spelling_candidates("randomised") and "oedema" in spelling_candidates("edema")
    assert "tumour" in spelling_candidates("tumor") and "center" in spelling_candidates("centre")
    assert "for" not in spelling_candidates("four") and spelling_candidates("ev") == set()


def test_facets_count_the_first_matches_in_the_pages_order_and_say_how_many(site, monkeypatch):
    from kb import search

    db, datasette = site[0], site[1]
    everything = find(db.conn, "stroke", size=100)
    assert everything["facets_over"] == everything["total"] > 5  # the demo's matches are all counted
    monkeypatch.setattr(search, "FACET_SAMPLE", 5)
    for sort in ("relevance", "newest"):
        first = find(db.conn, "stroke", sort=sort, size=5)
        years = {}
        for hit in first["rows"]:
            if hit["year"] is not None:
                years[hit["year"]] = years.get(hit["year"], 0) + 1
        assert first["facets_over"] == 5 and first["total"] == everything["total"]
        assert first["facets"]["year"] == sorted(map(list, years.items()), reverse=True) and years, sort
        assert [hit["id"] for hit in find(db.conn, "stroke", sort=sort, size=20)["rows"]] == [
            hit["id"] for hit in find(db.conn, "stroke", sort=sort, size=100)["rows"][:20]]
    note = BeautifulSoup(get(datasette, "/-/search?q=stroke").text, "html.parser").select_one(".facets-over").text
    assert note == f"Counts are of the first 5 of {everything['total']} results, in the order shown."
