"""The demo in a real browser: Debian's headless Chromium driven by Playwright against a
real `kb serve`. Screenshots go to tests/artifacts/ (ignored by git, kept by CI)."""

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harvest.records import new_author, new_work
from kb import demo
from kb.db import open_db
from kb.ingest import refresh
from kb.load import WorkLoader

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
XSS_TITLE = '<img src=x onerror="alert(1)"><script>alert(2)</script>Exosome stroke payload'

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(path):
    """A real `kb serve` of the KB at path, on a free port, until the block ends: its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--db", str(path), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "regenkb.db"
    db = open_db(str(path))
    demo.build(db)
    record = new_work(pmid="99999998", title=XSS_TITLE, year=2024, authors=[
        new_author(1, last_name="Payload", fore_name="Pat", initials="P")])
    record["raw"] = b"<PubmedArticle>99999998</PubmedArticle>"
    WorkLoader(db, "pubmed").write_batch([record], "hand-built")
    refresh(db)
    from kb import graph
    graph.build(db, "coauthorship")
    evil = db.execute("select id from works where pmid = '99999998'").fetchone()[0]
    with served(path) as base:
        yield base, evil


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_researcher_searches_opens_the_seed_work_an_author_and_downloads_bibtex(server, browser):
    base, _ = server
    page = browser.new_page(accept_downloads=True)
    page.goto(base + "/")
    page.click("text=Search everything")
    page.fill("input[name=q]", "placenta exosome craniectomy")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("text=Works (")
    shot(page, "1-search")
    page.click("a:has-text('Safety of Intraparenchymal Injection')")
    page.wait_for_selector("p.authors")
    assert page.locator("p.authors a").count() == 10
    assert page.locator("ol.affiliations li").count() == 8
    assert page.locator("p.authors").inner_text().startswith("Dehghani L1; Khojasteh A1; Soleimani M1, 2, 3")
    shot(page, "2-seed-work")
    page.click("p.authors a:has-text('Soleimani M')")
    page.wait_for_selector("#regenkb-network canvas")
    page.wait_for_function("window.regenkbNetwork && window.regenkbNetwork.nodes().length > 1")
    assert page.locator("h1").inner_text() == "Masoud Soleimani"
    assert page.evaluate("window.regenkbNetwork.nodes().length") >= 10
    page.wait_for_selector("#chart-works-by-year svg .mark-rect path")
    dated = [row for row in page.request.get(page.url + ".json").json()["by_year"] if row["year"]]
    assert page.locator("#chart-works-by-year svg .mark-rect path").count() == len(dated) >= 1
    shot(page, "3-author-network")
    with page.expect_download() as download:
        page.click("text=BibTeX")
    bibtex = Path(download.value.path()).read_text()
    assert bibtex.startswith("@article{") and "Soleimani, Masoud" in bibtex
    page.close()


def test_a_title_carrying_a_script_does_not_run(server, browser):
    base, evil = server
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for url in (f"/-/work/{evil}", "/regenkb/works?pmid=99999998", "/-/search-all?q=payload"):
        page.goto(base + url)
        page.wait_for_load_state("load")
        assert "<script>alert(2)</script>" in page.content().replace("&lt;", "<").replace("&gt;", ">")
    shot(page, "4-xss-as-text")
    assert dialogs == []
    assert page.locator("img[src=x]").count() == 0
    page.close()


def test_a_trial_page_draws_its_sites_on_the_map_without_the_network(server, browser):
    base, _ = server
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base + "/-/trial/NCT03384433")
    page.wait_for_selector("#regenkb-trial-map path.leaflet-interactive")  # the site, drawn without tiles
    assert page.evaluate("window.regenkbTrialMap.markers") == 1
    assert page.locator("#regenkb-trial-map path.leaflet-interactive").count() == 1
    assert page.locator("#stale-status").is_visible()
    shot(page, "5-trial")
    assert errors == []
    page.close()


@pytest.fixture(scope="module")
def synthesis_server(tmp_path_factory):
    from test_synthesis import controlled_trial

    path = tmp_path_factory.mktemp("synthesis") / "regenkb.db"
    db = open_db(str(path))
    controlled_trial(db, 1)
    controlled_trial(db, 2, treated=(2.5, 1.5, 30), control=(2.8, 1.4, 30))
    from kb import synthesis
    synthesis.synthesize(db)
    with served(path) as base:
        yield base


def test_the_synthesis_page_draws_its_forest_and_safety_plots_within_the_content_security_policy(
        synthesis_server, browser):
    page = browser.new_page()
    errors, violations = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(synthesis_server + "/-/synthesis")
    page.wait_for_selector(".regenkb-forest svg .mark-symbol path")  # the study and pooled squares
    page.wait_for_selector("#regenkb-safety-plot svg .mark-symbol path")  # its one class and route
    assert page.locator(".regenkb-forest svg .mark-symbol path").count() == 3  # two studies and the pool
    shot(page, "6-synthesis")
    assert errors == [] and violations == []
    page.close()


def test_the_home_page_draws_its_four_charts_within_the_content_security_policy(server, browser):
    base, _ = server
    page = browser.new_page()
    errors, violations = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(base + "/")
    for chart in ("works-per-year", "trials-by-phase", "trials-by-status", "trials-by-country"):
        page.wait_for_selector(f"#chart-{chart} svg .mark-rect path")
    # One bar per publication year of the demo's works (and the hand-built 2024 payload's).
    assert page.locator("#chart-works-per-year svg .mark-rect path").count() == 19
    shot(page, "7-home")
    assert errors == [] and violations == []
    page.close()


def test_affiliation_numbers_show_beside_each_affiliation_and_raised_beside_each_author(server, browser):
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/-/search?q=35281985")
    page.wait_for_selector("ol.affiliations li")
    assert page.eval_on_selector("ol.affiliations", "ol => getComputedStyle(ol).listStyleType") == "decimal"
    numbers = page.eval_on_selector_all("ol.affiliations li", "items => items.map(li => li.value)")
    assert numbers[:3] == [1, 2, 3]
    raised = page.eval_on_selector("p.authors sup", "sup => [sup.getBoundingClientRect().bottom, "
                                   "sup.previousElementSibling.getBoundingClientRect().bottom]")
    assert raised[0] < raised[1]  # the number sits above the name's baseline
    shot(page, "2b-affiliation-numbers")
    page.close()


def test_the_author_network_labels_do_not_overlap_and_the_layout_is_the_same_on_reload(server, browser):
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/-/search-all?q=Masoud+Soleimani")
    page.click("a:has-text('Masoud Soleimani')")
    page.wait_for_selector("#regenkb-network canvas")
    boxes = page.evaluate("""window.regenkbNetwork.nodes('.labelled').map(n => {
        const b = n.renderedBoundingBox({includeLabels: true}); return [b.x1, b.y1, b.x2, b.y2]; })""")
    assert len(boxes) >= 3
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    positions = "window.regenkbNetwork.nodes().map(n => [n.id(), n.position('x'), n.position('y')])"
    before = page.evaluate(positions)
    quiet = page.evaluate("window.regenkbNetwork.nodes().filter(n => !n.hasClass('labelled')).map(n => n.id())")
    if quiet:
        page.evaluate(f"window.regenkbNetwork.getElementById('{quiet[0]}').emit('mouseover')")
        assert page.evaluate(f"window.regenkbNetwork.getElementById('{quiet[0]}').style('label')") != ""
    assert page.locator("ul.regenkb-legend li").count() >= 2
    shot(page, "3b-author-network-labels")
    page.reload()
    page.wait_for_selector("#regenkb-network canvas")
    assert page.evaluate(positions) == before
    page.close()


def watched(page):
    """The page's script errors and Content-Security-Policy refusals, as they happen."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    return errors


def test_regenkb_opens_on_the_home_page_with_its_map_and_central_people_and_the_tables_one_click_away(
        server, browser):
    base, _ = server
    page = browser.new_page()
    errors = watched(page)
    page.goto(base + "/regenkb")
    home = page.request.get(base + "/-/home.json").json()
    page.wait_for_selector("#regenkb-trial-map path.leaflet-interactive")  # drawn without tiles
    assert page.evaluate("window.regenkbTrialMap.markers") == len(home["map"]) == 18
    assert page.locator("#regenkb-trial-map path.leaflet-interactive").count() == 18
    assert page.locator("#chart-works-per-year svg .mark-rect path").count() == len(home["works_per_year"])
    assert page.locator("#top-people h2").inner_text() == "Most central people"  # the fixture built the network
    assert page.locator("#top-people li a").all_inner_texts() == [person["name"] for person in home["people"]]
    assert f"Since {home['added']['since']}, the day of the last load" in page.locator("#added").inner_text()
    shot(page, "0-home-map")
    page.click("main a:has-text('Tables and SQL')")
    page.wait_for_selector(".db-table h3 a")
    assert page.url == base + "/regenkb/-/tables"
    assert page.locator(".db-table h3 a").all_inner_texts()[:3] == ["works", "trials", "evidence"]
    assert page.locator("form.sql textarea[name=sql]").count() == 1  # the SQL editor
    shot(page, "0b-tables")
    assert errors == []
    page.close()


def test_a_researcher_narrows_a_search_by_year_and_every_hit_left_is_from_then_on(server, browser):
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/-/search?q=stroke")
    total = page.request.get(base + "/-/search.json?q=stroke").json()["total"]
    assert page.locator(".results h2").first.inner_text() == f"Works ({total})"
    page.fill(".filters input[name=year_from]", "2020")
    page.click(".filters input[type=submit]")
    page.wait_for_url(re.compile(r"year_from=2020"))
    narrowed = page.request.get(page.url.replace("/-/search?", "/-/search.json?")).json()  # the page's twin
    assert 0 < narrowed["total"] < total
    assert page.locator(".results h2").first.inner_text() == f"Works ({narrowed['total']})"
    assert page.locator("ol.hits > li").count() == len(narrowed["rows"]) > 0
    assert all(hit["year"] >= 2020 for hit in narrowed["rows"])
    shot(page, "1b-search-filtered")
    page.close()


def test_an_institution_page_charts_its_works_per_year_beside_its_network(server, browser):
    base, _ = server
    page = browser.new_page()
    errors = watched(page)
    page.goto(base + "/-/search-all?q=Isfahan")
    page.click("a:has-text('Isfahan University of Medical Sciences')")
    page.wait_for_selector("#chart-works-by-year svg .mark-rect path")
    twin = page.request.get(page.url + ".json").json()
    assert page.locator("h1").inner_text() == twin["entity"]["name"] == "Isfahan University of Medical Sciences"
    dated = [row for row in twin["by_year"] if row["year"]]
    assert page.locator("#chart-works-by-year svg .mark-rect path").count() == len(dated) >= 1
    assert page.locator("#works-by-year").inner_text() == "Works by year: " + " · ".join(
        f"{row['year'] or 'undated'}: {row['works']}" for row in twin["by_year"])
    page.wait_for_selector("#regenkb-network canvas")
    shot(page, "8-institution")
    assert errors == []
    page.close()


def test_the_gap_map_opens_the_studies_behind_a_bubble(server, browser):
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/-/gap-map")
    bubbles = page.locator("table.gap-map td a")
    assert bubbles.count() > 0
    shot(page, "9-gap-map")
    counted = int(re.match(r"(\d+) stud", bubbles.first.get_attribute("title")).group(1))
    bubbles.first.click()
    page.wait_for_selector("ol.studies")
    assert page.locator("ol.studies > li").count() == counted
    shot(page, "9b-gap-map-studies")
    page.close()
