"""The home page, / and /regenkb, its JSON twin /-/home.json, the database page's table order
at /regenkb/-/tables, and the works-per-year charts of person and institution pages, on the
demo KB in-process."""

import html
import json
import re
import sqlite3
from collections import Counter

import pytest
from conftest import get

from kb import graph, serve
from kb.datasette_plugin import home as home_module
from kb.datasette_plugin.home import home_context
from kb.db import open_db


def home(datasette):
    return json.loads(get(datasette, "/-/home.json").text)


def test_the_home_page_counts_what_the_kb_holds(demo_site):
    db, datasette = demo_site
    counts = home(datasette)["counts"]
    expected = {"works": "works", "trials": "trials", "people": "authors", "institutions": "institutions"}
    for label, table in expected.items():
        assert counts[label] == db.execute(f"select count(*) from {table}").fetchone()[0], label
    assert counts["on_topic_studies"] == db.execute("select count(*) from evidence where on_topic = 1").fetchone()[0]
    assert counts["works"] == 65 and counts["trials"] == 30 and counts["on_topic_studies"] > 0
    text = get(datasette, "/").text
    for label in ("works", "trials", "people", "institutions", "on-topic studies"):
        figure = counts["on_topic_studies" if label == "on-topic studies" else label]
        assert re.search(rf"<strong>{figure:,}</strong> <a href=\"[^\"]+\">{label}</a>", text), label


def test_the_charts_count_what_sql_groups(demo_site):
    db, datasette = demo_site
    figures = home(datasette)
    years = db.execute("select year, count(*) from works where year is not null group by year order by year").fetchall()
    assert [(row["year"], row["works"]) for row in figures["works_per_year"]] == [tuple(row) for row in years]
    phases = Counter()
    statuses = Counter()
    countries = Counter()
    for phase_list, status, country_list in db.execute("select phases, overall_status, countries from trials"):
        names = json.loads(phase_list) if phase_list else []
        label = "/".join({"PHASE1": "Phase 1", "PHASE2": "Phase 2", "PHASE3": "Phase 3", "PHASE4": "Phase 4",
                          "EARLY_PHASE1": "Early phase 1", "NA": "Not applicable"}[n] for n in names)
        phases[label or "Not given"] += 1
        statuses[(status or "not given").replace("_", " ").capitalize()] += 1
        countries.update(set(json.loads(country_list) if country_list else []))
    assert {row["phase"]: row["trials"] for row in figures["trials_by_phase"]} == phases
    assert {row["status"]: row["trials"] for row in figures["trials_by_status"]} == statuses
    assert {row["country"]: row["trials"] for row in figures["trials_by_country"]} == countries
    assert phases["Phase 1/Phase 2"] == 7 and countries["China"] == 8
    # The page carries the same figures, as data for its charts.
    text = get(datasette, "/").text
    assert charts_of(text) == {f"chart-{key.replace('_', '-')}": figures[key] for key in (
        "works_per_year", "trials_by_phase", "trials_by_status", "trials_by_country")}
    # ... and as tables, for screen readers.
    tables = re.findall(r'<details class="figures"><summary>(.*?) as a table</summary>.*?<tbody>(.*?)</tbody>',
                        text, re.DOTALL)
    assert [caption for caption, _ in tables] == ["Works per year", "Trials by phase", "Trials by status",
                                                  "Trials by country"]
    for (_, body), (key, category, count) in zip(tables, [
            ("works_per_year", "year", "works"), ("trials_by_phase", "phase", "trials"),
            ("trials_by_status", "status", "trials"), ("trials_by_country", "country", "trials")]):
        assert re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td></tr>", body) == [
            (html.escape(str(row[category]), quote=False), str(row[count])) for row in figures[key]], key


def charts_of(text):
    """A page's charts: {element id: rows}, from its regenkb-charts data block."""
    block = re.search(r'<script type="application/json" id="regenkb-charts">(.*?)</script>', text, re.DOTALL)
    charts = json.loads(block.group(1))
    assert all(re.search(f'<div class="regenkb-chart" id="{chart["id"]}" role="img" aria-label="[^"]+"', text)
               for chart in charts)
    return {chart["id"]: chart["rows"] for chart in charts}


def test_every_link_on_the_home_page_opens(demo_site):
    db, datasette = demo_site
    text = get(datasette, "/").text
    links = set(re.findall(r'(?:href|src|action)="(/[^"]*)"', text))
    for wanted in ("/-/search", "/-/gap-map", "/-/synthesis", "/regenkb/-/tables", "/-/home.json", "/.json"):
        assert wanted in links, wanted
    sections = {name: re.search(f'<section id="{name}">(.*?)</section>', text, re.DOTALL).group(1)
                for name in ("recent-trials", "added", "top-institutions", "top-people")}
    assert sections["recent-trials"].count('href="/-/trial/NCT') == 8
    assert sections["added"].count('href="/-/work/') == 8 and sections["added"].count('href="/-/trial/NCT') == 8
    assert sections["top-institutions"].count('href="/-/institution/') == 10
    assert sections["top-people"].count('href="/-/author/') == 10
    for link in sorted(links):
        assert get(datasette, link.replace("&amp;", "&")).status_code == 200, link
    newest = db.execute("select id from works order by id desc limit 1").fetchone()[0]
    assert f'href="/-/work/{newest}"' in sections["added"]  # the demo's last work loaded


def test_datasette_s_own_json_of_the_databases_stays_beside_the_home_page(demo_site):
    datasette = demo_site[1]
    assert "regenkb" in json.loads(get(datasette, "/.json").text)
    assert get(datasette, "/").headers["content-type"].startswith("text/html")
    assert get(datasette, "/-/home.json").headers["content-type"].startswith("application/json")


def test_the_database_page_lists_the_tables_researchers_use_first_and_hides_bookkeeping(demo_site):
    datasette = demo_site[1]
    text = get(datasette, "/regenkb/-/tables").text
    tables = re.findall(r'<h3><a href="/regenkb/([^"]+)"', text)
    assert tables[:5] == ["works", "trials", "evidence", "authors", "institutions"]
    assert tables.index("records") > tables.index("trial_sites")  # provenance after the research tables
    assert not {"loaded_files", "harvest_runs", "graph_runs", "works_fts"} & set(tables)
    assert "select * from works" in text  # the SQL editor starts from works too
    shown = re.findall(r'<h3><a href="/regenkb/([^"]+)"', get(datasette, "/regenkb?_show_hidden=1").text)
    assert {"loaded_files", "harvest_runs", "graph_runs"} <= set(shown)


def test_regenkb_opens_on_the_home_page_and_the_tables_are_one_click_away(demo_site):
    db, datasette = demo_site
    text = get(datasette, "/regenkb").text
    assert '<input type="search" name="q"' in text and 'action="/-/search"' in text
    works = db.execute("select count(*) from works").fetchone()[0]
    assert re.search(rf'<strong>{works:,}</strong> <a href="/regenkb/works">works</a>', text)
    tables_link = re.search(r'<a href="(/regenkb/-/tables)">Tables and SQL</a>', text).group(1)
    tables = get(datasette, tables_link).text
    assert re.findall(r'<h3><a href="/regenkb/([^"]+)"', tables)[:2] == ["works", "trials"]
    # Datasette's own links from that page still reach its database page: the SQL editor and the hidden tables.
    assert '<form class="sql" action="/regenkb" method="get">' in tables and 'href="/regenkb?_show_hidden=1"' in tables
    answer = get(datasette, "/regenkb.json?sql=select+count(*)+as+n+from+works&_shape=array")
    assert answer.json() == [{"n": works}]
    assert get(datasette, "/regenkb?sql=select+count(*)+from+works").status_code == 200
    assert get(datasette, "/regenkb.json").json()["database"] == "regenkb"  # the database's JSON is as it was


def test_the_home_map_has_every_trial_site_with_coordinates_one_marker_per_place(demo_site):
    db, datasette = demo_site
    figures = home(datasette)
    places = {}
    for lat, lon, nct in db.execute("""select s.latitude, s.longitude, t.nct_id from trial_sites s
            join trials t on t.id = s.trial_id where s.latitude is not null and s.longitude is not null"""):
        places.setdefault((lat, lon), set()).add(nct)
    assert {(m["lat"], m["lon"]): set(m["trials"]) for m in figures["map"]} == places
    assert len(places) == 18 and sum(map(len, places.values())) == 23  # the demo's 23 geocoded sites
    assert all(nct in marker["label"] for marker in figures["map"] for nct in marker["trials"])
    text = get(datasette, "/").text
    block = re.search(r'<script type="application/json" id="regenkb-trial-sites">(.*?)</script>', text, re.DOTALL)
    assert json.loads(block.group(1))["sites"] == figures["map"]
    assert '<div id="regenkb-trial-map"' in text and "/regenkb-trial-map.js" in text and "18 places" in text
    # The same places as a list, each trial linked: the map's text for screen readers, and links to click.
    listed = re.search(r'<details class="places">.*?<ul>(.*?)</ul></details>', text, re.DOTALL).group(1)
    items = re.findall(r"<li>(.*?)</li>", listed)
    assert len(items) == len(places)
    assert sorted(set(re.findall(r'<a href="/-/trial/(NCT\d+)">', listed))) == sorted(set().union(*places.values()))


def copy_of(db, path):
    """A copy of an open KB (its WAL too), to change without touching the shared demo."""
    target = sqlite3.connect(path)
    db.conn.backup(target)
    target.close()
    return path


def test_what_the_last_load_added_is_what_records_say_was_retrieved_on_its_day(demo_site, tmp_path):
    db = demo_site[0]
    path = copy_of(db, tmp_path / "regenkb.db")
    conn = sqlite3.connect(path)
    seed = conn.execute("select id from works where pmid = '35281985'").fetchone()[0]
    trial = conn.execute("select id from trials where nct_id = 'NCT03384433'").fetchone()[0]
    # Everything else was loaded by an earlier harvest.
    conn.execute("update records set retrieved_at = '2025-11-30T02:00:00+00:00' "
                 "where coalesce(work_id, 0) != ? and coalesce(trial_id, 0) != ?", [seed, trial])
    conn.commit()
    latest = conn.execute("select max(retrieved_at) from records").fetchone()[0]
    added = home_context(conn)["added"]
    assert added["since"] == latest[:10] != "2025-11-30"
    assert (added["works"], added["trials"]) == (1, 1)
    assert [w["id"] for w in added["latest_works"]] == [seed]
    assert [t["nct_id"] for t in added["latest_trials"]] == ["NCT03384433"]
    datasette = serve.datasette_for(path)
    text = get(datasette, "/").text
    assert (f"Since {added['since']}, the day of the last load: <strong>1</strong> work and "
            "<strong>1</strong> trial") in text
    # The feeds the section links give the same works and trials.
    for kind, count in (("works", 1), ("trials", 1)):
        feed = re.search(rf'href="(/regenkb/{kind}\.atom\?since=[^"]+)"', text).group(1)
        assert get(datasette, feed).text.count("<entry>") == count, kind
    conn.execute("update records set retrieved_at = '2025-11-30T02:00:00+00:00'")
    conn.commit()
    assert home_context(conn)["added"]["works"] == 65  # one day's load: everything


def test_a_first_load_too_large_to_count_says_more_than_the_limit(demo_site, monkeypatch):
    db, datasette = demo_site
    monkeypatch.setattr(home_module, "COUNTED_UP_TO", 20)
    added = home_context(db.conn)["added"]
    # 65 works and 30 trials, each counted only to one past the limit.
    assert added["counted_up_to"] == 20 and added["works"] == added["trials"] == 21
    text = get(datasette, "/").text
    assert "<strong>more than 20</strong> works and <strong>more than 20</strong> trials new or changed" in text
    newest = [at for at, in db.execute("select max(retrieved_at) from records where work_id is not null "
                                       "group by work_id order by 1 desc limit 8")]
    assert [work["retrieved_at"] for work in added["latest_works"]] == newest  # newest first


@pytest.fixture(scope="module")
def networks_built(demo_site, tmp_path_factory):
    """A copy of the demo KB after `kb graph build --kind coauthorship --kind institutions`."""
    path = copy_of(demo_site[0], tmp_path_factory.mktemp("networks") / "regenkb.db")
    built = open_db(str(path))
    for network in ("coauthorship", "institutions"):
        graph.build(built, network)
    return built


def test_the_most_central_people_and_institutions_rank_by_pagerank_once_the_networks_are_built(networks_built):
    conn = networks_built.conn
    figures = home_context(conn)
    assert figures["ranked_by"] == {"people": "pagerank", "institutions": "pagerank"}
    partners_sql = {
        "people": """select count(distinct b.author_id) from work_authors a join work_authors b
                     on b.work_id = a.work_id and b.author_id != a.author_id where a.author_id = ?""",
        "institutions": """with m as (select distinct waa.work_id, af.institution_id from work_author_affiliations waa
                           join affiliations af on af.id = waa.affiliation_id where af.institution_id is not null)
                           select count(distinct b.institution_id) from m a join m b on b.work_id = a.work_id
                           and b.institution_id != a.institution_id where a.institution_id = ?"""}
    for key, network, kind in (("people", "coauthorship", "author"), ("institutions", "institutions", "institution")):
        listed = figures[key]
        assert len(listed) == 10
        ranks = dict(conn.execute("select node, pagerank from graph_nodes where network = ?", [network]).fetchall())
        shown = [ranks[f"{kind}:{row['id']}"] for row in listed]
        assert shown == sorted(shown, reverse=True) == [row["pagerank"] for row in listed]
        others = [rank for node, rank in ranks.items() if node not in {f"{kind}:{row['id']}" for row in listed}]
        assert min(shown) >= max(others), key
        for row in listed:
            assert row["partners"] == conn.execute(partners_sql[key], [row["id"]]).fetchone()[0], row
    text = get(serve.datasette_for(conn.execute("pragma database_list").fetchone()[2]), "/").text
    assert "<h2>Most central people</h2>" in text and "<h2>Most central institutions</h2>" in text
    assert f"{figures['people'][0]['partners']} co-authors" in text


def test_without_a_built_network_the_home_page_ranks_people_and_institutions_by_works(demo_site):
    db, datasette = demo_site
    figures = home(datasette)
    assert figures["ranked_by"] == {"people": "works", "institutions": "works"}
    top = db.execute("select id from authors where works > 0 order by works desc, name limit 10").fetchall()
    assert [row["id"] for row in figures["people"]] == [row[0] for row in top]
    assert "<h2>Most published people</h2>" in get(datasette, "/").text


def test_person_and_institution_pages_chart_their_works_per_year_with_the_figures_as_text(demo_site):
    db, datasette = demo_site
    author = db.execute("""select author_id from work_authors wa join works w on w.id = wa.work_id where author_id
        is not null group by author_id order by count(distinct w.year) desc, author_id limit 1""").fetchone()[0]
    institution = db.execute("select id from institutions where name = ?",
                             ["Isfahan University of Medical Sciences"]).fetchone()[0]
    years = {
        "author": Counter(year for (year,) in db.execute(
            "select w.year from work_authors wa join works w on w.id = wa.work_id where wa.author_id = ?", [author])),
        "institution": Counter(year for (year,) in db.execute(
            """select w.year from works w where w.id in (select waa.work_id from work_author_affiliations waa
               join affiliations af on af.id = waa.affiliation_id where af.institution_id = ?)""", [institution]))}
    assert len(years["author"]) >= 2  # a person with works in several years
    for kind, entity in (("author", author), ("institution", institution)):
        counted = years[kind]
        expected = [{"year": year, "works": counted[year]} for year in sorted(y for y in counted if y)]
        text = get(datasette, f"/-/{kind}/{entity}").text
        assert charts_of(text) == {"chart-works-by-year": expected}
        line = " · ".join(f"{row['year']}: {row['works']}" for row in expected)
        if None in counted:
            line += f" · undated: {counted[None]}"
        assert f'<p id="works-by-year">Works by year: {line}</p>' in text, kind
        assert get(datasette, f"/-/{kind}/{entity}.json").json()["by_year"] == expected + (
            [{"year": None, "works": counted[None]}] if None in counted else [])
        assert "/regenkb-charts.js" in text and "/vega-lite.min.js" in text


def test_evidence_at_a_glance_counts_each_tag_once_per_on_topic_study_and_opens_those_studies(demo_site):
    db, datasette = demo_site
    glance = {facet["column"]: facet for facet in home(datasette)["evidence"]}
    assert {"design", "intervention", "species", "phase", "outcomes"} <= glance.keys()
    text = get(datasette, "/").text
    for column, facet in glance.items():
        expected = Counter()
        for (value,) in db.execute(f"select {column} from evidence where on_topic = 1 and {column} is not null"):
            expected.update([value] if column == "phase" else set(json.loads(value)))
        shown = {item["value"]: item["studies"] for item in facet["counts"]}
        assert shown and all(shown[value] == expected[value] for value in shown), column
        # The most frequent values, most first; the rest counted in `more`.
        assert [item["studies"] for item in facet["counts"]] == sorted(shown.values(), reverse=True), column
        assert min(shown.values()) >= max((n for value, n in expected.items() if value not in shown), default=0)
        assert facet["more"] == len(expected) - len(shown), column
        first = facet["counts"][0]
        table = get(datasette, first["path"].replace("/regenkb/evidence?", "/regenkb/evidence.json?")).json()
        assert table["filtered_table_rows_count"] == first["studies"], column
        assert (f'<a href="{html.escape(first["path"])}"><strong>{first["studies"]}</strong> '
                f'{html.escape(first["label"])}</a>') in text, column
    assert "randomised controlled trial" in {item["value"] for item in glance["design"]["counts"]}
    assert all(item["label"] == "phase " + item["value"] for item in glance["phase"]["counts"])  # "phase 2", not "2"


def test_the_api_docs_python_example_for_the_home_page_runs_and_says_what_the_kb_holds(
        demo_site, monkeypatch, capsys):
    import sys
    import types
    from pathlib import Path

    db, datasette = demo_site
    docs = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    example = next(block for block in re.findall(r"```python\n(.*?)```", docs, re.DOTALL) if "/-/home.json" in block)
    answers = types.SimpleNamespace(get=lambda url: get(datasette, url.replace("http://127.0.0.1:8001", "")))
    monkeypatch.setitem(sys.modules, "requests", answers)
    exec(example, {})
    lines = capsys.readouterr().out.splitlines()
    since = db.execute("select substr(max(retrieved_at), 1, 10) from records").fetchone()[0]
    works, trials = (db.execute(f"select count(distinct {kind}_id) from records where retrieved_at >= ?",
                                [since]).fetchone()[0] for kind in ("work", "trial"))
    assert lines[0] == f"Since {since}: {works} works and {trials} trials new or changed"
    top = db.execute("select name, works from authors where works > 0 order by works desc, name limit 3").fetchall()
    assert lines[1:] == [f"{name} by works {count}" for name, count in top]
