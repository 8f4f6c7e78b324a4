import json
import re

import pytest

from kb.datasette_plugin.institution import institution_context
from kb.datasette_plugin.person import author_context
from kb.datasette_plugin.work import work_context
from kb.datasette_plugin.json_lists import JSON_LIST_COLUMNS

from conftest import get


def one(db, sql, params=()):
    return db.conn.execute(sql, params).fetchone()[0]


def the_seed_work_a_person_and_an_institution_of_it(db):
    work_id = one(db, "SELECT id FROM works WHERE pmid = '35281985'")
    author_id = one(db, "SELECT author_id FROM work_authors WHERE work_id = ? AND author_id IS NOT NULL "
                        "ORDER BY position", [work_id])
    institution_id = one(db, "SELECT id FROM institutions WHERE name = 'Isfahan University of Medical Sciences'")
    return {"work": (work_id, work_context), "author": (author_id, author_context),
            "institution": (institution_id, institution_context)}


@pytest.mark.parametrize("kind", ["work", "author", "institution"])
def test_a_page_json_twin_is_its_page_reader_dict(demo_site, kind):
    db, datasette = demo_site
    entity_id, read = the_seed_work_a_person_and_an_institution_of_it(db)[kind]
    response = get(datasette, f"/-/{kind}/{entity_id}.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    expected = json.loads(json.dumps(read(db.conn, entity_id)))
    assert response.json() == expected
    assert set(expected) >= ({"work", "authors", "affiliations", "trials"} if kind == "work"
                             else {"entity", "works", "partners", "network"})
    row = expected["work" if kind == "work" else "entity"]
    assert isinstance(row["pub_types" if kind == "work" else "name_forms"], list)
    page = get(datasette, f"/-/{kind}/{entity_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_the_seed_work_json_twin_lists_its_authors_in_order_and_its_trial(demo_site):
    db, datasette = demo_site
    work_id = one(db, "SELECT id FROM works WHERE pmid = '35281985'")
    twin = get(datasette, f"/-/work/{work_id}.json").json()
    names = [name for (name,) in db.conn.execute(
        "SELECT written_name FROM work_authors WHERE work_id = ? ORDER BY position", [work_id])]
    assert [author["written_name"] for author in twin["authors"]] == names and len(names) > 1
    assert twin["work"]["pmid"] == "35281985" and twin["trials"][0]["nct_id"] == "NCT03384433"
    stored = one(db, "SELECT pub_types FROM works WHERE id = ?", [work_id])
    assert twin["work"]["pub_types"] == twin["pub_types"] == json.loads(stored) and twin["pub_types"]


@pytest.mark.parametrize("kind", ["work", "author", "institution"])
def test_an_unknown_id_json_twin_is_a_json_404_that_points_to_search(demo_site, kind):
    response = get(demo_site[1], f"/-/{kind}/12345.json")
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": f"There is no {kind} 12345 in regenkb.", "search": "/-/search-all"}
    too_long = get(demo_site[1], f"/-/{kind}/{2**63}.json")
    assert too_long.status_code == 404 and too_long.json()["error"].startswith(f"There is no {kind} ")


def test_work_authors_gives_each_author_id_in_order(demo_site):
    db, datasette = demo_site
    found = get(datasette, "/regenkb/work_authors.json?pmid=35281985&_shape=array").json()
    expected = db.conn.execute("""SELECT wa.position, wa.author_id FROM work_authors wa JOIN works w ON w.id = wa.work_id
                                  WHERE w.pmid = '35281985' AND wa.author_id IS NOT NULL ORDER BY wa.position""").fetchall()
    assert [(row["position"], row["author_id"]) for row in found] == [tuple(row) for row in expected]
    assert len(found) > 1 and all(isinstance(row["author_id"], int) for row in found)


def test_the_trials_phase_facet_counts_each_phase_of_a_phase_1_2_trial(demo_site):
    db, datasette = demo_site
    counts = {}
    for (phases,) in db.conn.execute("SELECT phases FROM trials WHERE phases IS NOT NULL"):
        for phase in json.loads(phases):
            counts[phase] = counts.get(phase, 0) + 1
    facet = get(datasette, "/regenkb/trials.json?_size=0").json()["facet_results"]["phases"]
    assert facet["type"] == "array"
    assert {result["value"]: result["count"] for result in facet["results"]} == counts
    assert counts["PHASE1"] and counts["PHASE2"] and 'PHASE1", "PHASE2' not in json.dumps(facet)


@pytest.mark.parametrize("url, column", [("/regenkb/trials.json?_shape=objects&nct_id=NCT03384433", "phases"),
                                         ("/regenkb/trials_for_work.json?work=35281985&_shape=objects", "phases"),
                                         ("/regenkb/works.json?_shape=objects&pmid=35281985", "pub_types"),
                                         ("/regenkb/authors.json?_shape=objects&_size=3", "name_forms")])
def test_list_columns_are_arrays_in_the_json_api(demo_site, url, column):
    body = get(demo_site[1], url).json()
    assert body["rows"] and all(isinstance(row[column], list) for row in body["rows"] if row[column] is not None)
    assert any(row[column] for row in body["rows"])
    if "NCT03384433" in url or "trials_for_work" in url:
        assert body["rows"][0]["phases"] == ["PHASE1", "PHASE2"]


def test_a_trial_row_page_is_json_with_its_lists_as_arrays_and_paging_keeps_one_switch_per_column(demo_site):
    db, datasette = demo_site
    trial_id = one(db, "SELECT id FROM trials WHERE nct_id = 'NCT03384433'")
    row = get(datasette, f"/regenkb/trials/{trial_id}.json?_shape=objects").json()["rows"][0]
    assert row["phases"] == ["PHASE1", "PHASE2"] and isinstance(row["conditions"], list)
    first = get(datasette, "/regenkb/trials.json?_size=5").json()
    second = get(datasette, first["next_url"].replace("http://localhost", "")).json()
    assert second["next_url"].count("_json=phases") == 1 and isinstance(second["rows"][0][
        second["columns"].index("phases")], (list, type(None)))
    assert get(datasette, "/regenkb/trials.csv?nct_id=NCT03384433").text.count('"[""PHASE1"", ""PHASE2""]"') == 1


def test_the_trial_row_page_link_to_its_related_trials_rows_shows_them(demo_site):
    db, datasette = demo_site
    trial_id = one(db, "SELECT id FROM trials WHERE nct_id = 'NCT03384433'")
    expected = one(db, "SELECT count(*) FROM related_trials WHERE trial_id = ?", [trial_id])
    page = get(datasette, f"/regenkb/trials/{trial_id}").text
    link = re.search(r'href="(/regenkb/related_trials\?trial_id=\d+)"', page).group(1)
    rows = get(datasette, link.replace("?", ".json?") + "&_shape=objects&_size=max").json()["rows"]
    assert expected > 0 and len(rows) == expected and {row["trial_id"] for row in rows} == {trial_id}
    assert "Trials related to a work" not in get(datasette, link).text


def test_every_column_of_json_lists_in_the_demo_kb_comes_back_as_arrays(demo_site):
    db, datasette = demo_site
    found = set()
    for table in db.table_names():
        for column in db[table].columns_dict:
            values = [value for (value,) in db.conn.execute(f"SELECT [{column}] FROM [{table}] WHERE [{column}] IS NOT NULL")]
            try:
                lists = bool(values) and all(isinstance(json.loads(value), list) for value in values)
            except (TypeError, ValueError):
                lists = False
            if lists:
                found.add((table, column))
    assert {("trials", "phases"), ("works", "pub_types"), ("gap_map", "study_ids")} <= found
    assert found <= {(table, column) for table, columns in JSON_LIST_COLUMNS.items() for column in columns}
    for table, column in sorted(found):
        rows = get(datasette, f"/regenkb/{table}.json?_shape=array&{column}__notnull=1&_size=3").json()
        assert rows and all(isinstance(row[column], list) for row in rows), (table, column)
