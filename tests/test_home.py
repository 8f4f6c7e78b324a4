"""The home page, /, its JSON twin /-/home.json, and the database page's table order, on the
demo KB in-process."""

import json
import re
from collections import Counter

from conftest import get


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
    block = re.search(r'<script type="application/json" id="regenkb-home-data">(.*?)</script>',
                      get(datasette, "/").text, re.DOTALL).group(1)
    assert json.loads(block) == {key: figures[key] for key in (
        "works_per_year", "trials_by_phase", "trials_by_status", "trials_by_country")}


def test_every_link_on_the_home_page_opens(demo_site):
    db, datasette = demo_site
    text = get(datasette, "/").text
    links = set(re.findall(r'(?:href|src|action)="(/[^"]*)"', text))
    for wanted in ("/-/search", "/-/gap-map", "/-/synthesis", "/regenkb", "/-/home.json", "/.json"):
        assert wanted in links, wanted
    assert sum(link.startswith("/-/trial/NCT") for link in links) == 8
    assert sum(link.startswith("/-/work/") for link in links) == 8
    assert sum(link.startswith("/-/institution/") for link in links) == 10
    for link in sorted(links):
        assert get(datasette, link.replace("&amp;", "&")).status_code == 200, link
    newest = db.execute("select id from works order by id desc limit 1").fetchone()[0]
    assert f'href="/-/work/{newest}"' in text  # the papers added last


def test_datasette_s_own_json_of_the_databases_stays_beside_the_home_page(demo_site):
    datasette = demo_site[1]
    assert "regenkb" in json.loads(get(datasette, "/.json").text)
    assert get(datasette, "/").headers["content-type"].startswith("text/html")
    assert get(datasette, "/-/home.json").headers["content-type"].startswith("application/json")


def test_the_database_page_lists_the_tables_researchers_use_first_and_hides_bookkeeping(demo_site):
    datasette = demo_site[1]
    text = get(datasette, "/regenkb").text
    tables = re.findall(r'<h3><a href="/regenkb/([^"]+)"', text)
    assert tables[:5] == ["works", "trials", "evidence", "authors", "institutions"]
    assert tables.index("records") > tables.index("trial_sites")  # provenance after the research tables
    assert not {"loaded_files", "harvest_runs", "graph_runs", "works_fts"} & set(tables)
    assert "select * from works" in text  # the SQL editor starts from works too
    shown = re.findall(r'<h3><a href="/regenkb/([^"]+)"', get(datasette, "/regenkb?_show_hidden=1").text)
    assert {"loaded_files", "harvest_runs", "graph_runs"} <= set(shown)
