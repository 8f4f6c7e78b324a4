import datetime
import json
import re

from bs4 import BeautifulSoup

from kb import serve
from kb.datasette_plugin.trial import eligibility_lists, status_warning
from kb.db import open_db

from conftest import get


def soup(datasette, url):
    page = get(datasette, url)
    assert page.status_code == 200, url
    return BeautifulSoup(page.text, "html.parser")


def one(db, sql, params=()):
    return db.execute(sql, params).fetchone()[0]


def test_the_seed_trial_page_warns_that_its_recruiting_status_is_stale(demo_site):
    db, datasette = demo_site
    page = soup(datasette, "/-/trial/NCT03384433")
    assert page.h1.get_text() == ("Allogenic Mesenchymal Stem Cell Derived Exosome in Patients With Acute Ischemic "
                                  "Stroke")
    warning = page.find(id="stale-status").get_text()
    assert "still says “recruiting”" in warning
    assert "completion date (2021-12-17) has passed" in warning and "last updated on 2021-01-25" in warning
    assert page.find("a", href="https://clinicaltrials.gov/study/NCT03384433")
    facts = dict(zip([dt.get_text() for dt in page.select("dl.facts dt")],
                     [dd.get_text() for dd in page.select("dl.facts dd")]))
    assert facts["Study type"] == "Interventional, Phase 1/Phase 2"
    assert facts["Enrollment"] == "5 participants" and facts["Completion"] == "2021-12-17"
    assert [row.find_all("td")[1].get_text() for row in page.select("table.outcomes tbody tr")] == [
        "Incidence of Treatment-Emergent Adverse Events", "measurement of Modified Ranking Scale"]
    assert "age 40 Years to 80 Years" in page.get_text()


def test_the_seed_trial_lists_its_site_with_coordinates_and_maps_it_offline(demo_site):
    db, datasette = demo_site
    page = soup(datasette, "/-/trial/NCT03384433")
    cells = [td.get_text() for td in page.select("table.sites tbody tr")[0].find_all("td")]
    assert cells[:3] == ["Shahid Beheshti University of Medical Sciences", "Tehran", "Iran, Islamic Republic of"]
    assert cells[4] == "35.6944, 51.4215 (geonames)"
    sbmu = one(db, "select id from institutions where name = 'Shahid Beheshti University of Medical Sciences'")
    assert page.select("table.sites a")[0]["href"] == f"/-/institution/{sbmu}"
    data = json.loads(page.find("script", id="regenkb-trial-sites").string)
    assert data["sites"] == [{"lat": 35.69439, "lon": 51.42151,
                              "label": "Shahid Beheshti University of Medical Sciences, Tehran, "
                                       "Iran, Islamic Republic of"}]
    assert data["leaflet"] == "/-/static-plugins/datasette-leaflet/leaflet-v1.7.1.js"  # Leaflet ships locally
    assert get(datasette, data["leaflet"]).status_code == 200
    scripts = [script["src"] for script in page.find_all("script", src=True)]
    assert "/-/static-plugins/regenkb/regenkb-trial-map.js" in scripts
    assert not page.find_all("script", src=re.compile(r"^https?:"))  # no CDN
    assert get(datasette, "/-/static-plugins/regenkb/regenkb-trial-map.js").status_code == 200
    # The page's only inline scripts of its own are data, which the Content-Security-Policy does not run.
    assert all(script.get("type") == "application/json" for script in page.find_all("script", src=False)
               if "regenkb" in (script.get("id") or ""))


def test_the_seed_trial_shows_its_paper_with_the_link_kind_and_reasons(demo_site):
    db, datasette = demo_site
    page = soup(datasette, "/-/trial/NCT03384433")
    seed = one(db, "select id from works where pmid = '35281985'")
    paper = page.select("ul.papers li")[0]
    assert paper.a["href"] == f"/-/work/{seed}"
    assert "probably the same study (match score 0.76)" in paper.get_text()
    assert "institutions in common: Isfahan University of Medical Sciences" in paper.get_text()
    related = page.select("ol.related-papers li")
    assert f'/-/work/{seed}' not in {li.a["href"] for li in related}  # shown once, above
    assert "same intervention: MSC-derived exosome/EV" in related[0].get_text()
    isfahan = one(db, "select id from institutions where name = 'Isfahan University of Medical Sciences'")
    sponsor = page.select("ul.organisations li")[0]
    assert sponsor.get_text() == "Sponsor: Isfahan University of Medical Sciences"
    assert sponsor.a["href"] == f"/-/institution/{isfahan}"
    assert page.select("ol.related-trials li")  # other trials with its intervention or stroke type


def test_a_trial_page_links_its_papers_both_ways_and_its_official_to_the_person(demo_site):
    db, datasette = demo_site
    page = soup(datasette, "/-/trial/NCT01151124")
    kinds = [li.find(class_="why").get_text() for li in page.select("ul.papers li")]
    assert "the trial's references list the paper: RESULT: Kalladka et al. Lancet 2016 (ctgov)" in kinds
    assert "the paper names NCT01151124: DataBankList names NCT01151124 (pubmed)" in kinds
    muir = one(db, "select id from authors where name = 'Keith W Muir'")
    official = [li for li in page.select("ul.organisations li") if "Keith Muir" in li.get_text()][0]
    assert official.find("a", href=f"/-/author/{muir}")
    related = page.select("ol.related-trials li")
    assert related[0].a.get_text() == "NCT03629275"
    assert "same intervention: neural stem/progenitor cells" in related[0].get_text()


def test_a_trial_without_sites_says_so_and_draws_no_map(demo_site):
    db, datasette = demo_site
    nct = one(db, "select nct_id from trials where id not in (select trial_id from trial_sites) order by nct_id")
    page = soup(datasette, f"/-/trial/{nct}")
    assert "The registry record lists no sites." in page.get_text()
    assert page.find(id="regenkb-trial-map") is None and page.find(id="regenkb-trial-sites") is None
    assert not page.find_all("script", src=re.compile("leaflet"))


def test_the_trial_page_has_a_json_twin_with_lists_as_lists(demo_site):
    db, datasette = demo_site
    response = get(datasette, "/-/trial/NCT03384433.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["trial"]["nct_id"] == "NCT03384433" and body["trial"]["phases"] == ["PHASE1", "PHASE2"]
    assert body["trial"]["collaborators"] == ["Tarbiat Modarres University"]
    assert body["warning"].startswith("The registry still says")
    assert [(s["facility"], s["latitude"], s["longitude"]) for s in body["sites"]] == [
        ("Shahid Beheshti University of Medical Sciences", 35.69439, 51.42151)]
    assert body["papers"][0]["work_id"] == one(db, "select id from works where pmid = '35281985'")
    assert body["papers"][0]["relation"] == "probably_same_study"
    assert [o["measure"] for o in body["outcomes"]] == [row[0] for row in db.execute(
        "select measure from trial_outcomes where trial_id = (select id from trials where nct_id = 'NCT03384433') "
        "order by position")]


def test_an_unknown_trial_is_a_404_that_points_to_search(demo_site):
    datasette = demo_site[1]
    page = get(datasette, "/-/trial/NCT99999999")
    assert page.status_code == 404 and 'href="/-/search-all?q=NCT99999999"' in page.text
    twin = get(datasette, "/-/trial/NCT99999999.json")
    assert twin.status_code == 404 and twin.json()["search"] == "/-/search-all?q=NCT99999999"
    hostile = get(datasette, "/-/trial/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert hostile.status_code == 404 and "<script>alert(1)" not in hostile.text


def test_a_trial_opens_by_its_other_registry_number_or_in_lower_case(demo_site):
    db, datasette = demo_site
    eudract, nct = db.execute("select i.identifier, t.nct_id from trial_ids i join trials t on t.id = i.trial_id "
                              "where i.registry = 'EudraCT' order by t.nct_id").fetchone()
    response = get(datasette, f"/-/trial/{eudract}")
    assert response.status_code == 302 and response.headers["location"] == f"/-/trial/{nct}"
    assert get(datasette, "/-/trial/nct03384433.json").headers["location"] == "/-/trial/NCT03384433.json"
    page = soup(datasette, f"/-/trial/{nct}")
    assert page.find("a", href=f"https://www.clinicaltrialsregister.eu/ctr-search/search?query={eudract}")


def test_an_institution_page_lists_the_trials_it_sponsors_or_hosts(demo_site):
    db, datasette = demo_site
    for name, role in (("Isfahan University of Medical Sciences", "sponsor"),
                       ("Shahid Beheshti University of Medical Sciences", "site")):
        page = soup(datasette, f"/-/institution/{one(db, 'select id from institutions where name = ?', [name])}")
        trials = page.select("ul.trials li")
        assert [li.a["href"] for li in trials] == ["/-/trial/NCT03384433"], name
        assert trials[0].find(class_="why").get_text() == role, name
    glasgow = one(db, "select a.institution_id from trial_people p join affiliations a on a.id = p.affiliation_id "
                      "where p.name = 'Keith Muir'")
    trials = soup(datasette, f"/-/institution/{glasgow}").select("ul.trials li")
    assert "/-/trial/NCT01151124" in [li.a["href"] for li in trials]


def test_the_work_page_and_search_link_trials_to_their_trial_page(demo_site):
    db, datasette = demo_site
    seed = one(db, "select id from works where pmid = '35281985'")
    assert soup(datasette, f"/-/work/{seed}").find("a", href="/-/trial/NCT03384433")
    search = soup(datasette, "/-/search-all?q=allogenic+exosome+ischemic&kind=trials")
    assert search.find("a", href="/-/trial/NCT03384433")


def test_an_open_status_is_stale_once_its_completion_passes_or_it_goes_two_years_unupdated():
    today = datetime.date(2026, 12, 2)

    def trial(status, completion, updated):
        return {"overall_status": status, "completion_date": completion, "last_update_posted": updated}

    assert status_warning(trial("RECRUITING", "2027-06", "2026-01-10"), today) is None
    assert status_warning(trial("COMPLETED", "2019-01", "2019-05-01"), today) is None
    assert status_warning(trial("NOT_YET_RECRUITING", "2026-12", "2026-01-10"), today) is None  # this month
    assert "completion date (2026-11) has passed" in status_warning(trial("RECRUITING", "2026-11", "2026-01-10"), today)
    stale = status_warning(trial("ACTIVE_NOT_RECRUITING", "2030-01-01", "2024-11-30"), today)
    assert "active not recruiting" in stale and "last updated on 2024-11-30, 2 years ago" in stale
    assert status_warning(trial("ACTIVE_NOT_RECRUITING", "2030-01-01", "2024-12-03"), today) is None


def test_posted_results_show_each_outcome_value_and_serious_event_per_group_as_the_registry_posted_them(tmp_path):
    """Conformance: every recorded v2 study with posted results, read here with json alone."""
    from test_conformance_real import files_of, real_data

    from kb.ingest import load_ctgov_file

    folder = real_data() / "ctgov"
    studies = []
    for name in files_of("ctgov"):
        if name.endswith(".json"):
            data = json.loads((folder / name).read_text())
            studies += [(name, study) for study in data.get("studies", [data]) if "resultsSection" in study]
    assert len(studies) >= 2
    db = open_db(str(tmp_path / "results.db"))
    for name in dict.fromkeys(name for name, _ in studies):
        load_ctgov_file(db, folder / name)
    datasette = serve.datasette_for(tmp_path / "results.db")
    checks = 0
    for name, study in studies:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        page = soup(datasette, f"/-/trial/{nct}")
        measures = study["resultsSection"].get("outcomeMeasuresModule", {}).get("outcomeMeasures", [])
        tables = page.select("table.result-values")
        assert len(tables) == len(measures), name
        for measure, table in zip(measures, tables):
            titles = [group["title"] for group in measure.get("groups", [])]
            heads = [th.contents[0].get_text() if th.contents else "" for th in table.select("thead th")[1:]]
            assert heads == titles, (name, measure["title"])
            body = table.select("tbody tr")
            cells = {(tr.td.get_text(), heads[i]): td.get_text()
                     for tr in body for i, td in enumerate(tr.find_all("td")[1:])}
            groups = {group["id"]: group["title"] for group in measure.get("groups", [])}
            for klass in measure.get("classes", []):
                for category in klass.get("categories", []):
                    label = " · ".join(filter(None, (klass.get("title"), category.get("title"))))
                    for value in category.get("measurements", []):
                        cell = cells[(label, groups[value["groupId"]])]
                        assert cell.startswith(value.get("value", "")), (name, measure["title"], label)
                        assert value.get("spread", "") in cell and value.get("lowerLimit", "") in cell, (name, label)
                        checks += 1
        events = study["resultsSection"].get("adverseEventsModule", {})
        if events.get("eventGroups"):
            table = page.select_one("table.serious-events")
            assert [th.get_text() for th in table.select("thead th")[1:]] == [g["title"] for g in events["eventGroups"]]
            rows = {tr.td.contents[0].get_text().strip(): [td.get_text() for td in tr.find_all("td")[1:]]
                    for tr in table.select("tbody tr")}
            assert rows["Participants with a serious event"] == [
                f"{g['seriousNumAffected']}/{g['seriousNumAtRisk']}" for g in events["eventGroups"]], name
            assert rows["Deaths"] == [f"{g['deathsNumAffected']}/{g['deathsNumAtRisk']}" if "deathsNumAffected" in g
                                      else "" for g in events["eventGroups"]], name
            checks += 2 * len(events["eventGroups"])
            serious = events.get("seriousEvents", [])
            assert len(rows) - 2 == min(30, len(serious)), name  # the page lists the 30 most frequent
            for event in (event for event in serious if event["term"] in rows):
                stats = {s["groupId"]: s for s in event["stats"]}
                assert rows[event["term"]] == [f"{stats[g['id']]['numAffected']}/{stats[g['id']]['numAtRisk']}"
                                               if g["id"] in stats else "" for g in events["eventGroups"]], name
                checks += len(event["stats"])
    assert checks > 20


def test_the_trials_table_links_each_title_to_its_trial_page(demo_site):
    page = soup(demo_site[1], "/regenkb/trials?nct_id=NCT03384433")
    assert page.find("a", href="/-/trial/NCT03384433").get_text() == (
        "Allogenic Mesenchymal Stem Cell Derived Exosome in Patients With Acute Ischemic Stroke")


def test_a_kb_loaded_before_posted_results_were_stored_still_shows_its_trials(demo_site, tmp_path):
    import sqlite3

    old = tmp_path / "old.db"
    demo_site[0].conn.execute("VACUUM INTO ?", [str(old)])
    with sqlite3.connect(old) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                     "(name = 'trial_results' OR name LIKE 'trial_result_%')").fetchall():
            conn.execute(f"DROP TABLE {table}")
    datasette = serve.datasette_for(old)
    assert get(datasette, "/-/trial/NCT03384433.json").json()["results"] is None


def criteria_in(path):
    """{nct: eligibility criteria text} of every study in a recorded file that gives them, read with
    json or xml.etree (the legacy XML's text block as the KB keeps it: paragraphs, layout closed up)."""
    import xml.etree.ElementTree as ET

    from test_fidelity_ctgov import xml_paragraphs

    data = path.read_bytes()
    if path.suffix == ".xml":
        root = ET.fromstring(data)
        text = xml_paragraphs(root, "eligibility/criteria/textblock") if root.tag == "clinical_study" else None
        return {root.findtext("id_info/nct_id"): text} if text else {}
    if path.suffix != ".json":
        return {}
    payload = json.loads(data)
    if "FullStudiesResponse" in payload:
        protocols = [(s["Study"]["ProtocolSection"], "IdentificationModule", "NCTId", "EligibilityModule",
                      "EligibilityCriteria") for s in payload["FullStudiesResponse"]["FullStudies"]]
    else:
        protocols = [(s.get("protocolSection", {}), "identificationModule", "nctId", "eligibilityModule",
                      "eligibilityCriteria") for s in payload.get("studies", [payload])]
    return {protocol[ident][nct]: protocol[module][criteria] for protocol, ident, nct, module, criteria in protocols
            if protocol.get(module, {}).get(criteria)}


def criteria_lists(text):
    """(inclusion, exclusion) of a criteria text read simply: the lines after a line ending in
    'Inclusion Criteria:' ('Exclusion Criteria:'), markers ('* ', '- ', '1. ') and markdown escapes
    dropped; None when other text comes first ('Eligibility criteria:')."""
    lines = [re.sub(r"\\(.)", r"\1", line) for line in text.splitlines() if line.strip()]
    if not re.search(r"(inclusion|exclusion) criteria:$", lines[0], re.I):
        return None
    found = {"inclusion": [], "exclusion": []}
    for line in lines:
        heading = re.search(r"(inclusion|exclusion) criteria:$", line, re.I)
        if heading:
            current = found[heading.group(1).lower()]
        else:
            current.append(re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", line).strip())
    return found["inclusion"], found["exclusion"]


def test_the_trial_page_lists_the_inclusion_and_exclusion_criteria_the_registry_gives(tmp_path):
    """Conformance: every recorded study with eligibility criteria, in every format that has them."""
    from test_conformance_real import files_of, real_data

    from kb.ingest import load_ctgov_file

    folder = real_data() / "ctgov"
    studies = {}
    for name in files_of("ctgov"):
        studies.update(criteria_in(folder / name))
        load_ctgov_file(open_db(str(tmp_path / "criteria.db")), folder / name)
    assert len(studies) >= 10
    datasette = serve.datasette_for(tmp_path / "criteria.db")
    unsplit = 0
    for nct, text in studies.items():
        page = soup(datasette, f"/-/trial/{nct}")
        twin = get(datasette, f"/-/trial/{nct}.json").json()
        assert twin["trial"]["eligibility_criteria"] == text, nct
        expected = criteria_lists(text)
        if expected is None:
            unsplit += 1
            assert page.select_one("div.criteria").get_text() == re.sub(r"\\(.)", r"\1", text), nct
            assert not page.select("ul.criteria") and twin["eligibility"]["inclusion"] == [], nct
            continue
        for kind, items in zip(("inclusion", "exclusion"), expected):
            shown = [li.get_text() for li in page.select(f"ul.criteria.{kind} li")]
            assert shown == items, (nct, kind)
            assert [item["text"] for item in twin["eligibility"][kind]] == items, (nct, kind)
        nested = len(re.findall(r"^ {2,}(?:[-*]|\d+\.) ", text, re.M))
        assert len(page.select("ul.criteria li.level-1, ul.criteria li.level-2")) == nested, nct
    assert 0 < unsplit < len(studies)


def test_a_trial_without_criteria_says_so_and_gives_its_age_groups(demo_site):
    page = soup(demo_site[1], "/-/trial/NCT03384433")
    assert "age 40 Years to 80 Years (adult, older adult)" in page.get_text()
    assert "The registry record gives no eligibility criteria." in page.get_text()
    twin = get(demo_site[1], "/-/trial/NCT03384433.json").json()
    assert twin["eligibility"] is None and twin["trial"]["std_ages"] == ["ADULT", "OLDER_ADULT"]


def test_criteria_headings_with_a_qualifier_or_a_first_item_after_the_colon_split_too():
    found = eligibility_lists("Inclusion criteria for patients:\n* Ischaemic stroke within 48 h\n"
                              "Inclusion criteria for controls:\n* No history of stroke\nExclusion Criteria: none")
    assert [(item["text"], item["note"]) for item in found["inclusion"]] == [
        ("Inclusion criteria for patients:", True), ("Ischaemic stroke within 48 h", False),
        ("Inclusion criteria for controls:", True), ("No history of stroke", False)]
    assert [item["text"] for item in found["exclusion"]] == ["none"]
    assert eligibility_lists(None) is None
