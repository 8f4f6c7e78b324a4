import json
import time

import pytest

from harvest import http, portal
from harvest.errors import ParseError
from kb import demo
from kb.ingest import LoadError, load_portal_page, load_pubmed_file
from kb.unmerge import unmerge

from conftest import EFETCH, FIXTURES
from replay import PortalSite

PORTAL = FIXTURES / "portal"
SEED_PAGE = demo.CORPUS / "portal_seed.html"
SEED_URL = "https://www.rimpacts.com/rd/p.aspx?c=10158576256"
NUMBERS = [[1], [1], [1, 2, 3], [4], [1], [5], [6], [5], [1, 7], [8]]


def parse(path, url="https://portal.example/rd/p.aspx?c=1"):
    return portal.parse_page(path.read_text(), url)


@pytest.mark.parametrize("page", [SEED_PAGE, PORTAL / "seed_rich.html"])
def test_the_seed_page_gives_ten_authors_mapped_to_eight_affiliations(page):
    record, related = parse(page)
    assert [a["written_name"] for a in record["authors"]] == [
        "Dehghani L", "Khojasteh A", "Soleimani M", "Oraeeyazdani S", "Keshel SH", "Saadatnia M",
        "Saboori M", "Zali A", "Hashemi SM", "Soleimani R"]
    keshel = record["authors"][4]
    assert (keshel["last_name"], keshel["initials"]) == ("Keshel", "SH")
    affiliations = sorted({a["name"] for author in record["authors"] for a in author["affiliations"]})
    assert len(affiliations) == 8
    first = [a["name"] for a in record["authors"][0]["affiliations"]]
    soleimani_m, soleimani_r = record["authors"][2], record["authors"][9]
    assert [a["name"] for a in soleimani_m["affiliations"]][0] == first[0] and len(soleimani_m["affiliations"]) == 3
    assert [a["name"] for a in soleimani_r["affiliations"]] == [
        "Department of Neurology, Shahid Beheshti University of Medical Sciences, Tehran, Iran"]
    assert (record["journal"], record["year"]) == ("International Journal of Preventive Medicine", 2022)
    assert record["abstract"].startswith("Background: Malignant middle cerebral artery infarct")
    assert "\nMethods: In this RCT" in record["abstract"] and "©" not in record["abstract"]
    assert record["copyright"].startswith("© 2022 International Journal of Preventive Medicine")
    assert [(r["position"], r["title"], r["journal"], r["year"]) for r in related] == [
        (1, "Microrna: Relevance to Stroke Diagnosis, Prognosis, and Therapy", "Journal of Cellular Physiology", 2018),
        (2, "The Therapeutic Effect of Mscs and Their Extracellular Vesicles on Neuroblastoma",
         "Progress in Biophysics and Molecular Biology", 2024),
        (3, "Stem Cell Therapy in Stroke: A Review Literature", "International Journal of Preventive Medicine", 2013)]


def test_layers_say_where_each_field_came_from():
    plain, _ = parse(SEED_PAGE)
    rich, _ = parse(PORTAL / "seed_rich.html")
    assert plain["layers"]["title"] == "layout" and plain["layers"]["authors"] == "layout"
    assert rich["layers"]["title"] == "meta" and rich["layers"]["authors"] == "meta+layout"
    assert rich["doi"] == "10.4103/ijpvm.ijpvm_441_21"


def test_affiliation_numbers_in_every_notation():
    assert portal.numbers_of("1, 2, 3") == portal.numbers_of("1,2,3") == portal.numbers_of("1-3") == [1, 2, 3]
    assert portal.numbers_of("۱، ۲-۳") == [1, 2, 3]
    record, _ = parse(PORTAL / "persian_digits.html")
    assert [len(a["affiliations"]) for a in record["authors"]] == [1, 3] and record["year"] == 2022


def test_bad_pages_say_what_is_missing():
    with pytest.raises(ParseError, match="not a record page"):
        portal.parse_page("<html><body><p>Welcome to the portal</p></body></html>", "https://p/x")
    page = SEED_PAGE.read_text().replace("Soleimani R8", "Soleimani R9")
    with pytest.raises(ParseError, match=r"Soleimani R names affiliation\(s\) \[9\]"):
        portal.parse_page(page, "https://p/x")


def test_a_bad_page_is_quarantined_with_its_url(db):
    with pytest.raises(LoadError, match="https://p/x: not a record page"):
        load_portal_page(db, b"<html><body><p>Welcome</p></body></html>", "https://p/x")
    assert db.execute("select origin from quarantine").fetchone()[0] == "https://p/x"


def test_the_seed_page_merges_with_its_pubmed_record_and_links_its_related_docs(db):
    load_pubmed_file(db, EFETCH)
    stats, related = load_portal_page(db, SEED_PAGE.read_bytes(), SEED_PAGE.as_uri())
    work = next(db.query("select * from works where pmid = '35281985'"))
    assert json.loads(work["sources"]) == ["portal", "pubmed"]
    assert db.execute("select source_id from records where source = 'portal' and work_id = ?",
                      [work["id"]]).fetchone()[0] == SEED_URL
    links = db.execute("select to_work_id, evidence from links where asserted_by = 'portal' and from_work_id = ? "
                       "order by evidence", [work["id"]]).fetchall()
    assert len(links) == 3 and all(to_work for to_work, _ in links)
    assert links[0][1] == "Other Related Docs #1 on www.rimpacts.com"
    assert stats.added == 3  # the three related documents, as stubs


def test_a_stub_becomes_the_page_when_the_page_is_loaded(db):
    load_portal_page(db, (PORTAL / "seed_rich.html").read_bytes(), "https://portal.example/rd/p.aspx?c=1")
    stub = db.execute("select work_id, completeness from records where source_id = "
                      "'https://portal.example/rd/p.aspx?c=10158576024'").fetchone()
    assert stub[1] == 1
    load_portal_page(db, (PORTAL / "related_review_2013.html").read_bytes(),
                     "https://portal.example/rd/p.aspx?c=10158576024")
    work_id, completeness = db.execute("select work_id, completeness from records where source_id = "
                                       "'https://portal.example/rd/p.aspx?c=10158576024'").fetchone()
    assert (work_id, completeness) == (stub[0], 2)
    assert db["works"].get(work_id)["author_list"] == "Meamar R"


def test_every_recorded_portal_page_gives_its_title_and_authors(db):
    import os
    from pathlib import Path

    root = os.environ.get("REGENKB_REAL_DATA")
    if not root:
        pytest.skip("REGENKB_REAL_DATA is not set")
    folder = Path(root) / "portal_html"
    assert folder.is_dir(), f"{folder} is missing"
    pages = sorted(path for path in folder.iterdir() if path.is_file())
    for path in pages:
        record, _ = portal.parse_page(path.read_text(encoding="utf-8", errors="replace"), path.resolve().as_uri())
        assert record["title"] and record["authors"], path.name
        load_portal_page(db, path.read_bytes(), path.resolve().as_uri())
    assert db.execute("select count(*) from records where source = 'portal'").fetchone()[0] == len(pages)


def test_the_crawler_follows_related_docs_on_the_same_host_once_and_honours_robots(tmp_path):
    pages = {"/rd/p.aspx?c=1": (PORTAL / "seed_rich.html").read_bytes(),
             "/rd/p.aspx?c=10158576024": (PORTAL / "related_review_2013.html").read_bytes()}
    with PortalSite(pages, robots=b"User-agent: *\nDisallow: /rd/p.aspx?c=10158576017\n") as site:
        client = http.Client("portal", rate_per_second=100, cache=False, max_retries=0, sleep=lambda s: None)
        crawler = portal.Crawler(client=client)
        start = site.base_url + "/rd/p.aspx?c=1"
        results = {url.rsplit("=", 1)[-1]: problem for url, data, problem in crawler.crawl(start, depth=1, max_pages=10)}
    assert results["1"] is None and results["10158576024"] is None
    assert results["10158576017"] == "robots.txt disallows it"
    assert "HTTP 404" in results["10158576012"]  # a missing page is reported, the crawl goes on
    assert len(results) == 4  # depth 1: the related pages' own related documents are not followed


def crawl_results(site, robots_status=None, **options):
    client = http.Client("portal", rate_per_second=100, cache=False, max_retries=0, sleep=lambda s: None)
    crawler = portal.Crawler(client=client)
    if robots_status:
        site.fail_next("/robots.txt", status=robots_status)
    return {url.rsplit("=", 1)[-1]: problem
            for url, data, problem in crawler.crawl(site.base_url + "/rd/p.aspx?c=1", **options)}, crawler


def test_a_site_without_robots_txt_may_be_crawled():
    with PortalSite({"/rd/p.aspx?c=1": (PORTAL / "seed_rich.html").read_bytes()}, robots=None) as site:
        results, _ = crawl_results(site)
    assert results == {"1": None}


def test_a_robots_txt_that_cannot_be_read_forbids_the_whole_host_for_this_run():
    with PortalSite({"/rd/p.aspx?c=1": (PORTAL / "seed_rich.html").read_bytes()}) as site:
        results, _ = crawl_results(site, robots_status=503)
        assert [path for path, _ in site.requests] == ["/robots.txt"]
    assert results["1"].startswith("robots.txt could not be read, so nothing on the host is fetched")


def test_the_crawl_delay_of_robots_txt_slows_the_crawler_down():
    with PortalSite({"/rd/p.aspx?c=1": (PORTAL / "seed_rich.html").read_bytes()},
                    robots=b"User-agent: *\nCrawl-delay: 4\n") as site:
        crawl_results(site)
        limiter = http.limiter_for(site.base_url.split("//")[1], 100)
    assert limiter.interval == pytest.approx(http.HEADROOM * 4)


def test_a_cached_robots_txt_is_read_again_after_a_day(tmp_path, monkeypatch):
    monkeypatch.setattr(http, "ROBOTS_MAX_AGE", 1)  # a second stands for RFC 9309's 24 hours

    def crawl(site):
        client = http.Client("portal", rate_per_second=100, cache=tmp_path / "cache.sqlite")
        list(portal.Crawler(client=client).crawl(site.base_url + "/rd/p.aspx?c=1"))
        return [path for path, _ in site.requests].count("/robots.txt")

    with PortalSite({"/rd/p.aspx?c=1": (PORTAL / "seed_rich.html").read_bytes()}) as site:
        assert crawl(site) == 1
        assert crawl(site) == 1  # the next run, within the max age, reads the cached copy
        time.sleep(1.2)
        site.robots = b"User-agent: *\nDisallow: /\n"
        assert crawl(site) == 2
        client = http.Client("portal", rate_per_second=100, cache=tmp_path / "cache.sqlite")
        assert portal.Crawler(client=client).forbidden(site.base_url + "/rd/p.aspx?c=1") == "robots.txt disallows it"


def test_an_error_page_sent_in_place_of_a_record_page_is_asked_for_again(tmp_path):
    maintenance = b"<html><head><title>Down for maintenance</title></head><body>Back soon</body></html>"
    with PortalSite({"/rd/p.aspx?c=1": (PORTAL / "seed_rich.html").read_bytes()}) as site:
        site.fail_next("/rd/p.aspx", body=maintenance, headers={"Content-Type": "text/html"})
        client = http.Client("portal", rate_per_second=100, cache=tmp_path / "cache.sqlite", max_retries=2)
        [(url, data, problem)] = portal.Crawler(client=client).crawl(site.base_url + "/rd/p.aspx?c=1")
        assert problem is None and portal.parse_page(data.decode(), url)[0]["title"].startswith("Safety")
        again = http.Client("portal", rate_per_second=100, cache=tmp_path / "cache.sqlite")
        assert again.get(url).content == data  # the error page did not stay in the cache


def test_a_page_that_loads_leaves_quarantine_where_its_error_page_was_kept(db):
    url = "https://portal.example/rd/p.aspx?c=1"
    with pytest.raises(LoadError):
        load_portal_page(db, b"<html><head><title>Down for maintenance</title></head><body>Back soon</body></html>", url)
    assert db["quarantine"].count == 1
    load_portal_page(db, (PORTAL / "seed_rich.html").read_bytes(), url)
    assert db["quarantine"].count == 0


def institutions(record):
    return [[a["name"] for a in author["affiliations"]] for author in record["authors"]]


def test_each_citation_author_institution_belongs_to_the_author_tag_before_it():
    record, _ = parse(PORTAL / "citation_tags_ijn_2023.html")
    assert [a["written_name"] for a in record["authors"]][:3] == ["Mu, Nai", "Li, Jie", "Zeng, Li"]
    assert [len(found) for found in institutions(record)] == [2, 1, 1, 1, 1, 1, 1, 2, 2]
    mu, li = institutions(record)[:2]
    assert mu[0].startswith("Department of Clinical Medicine, North Sichuan Medical College")
    assert mu[1].startswith("Geriatric Diseases Institute of Chengdu, Department of Orthopedics")
    assert li == ["Center for Medicine Research and Translation, Chengdu Fifth People's Hospital, Chengdu, "
                  "Sichuan Province, People's Republic of China."]
    assert [a["orcid"] for a in record["authors"]][:3] == ["0009-0000-2115-3864", None, "0009-0000-9267-1589"]
    assert (record["volume"], record["issue"], record["pages"], record["issn"], record["language"]) == (
        "18", None, "4987-5009", "1178-2013", "en")
    assert record["keywords"] == ["exosomes", "nanocarriers", "nanotherapeutics", "plants", "vesicles"]
    assert record["layers"]["authors"] == "meta" and record["layers"]["affiliations"] == "meta"


def test_the_pubmed_web_page_gives_its_five_authors_and_numbered_affiliations_never_its_keywords():
    from test_conformance_real import real_data

    page = real_data() / "portal_html" / "citer__pubmed_webpage_32687126.html"
    record, _ = portal.parse_page(page.read_text(), page.resolve().as_uri())
    assert [a["last_name"] for a in record["authors"]] == ["Ojewola", "Tijani", "Fatuga", "Onyeze", "Okeke"]
    both, second = institutions(record)[0][0], institutions(record)[2][0]
    assert both.startswith("Department of Surgery, Urology Unit, College of Medicine, University of Lagos;")
    assert second == "Department of Surgery, Urology Unit, Lagos University Teaching Hospital, Idi-Araba, Surulere, Lagos, Nigeria."
    assert institutions(record) == [[both], [both], [second], [second], [second]]
    assert record["layers"]["authors"] == "meta+layout"
    assert (record["pmid"], record["volume"], record["issue"], record["pages"]) == ("32687126", "27", "3", "242-247")
    assert record["abstract"].startswith("Giant prostatic enlargement often referred to as giant prostatic hyperplasia")
    assert "Save citation" not in record["abstract"] and "Keywords" not in record["abstract"]
    assert record["keywords"] == ["Benign prostatic hyperplasia", "giant prostatic enlargement",
                                  "giant prostatic hyperplasia", "prostatectomy"]


def test_labels_keywords_and_interface_text_never_become_authors():
    page = ("<html><body><h1>Management of a giant prostatic enlargement: Case report and review of the literature</h1>"
            "<select><option>Abstract</option></select>"
            "<p><strong>Keywords:</strong> Benign prostatic hyperplasia; giant prostatic enlargement; prostatectomy.</p>"
            "<p>Save citation to file; Email citation; Add to Collections</p></body></html>")
    with pytest.raises(ParseError, match="record page without authors"):
        portal.parse_page(page, "https://p/x")


def test_plural_citation_authors_tag_gives_one_author_per_name():
    page = ('<html><head><meta name="citation_title" content="Intra-arterial Infusion of Autologous Bone Marrow Mononuclear Stem Cells in Subacute Ischemic Stroke Patients">'
            '<meta name="citation_authors" content="Ghali AA;Yousef MK;Ragab OA;ElZamarany EA;"></head></html>')
    record, _ = portal.parse_page(page, "https://p/x")
    assert [(a["last_name"], a["initials"]) for a in record["authors"]] == [
        ("Ghali", "AA"), ("Yousef", "MK"), ("Ragab", "OA"), ("ElZamarany", "EA")]


def test_json_ld_authors_keep_their_affiliations_in_order():
    record, _ = parse(PORTAL / "jsonld_jci_2022.html")
    assert len(record["authors"]) == 13 and record["layers"]["authors"] == "jsonld"
    assert [a["last_name"] for a in record["authors"]][4:6] == ["de Araujo", "Hoki"]
    assert institutions(record)[7] == ["Deparment of Radiology and Imaging Sciences, and.",
                                       "Department of Neurosurgery, University of Utah, Salt Lake City, Utah, USA."]
    assert institutions(record)[8] == ["Department of Surgery, University of Pittsburgh, Pittsburgh, Pennsylvania, USA."]
    assert (record["doi"], record["journal"], record["volume"], record["issue"], record["pages"], record["year"]) == (
        "10.1172/jci154225", "The Journal of Clinical Investigation", "132", "10", "e154225", 2022)
    assert record["keywords"] == ["Hematology", "Neutrophils", "Platelets", "Stroke"]


def test_a_dspace_full_item_record_without_head_gives_its_authors_and_affiliations():
    record, _ = parse(PORTAL / "dspace_full_record_no_head.html")
    assert [a["written_name"] for a in record["authors"]] == [
        "Permana, Andhika Tomy", "Bajamal, Abdul Hafid", "Parenrengi, Muhammad Arifin", "Suroto, Nur Setiawan",
        "Lestari, Pudji", "Fauzi, Asra Al"]  # &#x20; spaces read as spaces
    assert institutions(record)[4] == ["Department of Public Health, Faculty of Medicine, Universitas Airlangga/"
                                       "Dr. Soetomo General Academic Hospital, Surabaya, East Java, Indonesia."]
    assert all(len(found) == 1 for found in institutions(record))
    assert (record["title"], record["pmid"], record["doi"], record["volume"], record["pages"], record["language"]) == (
        "Clinical outcome and safety of stem cell therapy for ischemic stroke: A systematic review and meta-analysis",
        "35673677", "10.25259/sni_1174_2021", "13", "206", "en")
    assert record["pub_date"] == "2022-05-20" and record["layers"]["authors"] == "dspace"
    dated = (PORTAL / "dspace_full_record_no_head.html").read_text().replace(
        "<tr", '<tr class="ds-table-row"><td class="label-cell">dc.creator</td><td>2022-05</td><td></td></tr><tr', 1)
    assert len(portal.parse_page(dated, "https://p/x")[0]["authors"]) == 6  # a date in dc.creator is no author


def test_embedded_json_state_gives_authors_with_their_lettered_affiliations():
    record, _ = parse(PORTAL / "embedded_state_front_neurol_2016.html")
    assert [(a["last_name"], a["fore_name"]) for a in record["authors"]] == [
        ("Ghali", "Azza Abass"), ("Yousef", "Mohamed Khalil"), ("Ragab", "Osama AbdAllah"), ("ElZamarany", "Enas Arafa")]
    assert institutions(record) == [["Neuropsychiatry, Tanta University, Tanta, Egypt"]] * 3 + [
        ["Clinical Pathology, Tanta University, Tanta, Egypt"]]
    assert (record["doi"], record["journal"], record["volume"], record["pages"], record["year"]) == (
        "10.3389/fneur.2016.00228", "Frontiers in Neurology", "7", "228", 2016)
    assert record["layers"]["authors"] == "state"


def test_lettered_and_split_superscripts_point_at_their_affiliations():
    page = ("<html><body><h1>Intra-arterial Infusion of Autologous Bone Marrow Mononuclear Stem Cells</h1>"
            "<p>Azza Abass Ghali<sup>a,</sup><sup>b</sup>, Enas Arafa ElZamarany<sup>b</sup></p>"
            "<h4>Affiliations</h4><ul><li><sup>a</sup>Neuropsychiatry, Tanta University, Tanta, Egypt</li>"
            "<li><sup>b</sup>Clinical Pathology, Tanta University, Tanta, Egypt</li></ul></body></html>")
    record, _ = portal.parse_page(page, "https://p/x")
    assert institutions(record) == [["Neuropsychiatry, Tanta University, Tanta, Egypt",
                                     "Clinical Pathology, Tanta University, Tanta, Egypt"],
                                    ["Clinical Pathology, Tanta University, Tanta, Egypt"]]
    assert portal.marks_of("3,") + portal.marks_of("4") == [3, 4] and portal.marks_of("a, c*") == ["a", "c"]


def test_a_structured_abstract_in_separate_blocks_keeps_every_section_and_its_copyright_apart():
    record, _ = parse(PORTAL / "seed_sections.html")
    lines = record["abstract"].split("\n")
    assert [line.split(":")[0] for line in lines] == ["Background", "Methods", "Results", "Conclusions"]
    assert lines[2].startswith("Results: Five mMCAI patients were included with mean NIHSS: 17.6 ± 5.02.")
    assert record["copyright"] == "© 2022 International Journal of Preventive Medicine | Published by Wolters Kluwer - Medknow."
    assert "©" not in record["abstract"]
    assert [len(found) for found in institutions(record)] == [len(numbers) for numbers in NUMBERS]


def works_by_title(db):
    return {title: count for title, count in db.execute(
        "select w.title, count(*) from records r join works w on w.id = r.work_id where r.source = 'portal' "
        "group by r.work_id order by w.id")}


def test_the_same_work_from_two_portal_pages_is_one_work_and_its_related_documents_are_not_doubled(db):
    load_portal_page(db, SEED_PAGE.read_bytes(), SEED_PAGE.as_uri())
    load_portal_page(db, (PORTAL / "seed_sections.html").read_bytes(), "https://portal.example/rd/record.php?id=256")
    load_portal_page(db, (PORTAL / "seed_rich.html").read_bytes(), "https://portal.example/rd/p.aspx?c=1")
    # Three pages of the seed paper (two hosts, three markups) and three listings of each related document.
    assert list(works_by_title(db).values()) == [3, 3, 3, 3] and db["works"].count == 4
    seed = next(db.query("select * from works where title like 'Safety of Intraparenchymal%'"))
    assert json.loads(seed["sources"]) == ["portal"]
    assert seed["doi"] == "10.4103/ijpvm.ijpvm_441_21"  # from the one page that gives it
    assert seed["copyright"].startswith("© 2022 International Journal of Preventive Medicine")
    assert db.execute("select count(*) from merges where work_id = ? and matched_by = 'title'",
                      [seed["id"]]).fetchone()[0] == 2
    targets = db.execute("select to_work_id, count(*) from links where asserted_by = 'portal' "
                         "group by to_work_id").fetchall()
    assert len(targets) == 3 and all(work_id and count == 3 for work_id, count in targets)
    # Split off the one page that gives the DOI: both works are rebuilt from the pages they keep.
    split = unmerge(db, seed["id"], "portal", "https://portal.example/rd/p.aspx?c=1")
    assert db["works"].get(seed["id"])["doi"] is None and db["works"].get(split)["doi"] == "10.4103/ijpvm.ijpvm_441_21"
    assert db["works"].get(seed["id"])["copyright"].startswith("© 2022 International Journal of Preventive Medicine")


def test_two_portal_pages_of_different_works_with_similar_titles_stay_apart(db):
    page = (PORTAL / "dspace_full_record_no_head.html").read_text()
    load_portal_page(db, page.encode(), "https://repository.example/handle/1/35673677?show=full")
    near = "\n".join(line for line in page.split("\n") if "dc.identifier" not in line)  # no DOI, no PMID
    near = near.replace("for&#x20;ischemic&#x20;stroke", "for&#x20;hemorrhagic&#x20;stroke").replace(
        "for ischemic stroke", "for hemorrhagic stroke")
    load_portal_page(db, near.encode(), "https://repository.example/handle/1/1?show=full")
    assert db["works"].count == 2 and db["merges"].count == 0


def test_institution_tags_listed_after_all_authors_belong_to_no_one():
    def page(institutions):
        return ('<html><head><meta name="citation_title" content="Intra-arterial Infusion of Autologous Bone Marrow Mononuclear Stem Cells in Subacute Ischemic Stroke Patients">'
                '<meta name="citation_author" content="Ghali, Azza Abass">'
                '<meta name="citation_author" content="ElZamarany, Enas Arafa">'
                + "".join(f'<meta name="citation_author_institution" content="{i}">' for i in institutions)
                + "</head><body></body></html>")

    neuro, pathology = "Neuropsychiatry, Tanta University, Tanta, Egypt", "Clinical Pathology, Tanta University, Tanta, Egypt"
    for listed in ([neuro, pathology], [pathology]):
        record, _ = portal.parse_page(page(listed), "https://p/x")
        assert institutions(record) == [[], []]  # no guess: a wrong institution is worse than none


def test_menus_and_one_word_links_never_become_layout_authors():
    page = ("<html><body><form id='form1'><nav><p>Journals; Authors; Reviewers</p></nav>"
            "<p>Home; Search; Researchers</p>"
            "<h1>Intra-arterial Infusion of Autologous Bone Marrow Mononuclear Stem Cells in Subacute Ischemic Stroke Patients</h1>"
            "<div class='authors'>Ghali AA ; Yousef MK ; Ragab OA ; ElZamarany EA</div></form></body></html>")
    record, _ = portal.parse_page(page, "https://p/x")
    assert [a["written_name"] for a in record["authors"]] == ["Ghali AA", "Yousef MK", "Ragab OA", "ElZamarany EA"]


def test_the_abstract_is_the_block_beside_its_label_and_never_a_row_of_links():
    head = ('<html><head><meta name="citation_title" content="Safety of Intraparenchymal Injection of Allogenic '
            'Placenta Mesenchymal Stem Cells Derived Exosome">'
            '<meta name="citation_author" content="Dehghani L"><meta name="citation_doi" content="ijpvm_441_21">'
            '<meta name="dc.identifier" content="https://doi.org/10.4103/ijpvm.ijpvm_441_21"></head><body>')
    background = "Malignant middle cerebral artery infarct (mMCAI) largely contributes to high mortality."
    record, _ = portal.parse_page(head + f"<div><h5>Abstract</h5><span>{background}</span></div>"
                                  "<div><a href='/pdf'>PDF</a> <a href='#'>Cite</a></div></body></html>", "https://p/x")
    assert record["abstract"] == background
    assert record["doi"] == "10.4103/ijpvm.ijpvm_441_21"  # a citation_doi that is no DOI gives way
    record, _ = portal.parse_page(head + "<div><h5>Abstract</h5></div><div><a href='/pdf'>PDF</a> "
                                  "<a href='#'>Cite</a> <a href='#'>Search</a></div></body></html>", "https://p/x")
    assert record["abstract"] is None
