"""Stricter classification and study links (issue 18, part 4): trial records in the
ClinicalTrials.gov API v2 shape and a PubMed efetch record, loaded and classified as live
data are."""

import gzip
import json
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest

from kb import classify, evidence
from kb.ingest import load_ctgov_file, load_pubmed_file
from kb.linking import link_studies

VOCABULARY = classify.Vocabulary()


def study(nct_id, title, conditions=(), mesh=(), keywords=(), phases=("PHASE2",), allocation="RANDOMIZED",
          model="PARALLEL", interventions=(), arms=(), outcomes=(), summary=None, sponsor="Sponsor",
          sites=(), enrollment=40, start="2019-03-01"):
    """One study as API v2 /studies returns it (the modules classification reads)."""
    record = {"protocolSection": {
        "identificationModule": {"nctId": nct_id, "briefTitle": title},
        "statusModule": {"overallStatus": "COMPLETED", "startDateStruct": {"date": start}},
        "sponsorCollaboratorsModule": {"leadSponsor": {"name": sponsor, "class": "OTHER"}},
        "conditionsModule": {"conditions": list(conditions), "keywords": list(keywords)},
        "designModule": {"studyType": "INTERVENTIONAL", "phases": list(phases),
                         "designInfo": {"allocation": allocation, "interventionModel": model},
                         "enrollmentInfo": {"count": enrollment, "type": "ACTUAL"}},
        "armsInterventionsModule": {"armGroups": [dict(arm) for arm in arms],
                                    "interventions": [dict(i) for i in interventions]},
        "outcomesModule": {"primaryOutcomes": [{"measure": m, "timeFrame": "90 days"} for m in outcomes]},
        "contactsLocationsModule": {"locations": [dict(site) for site in sites]},
    }, "hasResults": False}
    if summary:
        record["protocolSection"]["descriptionModule"] = {"briefSummary": summary}
    if mesh:
        record["derivedSection"] = {"conditionBrowseModule": {"meshes": [{"id": f"D{i:06}", "term": term}
                                                                          for i, term in enumerate(mesh, 1)]}}
    return record


def classified(db, tmp_path, *studies):
    path = tmp_path / "studies.json"
    path.write_text(json.dumps({"studies": list(studies)}))
    load_ctgov_file(db, path)
    evidence.classify(db)
    return db


def tags_of(db, nct_id):
    found = {}
    for tag, value in db.execute("select tag, value from tags join trials t on t.id = tags.subject_id "
                                 "where subject = 'trial' and t.nct_id = ?", [nct_id]):
        found.setdefault(tag, set()).add(value)
    return found


def test_a_stroke_scale_or_stroke_volume_among_the_outcomes_makes_no_stroke_trial(db, tmp_path):
    classified(db, tmp_path, study(
        "NCT09000001", "Umbilical Cord Mesenchymal Stem Cells for Neonatal Hypoxic-Ischemic Encephalopathy",
        conditions=["Hypoxic-Ischemic Encephalopathy"], mesh=["Hypoxia-Ischemia, Brain"],
        interventions=[{"type": "BIOLOGICAL", "name": "hUC-MSCs"}],
        outcomes=["NIH Stroke Scale (NIHSS) adapted for neonates", "Death or disability at 18 months"]), study(
        "NCT09000002", "Bone Marrow Cells in Chronic Heart Failure", conditions=["Heart Failure"],
        interventions=[{"type": "BIOLOGICAL", "name": "Autologous BM-MNC", "description": "intracoronary infusion"}],
        outcomes=["Change in left ventricular stroke volume", "Left ventricular ejection fraction"]))
    neonatal, heart = tags_of(db, "NCT09000001"), tags_of(db, "NCT09000002")
    assert "stroke" not in neonatal["topic"] and "relevance" not in neonatal and "stroke_type" not in neonatal
    assert "NIHSS" in neonatal["outcome"]  # still an outcome it measures
    assert "stroke" not in heart["topic"] and "relevance" not in heart
    assert heart["intervention"] == {"bone-marrow mononuclear cells"}


@pytest.mark.parametrize("name,intervention,source", [
    ("hUMSCs", "MSC", "umbilical cord"),
    ("rBMSCs", "MSC", "bone marrow"),
    ("hUC-MSC", "MSC", "umbilical cord"),
    ("ADSCs", "MSC", "adipose"),
    ("Adipose Derived Stem Cells", "MSC", "adipose"),
    ("hAMSC-Exo", "MSC-derived exosome/EV", "placenta"),
    ("BMSC-EVs", "MSC-derived exosome/EV", "bone marrow"),
    ("hNSC-EV", "exosome/EV (other source)", None),
    ("hUCB-MNCs", "cord blood cells", "cord blood"),
])
def test_a_cell_abbreviation_is_recognised_by_its_shape(name, intervention, source):
    tags = classify.trial_tags(VOCABULARY, {
        "brief_title": "Cells After Stroke", "official_title": None, "phases": [], "conditions": ["Stroke"],
        "allocation": None, "intervention_model": None, "study_type": "INTERVENTIONAL", "enrollment": None,
        "brief_summary": None, "interventions": [f"Biological: {name}"], "outcomes": []})
    assert {t.value for t in tags if t.tag == "intervention"} == {intervention}
    assert {t.value for t in tags if t.tag == "cell_source"} >= ({source} if source else set())
    assert any(t.tag == "relevance" for t in tags)


def test_a_product_named_by_code_or_brand_is_read_from_its_description_other_names_and_arms(db, tmp_path):
    classified(db, tmp_path, study(
        "NCT09000003", "CB-101 in Patients With Intracerebral Haemorrhage", conditions=["Intracerebral Hemorrhage"],
        interventions=[{"type": "BIOLOGICAL", "name": "CB-101", "otherNames": ["alginate-encapsulated cells"],
                        "armGroupLabels": ["CB-101"]}],
        arms=[{"label": "CB-101", "type": "EXPERIMENTAL",
               "description": "Encapsulated allogeneic bone marrow mesenchymal stromal cells implanted into the "
                              "haematoma cavity"}]), study(
        "NCT09000004", "XS-21 After Ischemic Stroke", conditions=["Ischemic Stroke"],
        interventions=[{"type": "BIOLOGICAL", "name": "XS-21",
                        "description": "small extracellular vesicles from human umbilical cord MSC"}]), study(
        "NCT09000005", "CelluStem for Acute Stroke", conditions=["Stroke, Acute"],
        interventions=[{"type": "BIOLOGICAL", "name": "CelluStem", "description": "single intravenous infusion"}]))
    encapsulated, vesicles, brand = (tags_of(db, n) for n in ("NCT09000003", "NCT09000004", "NCT09000005"))
    assert encapsulated["intervention"] == {"MSC"} and encapsulated["cell_source"] == {"bone marrow"}
    assert encapsulated["origin"] == {"allogeneic"} and encapsulated["relevance"] == {"on topic"}
    assert vesicles["intervention"] == {"MSC-derived exosome/EV"} and vesicles["cell_source"] == {"umbilical cord"}
    assert brand["intervention"] == {"stem cells (type not stated)"} and brand["relevance"] == {"on topic"}


def test_the_stroke_subtype_comes_from_conditions_and_their_mesh(db, tmp_path):
    classified(db, tmp_path,
               study("NCT09000006", "MSC in Stroke", conditions=["Stroke, Ischemic"], interventions=[
                   {"type": "BIOLOGICAL", "name": "MSC"}]),
               study("NCT09000007", "MSC After Stroke", conditions=["Stroke"], mesh=["Cerebral Infarction"],
                     interventions=[{"type": "BIOLOGICAL", "name": "MSC"}]),
               study("NCT09000008", "MSC for Spontaneous Bleeding", conditions=["Basal Ganglia Hematoma"],
                     interventions=[{"type": "BIOLOGICAL", "name": "MSC"}]),
               study("NCT09000009", "MSC for Bleeding", conditions=["Intracerebral Haemorrhage"],
                     mesh=["Cerebral Hemorrhage"], interventions=[{"type": "BIOLOGICAL", "name": "MSC"}]))
    assert tags_of(db, "NCT09000006")["stroke_type"] == {"ischaemic"}
    assert tags_of(db, "NCT09000007")["stroke_type"] == {"ischaemic"}
    assert tags_of(db, "NCT09000008")["stroke_type"] == {"haemorrhagic"}
    assert tags_of(db, "NCT09000008")["relevance"] == {"on topic"}
    assert tags_of(db, "NCT09000009")["stroke_type"] == {"haemorrhagic"}
    assert db["evidence"].get("NCT09000008")["stroke_type"] == '["haemorrhagic"]'


def test_early_phase_1_stays_its_own_phase_and_a_title_never_gives_a_trial_its_phase(db, tmp_path):
    classified(db, tmp_path,
               study("NCT09000010", "MSC-Exosomes in Stroke", conditions=["Ischemic Stroke"], phases=["EARLY_PHASE1"],
                     interventions=[{"type": "BIOLOGICAL", "name": "MSC-Exos"}]),
               study("NCT09000011", "Long-term Follow-up of Patients of the Phase 2 MSC Stroke Trial",
                     conditions=["Ischemic Stroke"], phases=["NA"], allocation="NA", model="SINGLE_GROUP",
                     interventions=[{"type": "OTHER", "name": "Follow-up visit"}]))
    assert tags_of(db, "NCT09000010")["phase"] == {"early 1"}
    assert db["evidence"].get("NCT09000010")["phase"] == "early 1"
    assert "phase" not in tags_of(db, "NCT09000011")
    earlier = classify.work_tags(VOCABULARY, {
        "title": "Five-year outcomes after our previous phase 2 trial of MSCs in stroke", "abstract": "",
        "keywords": [], "pub_types": ["Journal Article"], "mesh": []})
    assert not [t for t in earlier if t.tag == "phase"]
    early = classify.text_tags(VOCABULARY, {"title": "An early phase 1 trial of MSC-exosomes in stroke"})
    assert {t.value for t in classify.drop_redundant(VOCABULARY, early) if t.tag == "phase"} == {"early 1"}


def test_a_randomised_trial_is_not_also_single_arm(db, tmp_path):
    classified(db, tmp_path, study("NCT09000012", "MSC in Stroke", conditions=["Stroke"], model="SINGLE_GROUP",
                                   interventions=[{"type": "BIOLOGICAL", "name": "MSC"}]))
    assert tags_of(db, "NCT09000012")["design"] == {"randomised controlled trial"}
    assert db["evidence"].get("NCT09000012")["design"] == '["randomised controlled trial"]'


def test_an_outcome_needs_a_measure_or_a_sentence_that_measures_it(db, tmp_path):
    background = "Stroke contributes to high mortality and lasting disability. This trial gives MSC intravenously."
    classified(db, tmp_path,
               study("NCT09000013", "MSC in Stroke", conditions=["Stroke"], summary=background,
                     interventions=[{"type": "BIOLOGICAL", "name": "MSC"}], outcomes=["Modified Rankin Scale"]),
               study("NCT09000014", "MSC in Stroke", conditions=["Stroke"], summary=background,
                     interventions=[{"type": "BIOLOGICAL", "name": "MSC"}], outcomes=["All-cause mortality"]))
    assert tags_of(db, "NCT09000013")["outcome"] == {"mRS"}
    assert tags_of(db, "NCT09000014")["outcome"] == {"mortality"}
    reported = classify.work_tags(VOCABULARY, {
        "title": "MSC in stroke", "keywords": [], "pub_types": [], "mesh": [],
        "abstract": "Stroke contributes to high mortality. Mortality at 90 days was 10% in treated patients."})
    assert {t.span for t in reported if t.tag == "outcome" and t.value == "mortality"} == {"Mortality"}
    structured = classify.work_tags(VOCABULARY, {
        "title": "MSC in stroke", "keywords": [], "pub_types": [], "mesh": [],
        "abstract": "BACKGROUND: Stroke mortality increased by 20% in 10 years. RESULTS: The mRS improved."})
    assert {t.value for t in structured if t.tag == "outcome"} == {"mRS"}


CASE_REPORT = """<?xml version="1.0" ?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="PubMed-not-MEDLINE" Owner="NLM"><PMID Version="1">99000001</PMID><Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><Volume>3</Volume><PubDate><Year>2021</Year><Month>May</Month></PubDate></JournalIssue><Title>Case reports journal</Title></Journal><ArticleTitle>Umbilical cord mesenchymal stem cells for chronic ischemic stroke: a case report.</ArticleTitle><Abstract><AbstractText>A 58-year-old man with chronic ischemic stroke received umbilical cord mesenchymal stem cells intravenously.</AbstractText></Abstract><AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Kim</LastName><ForeName>Minji</ForeName><Initials>M</Initials><AffiliationInfo><Affiliation>Stem Cell Institute, Seoul, Korea.</Affiliation></AffiliationInfo></Author><Author ValidYN="Y"><LastName>Park</LastName><ForeName>Joon</ForeName><Initials>J</Initials><AffiliationInfo><Affiliation>Department of Neurology, University Hospital, Seoul, Korea.</Affiliation></AffiliationInfo></Author></AuthorList><Language>eng</Language><PublicationTypeList><PublicationType UI="D002363">Case Reports</PublicationType></PublicationTypeList></Article><MedlineJournalInfo><MedlineTA>Case Rep J</MedlineTA></MedlineJournalInfo></MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList><ArticleId IdType="pubmed">99000001</ArticleId></ArticleIdList></PubmedData></PubmedArticle>
</PubmedArticleSet>
"""


def panama_trial(nct_id, title):
    return study(nct_id, title, conditions=["Ischemic Stroke"], phases=["PHASE1", "PHASE2"], allocation="NA",
                 model="SINGLE_GROUP", sponsor="Stem Cell Institute", start="2020-01-15",
                 interventions=[{"type": "BIOLOGICAL", "name": "Umbilical cord mesenchymal stem cells"}],
                 sites=[{"facility": "Stem Cell Institute", "city": "Panama City", "country": "Panama"},
                        {"facility": "University Hospital", "city": "Panama City", "country": "Panama"}])


def test_a_generic_institution_name_in_another_country_links_no_study(db, tmp_path):
    (tmp_path / "case.xml").write_text(CASE_REPORT)
    load_pubmed_file(db, tmp_path / "case.xml")
    path = tmp_path / "panama.json"
    path.write_text(json.dumps({"studies": [
        panama_trial("NCT09000015", "Umbilical Cord Mesenchymal Stem Cells in Chronic Ischemic Stroke"),
        panama_trial("NCT09000016", "Umbilical Cord Mesenchymal Stem Cells for Ischemic Stroke Survivors")]}))
    load_ctgov_file(db, path)
    link_studies(db)
    assert db.execute("select count(*) from links where relation = 'probably_same_study'").fetchone()[0] == 0
    evidence.classify(db)
    row = db["evidence"].get("PMID:99000001")
    assert row["kind"] == "work" and row["nct_id"] is None and row["possibly_same_as"] is None
    reasons = [r for (r,) in db.execute("select reasons from related_trials r join works w on w.id = r.work_id "
                                        "where w.pmid = '99000001'")]
    assert len(reasons) == 2 and not any("institution" in r for r in reasons)  # related by topic, not by place


def texts_of(path):
    """Every title, abstract part, keyword and MeSH heading of a PubMed XML file (read with
    ElementTree), or every string of a JSON file (trial records)."""
    if path.suffix == ".json":
        def strings(value):
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                for item in value.values():
                    yield from strings(item)
            elif isinstance(value, list):
                for item in value:
                    yield from strings(item)
        return list(strings(json.loads(path.read_text())))
    opened = gzip.open(path) if path.suffix == ".gz" else open(path, "rb")
    with opened as handle:
        root = ElementTree.parse(handle).getroot()
    return ["".join(element.itertext()) for tag in ("ArticleTitle", "AbstractText", "Keyword", "DescriptorName")
            for element in root.iter(tag)]


def corpus_files():
    """The demo corpus, and the real PubMed files when REGENKB_REAL_DATA is set."""
    files = sorted((Path(classify.__file__).parent / "demo_corpus").glob("*.xml"))
    files.append(Path(classify.__file__).parent / "demo_corpus" / "ctgov_trials.json")
    if os.environ.get("REGENKB_REAL_DATA"):
        from test_conformance_real import real_data
        files += [path for path in sorted((real_data() / "pubmed").iterdir())
                  if path.name.endswith((".xml", ".xml.gz")) and "esearch" not in path.name]
    return files


def test_a_rule_is_skipped_only_on_text_it_cannot_match():
    """A rule none of whose needles is in a text is not run on it (the refresh's tagging
    speed): on the demo corpus and the real PubMed files, each skipped rule finds nothing."""
    files = corpus_files()
    vocabulary = classify.Vocabulary()
    skipped = matched = 0
    for path in files:
        for text in map(classify.plain, texts_of(path)):
            if not text.isascii():
                continue
            lowered = text.lower()
            for rule in vocabulary.rules:
                if rule.may_match(lowered):
                    matched += bool(rule.pattern.search(text))
                else:
                    skipped += 1
                    assert rule.pattern.search(text) is None, (path.name, rule.name, text[:80])
    assert skipped > 10 * matched > 0


@pytest.mark.parametrize("pattern, needles", [
    # The parser takes a common lead out of the branches ("r", "m"); a branch's longest run counts.
    (r"\brandomi[sz]ed[- ]controlled\b|\brcts?\b", {"controlled", "ct"}),
    (r"\bmice\b|\bmouse\b|\bmurine\b", {"ice", "ouse", "urine"}),
    (r"\b(umbilical )?cord blood\b", {"cord blood"}),
    (r"\b(?!brain)[a-z]{3,}stem\b", {"stem"}),
    (r"\b[a-z]+\b", None),
])
def test_a_rules_needles_are_strings_every_match_contains(pattern, needles):
    from re import _parser

    assert classify.needles_of(_parser.parse(pattern)) == needles


def test_one_scan_for_start_keys_finds_every_match_that_each_rule_scanning_alone_finds():
    """Tagging scans a text once for every rule's start keys and tries a rule only where one
    of its keys is (the refresh's tagging speed): on the demo corpus and the real PubMed
    files, each rule's matches, and so the tags, are exactly those of its own finditer."""
    vocabulary = classify.Vocabulary()
    assert sum(rule.starts is not None for rule in vocabulary.rules) > 0.9 * len(vocabulary.rules)
    tried = matches = tags = 0
    for path in corpus_files():
        texts = list(map(classify.plain, texts_of(path)))
        for text in texts:
            scanned = {rule.name: [match.span() for match in found] for rule, found in vocabulary.matching(text)}
            for rule in vocabulary.rules:
                alone = [match.span() for match in rule.pattern.finditer(text)]
                assert scanned.get(rule.name, []) == alone, (path.name, rule.name, text[:80])
                matches += len(alone)
            tried += len(scanned)
        tags += len(classify.text_tags(vocabulary, {"title": " ".join(texts[:5]), "abstract": " ".join(texts)}))
    assert matches > 1000 and tags > 100 and tried < len(vocabulary.rules) * sum(map(len, map(texts_of, corpus_files())))


@pytest.mark.parametrize("pattern, starts", [
    (r"\brats?\b|stem cell", {("rat", True), ("stem c", False)}),
    (r"\b[hr]?mscs?\b", {("hmsc", True), ("rmsc", True), ("msc", True)}),
    (r"\bmesenchymal (stem|stromal)", {("mesenchymal"[:classify.KEY_LENGTH], True)}),  # KEY_LENGTH at most
    (r"(?<!non-)\b(?!brain)rcts?", {("rct", True)}),  # assertions consume nothing
    (r"\bab\w+cd", {("ab", True)}),  # nothing after a character class that is not spelled out
    (r"\b(ab)+cd", {("ab", True)}),  # nor after a repeat: another one may follow
    (r"(x )?\byz", {("x yz", False), ("yz", True)}),  # a word start only where nothing came before
    (r"\b[a-z]{3,}stem\b", None),  # a key of one letter: the rule runs over the whole text
])
def test_a_rules_start_keys_begin_every_match(pattern, starts):
    from re import _parser

    assert classify.starts_of(_parser.parse(pattern)) == starts
