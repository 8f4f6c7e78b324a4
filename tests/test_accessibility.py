"""axe-core in the same headless Chromium as tests/test_browser.py, over every page of ours on the
demo: no moderate, serious or critical violation (each page's content in one <main> landmark, as
axe's landmark-one-main and region rules ask). axe is vendored (tests/axe/axe.min.js, MPL-2.0)
so CI, which installs Python deps and chromium only, runs it too."""

from pathlib import Path

import pytest
from test_browser import CHROMIUM, browser, server, shot, synthesis_server  # noqa: F401 (fixtures)

AXE = Path(__file__).resolve().parent / "axe" / "axe.min.js"

# Rules that fail only on markup Datasette's own base template writes, which our templates extend
# and cannot change, each with the reason.
DATASETTE_BASE_TEMPLATE_ALLOW = {
    "html-has-lang": "Datasette 0.65's base.html opens with a bare <html>, and no block reaches that tag",
}

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def violations(browser, url):  # noqa: F811
    # Our Content-Security-Policy forbids the unhashed axe script: bypass it for this context only.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    slug = url.split("/", 3)[3].replace("/", "_").replace("?", "_").replace("=", "-")[:60]
    shot(page, "a11y-" + (slug or "home"))
    context.close()
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3], v["help"]) for v in results["violations"]
            if v["impact"] in ("moderate", "serious", "critical") and v["id"] not in DATASETTE_BASE_TEMPLATE_ALLOW]


def our_pages(browser, base):  # noqa: F811
    page = browser.new_page()
    page.goto(base + "/-/search?q=35281985")  # the seed's PMID opens its work page
    work = page.url[len(base):]
    author, institution = (page.get_attribute(f"a[href^='/-/{kind}/']", "href") for kind in ("author", "institution"))
    page.goto(base + "/-/gap-map")
    cell = page.get_attribute("a[href^='/-/gap-map/studies?']", "href")
    page.close()
    return ["/", "/-/search?q=ischaemic+stroke&year_from=2020", "/-/search?q=NCT03384433", work,
            "/-/trial/NCT03384433", author, institution, "/-/gap-map", cell, "/-/trial/NCT00000000"]


def test_every_page_of_ours_on_the_demo_has_no_moderate_serious_or_critical_accessibility_violation(server, browser):  # noqa: F811
    base, _ = server
    found = {path: violations(browser, base + path) for path in our_pages(browser, base)}
    assert not any(found.values()), "\n".join(f"{path}: {v}" for path, found_on in found.items() for v in found_on)


def test_the_synthesis_page_has_no_moderate_serious_or_critical_accessibility_violation(synthesis_server, browser):  # noqa: F811
    found = violations(browser, synthesis_server + "/-/synthesis")
    assert not found, "\n".join(map(str, found))
