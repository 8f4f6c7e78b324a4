"""The server facing hostile visitors and hostile data (issue 20, items 1, 3, 8, 12, 15): no
`javascript:` URL becomes a link and no inline script we did not write runs, the server's
paths and memory stay its own, slow SQL cannot starve the pages, edge input gets a 4xx in
words, and nothing writes to a KB served as immutable."""

import asyncio
import re
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import load  # noqa: E402
from test_browser import CHROMIUM, browser  # noqa: E402,F401

from harvest.records import new_author, new_work  # noqa: E402
from kb import demo, serve  # noqa: E402
from kb.cli import cli  # noqa: E402
from kb.datasette_plugin.pages import shown_origin  # noqa: E402
from kb.datasette_plugin.guards import script_hash  # noqa: E402
from kb.db import open_db  # noqa: E402
from kb.ingest import refresh  # noqa: E402
from kb.load import WorkLoader  # noqa: E402

ROR = "javascript:alert('ror')"
SLOW_SQL = ("with recursive n(x) as (select 1 union all select x + 1 from n where x < 10000000000) "
            "select count(*) from n")


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory):
    """The demo KB plus a paper whose harvested identifiers are `javascript:` URLs."""
    path = tmp_path_factory.mktemp("hostile") / "regenkb.db"
    db = open_db(str(path))
    demo.build(db)
    record = new_work(pmid="99999997", title="Hostile identifiers after stroke", year=2024, authors=[
        new_author(1, last_name="Payload", fore_name="Pat", initials="P",
                   affiliations=[{"name": "Institute of Payloads, Tehran, Iran", "identifiers": {}}])])
    record["raw"] = b"<PubmedArticle>99999997</PubmedArticle>"
    WorkLoader(db, "pubmed").write_batch([record], "hand-built")
    refresh(db)
    work = db.execute("select id from works where pmid = '99999997'").fetchone()[0]
    # Values as a source could send them (an OpenAlex institution's `ror` is stored as given).
    db.execute("update works set doi = ?, pmcid = ? where id = ?", ["javascript:alert('doi')//10.1/x",
                                                                   "javascript:alert('pmc')", work])
    db.execute("update institutions set ror = ? where name = 'Institute of Payloads'", [ROR])
    db.execute("update authors set orcid = ? where id = (select author_id from work_authors where work_id = ?)",
               ["javascript:alert('orcid')", work])
    db.conn.commit()
    db.close()
    return path


@pytest.fixture(scope="module")
def site(kb_path):
    datasette = serve.datasette_for(kb_path)
    asyncio.run(datasette.invoke_startup())
    return datasette


def get(datasette, url, method="get"):
    return asyncio.run(getattr(datasette.client, method)(url))


def one(datasette, sql):
    return get(datasette, "/regenkb.json?_shape=array&sql=" + urllib.parse.quote(sql)).json()[0]


@pytest.fixture(scope="module")
def hostile_pages(kb_path):
    """The pages that show the hostile paper's identifiers."""
    work, author, institution = sqlite3.connect(kb_path).execute(
        "select w.id, wa.author_id, af.institution_id from works w join work_authors wa on wa.work_id = w.id "
        "join work_author_affiliations waa on waa.work_id = w.id join affiliations af on af.id = waa.affiliation_id "
        "where w.pmid = '99999997'").fetchone()
    return {"work": f"/-/work/{work}", "author": f"/-/author/{author}", "institution": f"/-/institution/{institution}",
            "institution row": f"/regenkb/institutions/{institution}", "works table": "/regenkb/works?pmid=99999997",
            "author row": f"/regenkb/authors/{author}"}


def test_a_javascript_url_from_harvested_data_is_never_a_link(site, hostile_pages):
    for name, url in hostile_pages.items():
        page = get(site, url)
        assert page.status_code == 200, name
        hrefs = [a["href"] for a in BeautifulSoup(page.text, "html.parser").find_all("a", href=True)]
        assert not [href for href in hrefs if not re.match(r"(https?://|/|#|\?)", href)], name
    assert "ROR javascript:alert(&#39;ror&#39;)" in get(site, hostile_pages["institution"]).text  # as text
    assert "DOI javascript:alert(&#39;doi&#39;)//10.1/x" in get(site, hostile_pages["work"]).text


def test_valid_identifiers_still_link_to_their_registries(site):
    work = one(site, "select id from works where pmid = '35281985'")["id"]
    page = get(site, f"/-/work/{work}").text
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/35281985/">35281985</a>' in page
    assert 'href="https://doi.org/10.' in page


def test_every_page_forbids_inline_script_it_did_not_write(site, hostile_pages):
    pages = [*hostile_pages.values(), "/", "/regenkb", "/regenkb?sql=select+1", "/regenkb/trial_sites",
             "/regenkb/search?q=stroke", "/-/search-all?q=stroke", "/-/work/1", "/no-such-page"]
    for url in pages:
        page = get(site, url)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in policy and "unsafe-inline" not in policy.split("style-src")[0], url
        scripts = BeautifulSoup(page.text, "html.parser").find_all("script")
        inline = [s.string or "" for s in scripts if not s.get("src") and s.get("type") != "application/json"]
        assert inline, url  # Datasette's own menu script at least
        assert all(script_hash(text) in policy for text in inline), url  # ours run ...
    assert script_hash("alert(1)") not in policy  # ... and nothing else


def test_the_network_draws_from_a_static_file_and_page_data(site, hostile_pages):
    page = get(site, hostile_pages["author"]).text
    soup = BeautifulSoup(page, "html.parser")
    assert soup.find("script", id="regenkb-network-elements")["type"] == "application/json"
    assert soup.find("script", src=re.compile("regenkb-network.js$"))
    assert get(site, "/-/static-plugins/regenkb/regenkb-network.js").status_code == 200


def test_server_paths_and_memory_stay_hidden(site, kb_path):
    for url in ("/-/databases.json", "/-/threads.json", "/-/databases", "/-/threads"):
        page = get(site, url)
        assert page.status_code == 404 and str(kb_path) not in page.text, url
    assert one(site, "select file from pragma_database_list")["file"] is None
    tokenizer = get(site, "/regenkb.json?sql=" + urllib.parse.quote("select fts3_tokenizer('simple')"))
    assert tokenizer.status_code == 400 and "not authorized to use function: fts3_tokenizer" in tokenizer.text
    work = one(site, "select id from works where pmid = '35281985'")["id"]
    page = get(site, f"/-/work/{work}").text
    assert "from demo_corpus/pubmed_clinical.xml</li>" in page and str(Path(demo.__file__).parent) not in page
    records = BeautifulSoup(get(site, "/regenkb/records?_size=100").text, "html.parser")
    origins = {cell.get_text(strip=True) for cell in records.select("td.col-origin")}
    assert {"demo_corpus/pubmed_clinical.xml", "demo_corpus/ctgov_trials.json", "demo_corpus/portal_seed.html"} <= origins
    assert str(Path(demo.__file__).parent) not in get(site, "/regenkb/records.json?_size=100").text
    # An absolute origin (a file loaded by its full path) shows by its name alone.
    assert shown_origin("file:///home/someone/saved/page.html") == "page.html"


def test_debug_endpoints_come_back_when_asked(kb_path):
    datasette = serve.datasette_for(kb_path, debug_endpoints=True)
    assert get(datasette, "/-/threads.json").status_code == 200
    assert get(datasette, "/-/databases.json").status_code == 200


def test_edge_input_gets_a_4xx_with_a_plain_message(site):
    for url in ("/-/work/99999999999999999999", "/-/author/99999999999999999999",
                "/-/institution/99999999999999999999"):
        page = get(site, url)
        assert page.status_code == 404 and "There is no" in page.text, url
    words = get(site, "/-/search-all?q=" + "+".join(f"w{n}" for n in range(1000)))
    assert words.status_code == 400 and "search takes at most 2,000" in words.text
    words = get(site, "/-/search-all?q=" + "+".join("x" * 1000))  # 1,999 characters
    assert words.status_code == 400 and "The query has 1,000 words; search takes at most 64." in words.text
    # 60,000 characters is past SQLite's LIKE limit (50,000 bytes) and within httpx's longest URL.
    word = get(site, "/-/search-all?q=" + "a" * 60_000)
    assert word.status_code == 400 and "The query is 60,000 characters long" in word.text
    for url in ("/regenkb/search", "/regenkb/trials_for_work", "/regenkb"):
        posted = get(site, url, method="post")
        assert posted.status_code == 405 and posted.text.startswith("This server is read-only"), url


async def slow_queries_and_a_work_page(datasette, slow, work_url):
    """Send `slow` expensive queries, then (once they are in flight) a work page; returns the
    order in which the answers came, as (name, status, body)."""
    answered = []

    async def fetch(name, url):
        response = await datasette.client.get(url)
        answered.append((name, response.status_code, response.text))

    queries = [asyncio.create_task(fetch("slow", "/regenkb.json?sql=" + urllib.parse.quote(SLOW_SQL)))
               for _ in range(slow)]
    await asyncio.sleep(0.3)  # the slow ones hold the query threads now
    await fetch("work", work_url)
    await asyncio.gather(*queries)
    return answered


def test_slow_arbitrary_sql_leaves_the_pages_a_thread(site):
    work = one(site, "select id from works where pmid = '35281985'")["id"]
    answered = asyncio.run(slow_queries_and_a_work_page(site, 6, f"/-/work/{work}"))
    refused = [body for name, status, body in answered if status == 503]
    ran = [(name, status, body) for name, status, body in answered if status != 503]
    assert ran[0][:2] == ("work", 200)  # the page answered before any admitted slow query finished
    assert [status for name, status, body in ran[1:]] == [400, 400]  # two ran, each cut at the time limit
    assert all("SQL query took too long" in body for name, status, body in ran[1:])
    assert len(refused) == 4 and refused[0].startswith("Too many SQL queries are running")


def test_kb_load_refuses_a_kb_served_as_immutable(kb_path, tmp_path):
    corpus = Path(demo.__file__).parent / "demo_corpus" / "pubmed_more.xml"
    process, base = load.start_server(kb_path, "--immutable", "--debug-endpoints")
    try:
        locks = serve.lock_files(kb_path)
        refused = CliRunner().invoke(cli, ["load", "pubmed", str(corpus), "--db", str(kb_path)])
        assert load.get(base + "/-/databases.json")[0] == 200  # --debug-endpoints
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert locks == [f"{kb_path}.served-immutable-{process.pid}.lock"]
    assert refused.exit_code == 1 and "is being served as immutable" in refused.output
    assert f"(process {process.pid})" in refused.output and "Traceback" not in refused.output
    assert serve.lock_files(kb_path) == []  # the server removed its lock as it stopped
    # A lock whose server was killed does not hold the KB.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(f"{kb_path}.served-immutable-{dead.pid}.lock")
    stale.write_text("")
    loaded = CliRunner().invoke(cli, ["load", "pubmed", str(corpus), "--db", str(kb_path)])
    assert loaded.exit_code == 0, loaded.output
    assert not stale.exists()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_no_javascript_url_runs_in_chromium_and_our_pages_break_no_policy(kb_path, hostile_pages,
                                                                         browser):  # noqa: F811
    process, base = load.start_server(kb_path)
    page = browser.new_page()
    dialogs, violations = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    try:
        institution = hostile_pages["institution"]
        page.goto(base + institution)
        assert page.locator("a[href^='javascript:']").count() == 0
        # Were a javascript: link to slip through escaping, the policy would still not run it.
        page.evaluate("""document.body.insertAdjacentHTML('beforeend',
                         '<a id="slipped" href="javascript:alert(1)">x</a><img src=x onerror="alert(2)">')""")
        page.click("#slipped")
        page.wait_for_timeout(300)
        assert dialogs == [] and len(violations) == 2  # the link and the handler, refused
        violations.clear()
        for url in ("/", "/regenkb?sql=select+1", "/regenkb/trial_sites", institution):
            page.goto(base + url)
            page.wait_for_load_state("load")
        page.wait_for_selector("#regenkb-network canvas")
        assert page.evaluate("window.regenkbNetwork.nodes().length") >= 1  # our script file ran
        assert violations == []
    finally:
        page.close()
        process.terminate()
        process.wait(timeout=10)

