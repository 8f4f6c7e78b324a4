import json
import re
from collections import defaultdict
from urllib.parse import urlencode

import pytest
from bs4 import BeautifulSoup

from kb import gapmap, serve
from kb.classify import DEFAULT_VOCABULARY, Vocabulary, work_tags

from conftest import get

# The rule as the page states it, written out again here: strongest first.
ORDER = ["randomised controlled trial", "non-randomised controlled", "single-arm", "observational",
         "case series or report", "preclinical", "design not stated"]
LEVEL = {"randomised controlled trial": "randomised controlled trial", "non-randomised controlled":
         "non-randomised controlled", "single-arm": "single-arm", "observational": "observational",
         "case series": "case series or report", "case report": "case series or report"}
REVIEWS = {"systematic review", "meta-analysis", "narrative review"}


def expected_cells(db, keep=lambda study: True):
    """{(map, row, outcome): {study_id: level}} from the tags of each on-topic study's works and trials."""
    tags = defaultdict(lambda: defaultdict(set))
    for subject, subject_id, tag, value in db.execute("SELECT subject, subject_id, tag, value FROM tags"):
        tags[(subject, subject_id)][tag].add(value)
    trial_of = dict(db.execute("SELECT nct_id, id FROM trials").fetchall())
    cells = defaultdict(dict)
    for study in db.query("SELECT * FROM evidence WHERE on_topic = 1"):
        if not keep(study):
            continue
        members = [("work", i) for i in (json.loads(study["work_ids"]) if study["work_ids"] else [study["work_id"]])
                   if i] + [("trial", trial_of[n]) for n in (study["nct_id"] or "").split(", ") if n]
        found = defaultdict(set)
        for member in members:
            for tag, values in tags[member].items():
                found[tag] |= values
        designs = found["design"]
        if designs & REVIEWS and not designs - REVIEWS - {"open-label", "pilot / feasibility", "protocol"}:
            continue
        animals = found["species"] - {"human"}
        animal_only = animals and "human" not in found["species"]
        if designs & {"preclinical (animal)", "preclinical (in vitro)"} or animal_only:
            level = "preclinical"
            rows = [f"{s} · {m}" for s in (animals or {"species not stated"})
                    for m in (found["animal_model"] or {"model not stated"})]
            name = "preclinical"
        else:
            levels = [LEVEL[d] for d in designs if d in LEVEL]
            level = min(levels, key=ORDER.index) if levels else "design not stated"
            rows = found["intervention"] or {"intervention not stated"}
            name = "clinical"
        for row in rows:
            for outcome in found["outcome"] or {"no outcome tagged"}:
                cells[(name, row, outcome)][study["study_id"]] = level
    return cells


def page_cells(body):
    return {(m["map"], row["row"], cell["outcome"]): cell for m in body["maps"] for row in m["rows"]
            for cell in row["cells"] if cell}


def test_each_cell_counts_the_studies_its_tags_put_in_it_with_their_strongest_design(demo_site):
    db, datasette = demo_site
    expected = expected_cells(db)
    table = {(r["map"], r["row"], r["outcome"]): r for r in db.query("SELECT * FROM gap_map")}
    assert len(expected) >= 20 and table.keys() == expected.keys()
    for key, studies in expected.items():
        assert table[key]["studies"] == len(studies), key
        assert sorted(json.loads(table[key]["study_ids"])) == sorted(studies), key
        assert table[key]["strongest_design"] == min(studies.values(), key=ORDER.index), key
    shown = page_cells(get(datasette, "/-/gap-map.json").json())
    assert {key: cell["studies"] for key, cell in shown.items()} == {key: len(s) for key, s in expected.items()}
    assert {"randomised controlled trial", "preclinical", "design not stated"} <= {
        cell["strongest_design"] for cell in shown.values()}


def test_the_strongest_design_is_the_most_controlled_and_an_animal_study_is_preclinical():
    def study(study_id, design, species="human", intervention="MSC"):
        return {"study_id": study_id, "design": design, "species": species, "animal_model": None,
                "intervention": intervention, "outcomes": "mRS"}

    cells = gapmap.cells([study("a", "single-arm"), study("b", "case report"), study("c", "open-label"),
                          study("d", "randomised controlled trial; single-arm", intervention="CD34+ cells"),
                          study("e", "randomised controlled trial", species="rat")])
    rows = {(name, gapmap.row_label(key), outcome): gapmap.cell_row(name, key, outcome, members)
            for name, found in cells.items() for (key, outcome), members in found.items()}
    assert rows[("clinical", "MSC", "mRS")]["strongest_design"] == "single-arm"
    assert rows[("clinical", "MSC", "mRS")]["studies"] == 3
    assert rows[("clinical", "CD34+ cells", "mRS")]["strongest_design"] == "randomised controlled trial"
    # "Randomised" rats are animal work: preclinical, on the preclinical map.
    assert rows[("preclinical", "rat · model not stated", "mRS")]["strongest_design"] == "preclinical"
    only_open_label = gapmap.cells([study("c", "open-label")])["clinical"]
    assert gapmap.strongest([gapmap.design_level(s) for s in only_open_label[(("MSC",), "mRS")]]) == \
        "design not stated"


def test_filters_narrow_the_counts_to_the_studies_that_match(demo_site):
    db, datasette = demo_site
    everything = page_cells(get(datasette, "/-/gap-map.json").json())
    for args, keep in (({"stroke_type": "haemorrhagic"}, lambda s: "haemorrhagic" in (s["stroke_type"] or "")),
                       ({"phase": "2"}, lambda s: "2" in re.split(r"/|; ", s["phase"] or "")),
                       ({"species": "rat"}, lambda s: "rat" in json.loads(s["species"] or "[]")),
                       ({"year_from": 2015, "year_to": 2020}, lambda s: s["year"] and 2015 <= s["year"] <= 2020)):
        body = get(datasette, "/-/gap-map.json?" + urlencode(args)).json()
        assert body["filters"] == args
        shown = {key: cell["studies"] for key, cell in page_cells(body).items()}
        assert shown == {key: len(s) for key, s in expected_cells(db, keep).items()}, args
        assert 0 < sum(shown.values()) < sum(cell["studies"] for cell in everything.values()), args
        assert all(count <= everything[key]["studies"] for key, count in shown.items()), args
        assert all(urlencode(args) in cell["path"] for cell in page_cells(body).values()), args


def test_a_cell_links_to_exactly_its_studies_and_their_pages(demo_site):
    db, datasette = demo_site
    cell = page_cells(get(datasette, "/-/gap-map.json").json())[("clinical", "MSC", "NIHSS")]
    html = BeautifulSoup(get(datasette, "/-/gap-map").text, "html.parser")
    link = html.find("a", attrs={"aria-label": re.compile(r"^MSC × NIHSS: ")})
    assert link["href"] == cell["path"] and link.find("circle")["class"] == ["design-rct"]
    assert link["aria-label"] == (
        f"MSC × NIHSS: {cell['studies']} studies, strongest design randomised controlled trial")
    page = BeautifulSoup(get(datasette, link["href"]).text, "html.parser")
    hrefs = {a["href"] for a in page.select("ol.studies a") if a["href"].startswith(("/-/work/", "/-/trial/"))}
    wanted = set()
    for study_id in cell["study_ids"]:
        row = db.execute("SELECT work_id, work_ids, nct_id FROM evidence WHERE study_id = ?", [study_id]).fetchone()
        wanted |= {f"/-/work/{i}" for i in (json.loads(row[1]) if row[1] else [row[0]]) if i}
        wanted |= {f"/-/trial/{n}" for n in (row[2] or "").split(", ") if n}
    assert len(cell["study_ids"]) == 2 and hrefs == wanted
    listed = get(datasette, "/-/gap-map/studies.json?map=clinical&row=MSC&outcome=NIHSS").json()
    assert [s["study_id"] for s in listed["studies"]] == cell["study_ids"]
    assert all(get(datasette, href).status_code == 200 for href in hrefs)


def test_preclinical_studies_have_their_own_map_of_species_and_animal_model(demo_site):
    db, datasette = demo_site
    body = get(datasette, "/-/gap-map.json").json()
    preclinical = next(m for m in body["maps"] if m["map"] == "preclinical")
    rows = {row["row"]: row for row in preclinical["rows"]}
    # "Engraftment of Human Mesenchymal Stem Cells in a Rat Photothrombotic Cerebral Infarction Model"
    photothrombosis = next(cell for cell in rows["rat · photothrombosis"]["cells"] if cell)
    assert photothrombosis["study_ids"] == ["PMID:24527188"] and photothrombosis["strongest_design"] == "preclinical"
    clinical = next(m for m in body["maps"] if m["map"] == "clinical")
    assert not {s for row in clinical["rows"] for c in row["cells"] if c for s in c["study_ids"]} & {
        s for row in preclinical["rows"] for c in row["cells"] if c for s in c["study_ids"]}
    assert BeautifulSoup(get(datasette, "/-/gap-map").text, "html.parser").find("table", id="map-preclinical")


def test_an_animal_abstract_lands_in_its_species_model_and_outcome_cells():
    work = {"title": "Exosomes from MSCs after stroke in rats", "keywords": [], "pub_types": [], "mesh": [],
            "abstract": "Rats underwent transient middle cerebral artery occlusion (tMCAO). The mNSS and the "
                        "infarct volume were reduced at day 28, and rotarod performance improved."}
    found = work_tags(Vocabulary(DEFAULT_VOCABULARY), work)
    values = {(t.tag, t.value) for t in found}
    assert {("animal_model", "MCAO"), ("outcome", "neurological score"), ("outcome", "infarct volume"),
            ("outcome", "behavioural tests"), ("species", "rat")} <= values
    study = {"study_id": "x", "design": "; ".join(sorted({v for t, v in values if t == "design"})),
             "species": "rat", "animal_model": "MCAO", "intervention": "MSC-derived exosome/EV",
             "outcomes": "behavioural tests; infarct volume; neurological score"}
    cells = gapmap.cells([study])
    assert set(cells["preclinical"]) == {(("rat", "MCAO"), o) for o in
                                         ("behavioural tests", "infarct volume", "neurological score")}
    assert not cells["clinical"]


def test_the_json_twin_holds_what_the_page_draws(demo_site):
    datasette = demo_site[1]
    body = get(datasette, "/-/gap-map.json?stroke_type=ischaemic").json()
    html = BeautifulSoup(get(datasette, "/-/gap-map?stroke_type=ischaemic").text, "html.parser")
    assert all(drawn["rows"] for drawn in body["maps"])
    for drawn in body["maps"]:
        table = html.find("table", id=f"map-{drawn['map']}")
        assert [th.get_text() for th in table.select("thead th")][1:] == drawn["columns"]
        assert [th.get_text() for th in table.select("tbody th")] == [row["row"] for row in drawn["rows"]]
        assert [a.select_one(".count").get_text() for a in table.select("tbody a")] == [
            str(cell["studies"]) for row in drawn["rows"] for cell in row["cells"] if cell]
    assert body["options"]["species"] == ["human", "pig", "rat"] and body["legend"]["designs"][0] == ORDER[0]
    only_rats = get(datasette, "/-/gap-map?species=rat").text
    assert 'id="map-clinical"' not in only_rats and "No clinical studies match the filters." in only_rats


def test_the_page_needs_no_script_and_no_inline_style(demo_site):
    page = get(demo_site[1], "/-/gap-map")
    content = page.text.split('<section class="content">')[1].split("</section>")[0]
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert "<script" not in content and "style=" not in content and content.count("<svg") > 20


@pytest.mark.parametrize("query, problem", [
    ("species=unicorn", "choose one of: human, pig, rat"), ("year_from=twenty", "is a year"),
    ("year_from=2020&year_to=2010", "is after year to"), ("phase=9", "No on-topic study has phase '9'")])
def test_a_bad_filter_is_a_400_that_says_what_it_accepts(demo_site, query, problem):
    datasette = demo_site[1]
    page = get(datasette, "/-/gap-map?" + query)
    assert page.status_code == 400 and problem in BeautifulSoup(page.text, "html.parser").find(id="problem").text
    answer = get(datasette, "/-/gap-map.json?" + query)
    assert answer.status_code == 400 and problem in answer.json()["error"]
    assert get(datasette, "/-/gap-map/studies?map=clinical&row=MSC&outcome=NIHSS&" + query).status_code == 400


def test_an_empty_or_unknown_cell_is_a_404(demo_site):
    datasette = demo_site[1]
    for query in ("map=clinical&row=MSC&outcome=Barthel+Index", "map=clinical&row=Unicorn+cells&outcome=mRS",
                  "map=veterinary&row=MSC&outcome=NIHSS", "map=clinical&row=MSC&outcome=NIHSS&species=rat", ""):
        assert get(datasette, "/-/gap-map/studies?" + query).status_code == 404, query
        assert get(datasette, "/-/gap-map/studies.json?" + query).status_code == 404, query


def test_every_page_menu_links_to_the_gap_map(demo_site):
    datasette = demo_site[1]
    for url in ("/regenkb/works", "/-/trial/NCT01716481", "/-/search-all?q=stroke", "/-/gap-map"):
        menu = BeautifulSoup(get(datasette, url).text, "html.parser").select_one("details.nav-menu")
        assert menu.find("a", string="Evidence gap map")["href"] == "/-/gap-map", url


def test_a_kb_classified_before_animal_models_were_tagged_still_shows_its_map(demo_site, tmp_path):
    import sqlite3

    old = tmp_path / "old.db"
    demo_site[0].conn.execute("VACUUM INTO ?", [str(old)])
    with sqlite3.connect(old) as conn:
        conn.execute("ALTER TABLE evidence DROP COLUMN animal_model")
        conn.execute("DROP TABLE gap_map")
    body = get(serve.datasette_for(old), "/-/gap-map.json").json()
    rows = [row["row"] for m in body["maps"] if m["map"] == "preclinical" for row in m["rows"]]
    assert "rat · model not stated" in rows and not any("photothrombosis" in row for row in rows)


def test_a_hostile_filter_is_a_short_400_shown_as_text(demo_site):
    datasette = demo_site[1]
    page = get(datasette, "/-/gap-map?species=" + "<script>alert(1)</script>" + "a" * 60_000)
    assert page.status_code == 400 and len(page.text) < 20_000
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    assert get(datasette, "/-/gap-map.json?year_to=99999").status_code == 400
    assert get(datasette, "/-/gap-map.json?year_to=-2020").status_code == 400
