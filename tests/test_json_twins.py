import json

import pytest

from kb.datasette_plugin import author_context, institution_context, work_context

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


@pytest.mark.parametrize("kind", ["work", "author", "institution"])
def test_an_unknown_id_json_twin_is_a_json_404_that_points_to_search(demo_site, kind):
    response = get(demo_site[1], f"/-/{kind}/12345.json")
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": f"There is no {kind} 12345 in regenkb.", "search": "/-/search-all"}
    too_long = get(demo_site[1], f"/-/{kind}/{2**63}.json")
    assert too_long.status_code == 404 and too_long.json()["error"].startswith(f"There is no {kind} ")
