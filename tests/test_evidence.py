import json
import sqlite3
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from kb import bulk, classify, demo, evidence, serve
from kb.cli import cli
from kb.db import open_db
from kb.linking import FUSE_THRESHOLD

from conftest import get

VOCABULARY = classify.Vocabulary()


def work(title="", abstract="", pub_types=(), mesh=(), keywords=()):
    return {"title": title, "abstract": abstract, "pub_types": list(pub_types), "mesh": list(mesh),
            "keywords": list(keywords)}


def trial(**fields):
    record = {"brief_title": "", "official_title": None, "phases": [], "conditions": [], "allocation": None,
              "intervention_model": None, "study_type": "INTERVENTIONAL", "enrollment": None, "brief_summary": None,
              "interventions": [], "outcomes": []}
    record.update(fields)
    return record


def tagged(tags, tag):
    return {t.value for t in tags if t.tag == tag}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    db = open_db(str(tmp_path_factory.mktemp("evidence") / "regenkb.db"))
    demo.build(db)
    return db


def test_the_seed_paper_is_a_pilot_rct_of_placenta_msc_exosomes_injected_into_the_brain(demo_db):
    seed = demo_db.execute("select id from works where pmid = '35281985'").fetchone()[0]
    tags = {}
    for tag, value, span in demo_db.execute("select tag, value, span from tags where subject = 'work' "
                                            "and subject_id = ?", [seed]):
        tags.setdefault(tag, {})[value] = span
    assert {"randomised controlled trial", "pilot / feasibility"} <= tags["design"].keys()
    assert tags["n"] == {"5": "Five mMCAI patients"}
    assert tags["intervention"].keys() == {"MSC-derived exosome/EV"}
    assert tags["cell_source"].keys() == {"placenta"} and tags["origin"].keys() == {"allogeneic"}
    assert tags["route"] == {"intracerebral": "Intraparenchymal"}
    assert {"malignant MCA infarct", "ischaemic"} <= tags["stroke_type"].keys()
    assert {"NIHSS", "mRS"} <= tags["outcome"].keys()
    assert "mortality" not in tags["outcome"]  # "BACKGROUND: ... contributes to high mortality" is no outcome
    assert tags["safety"].keys() == {"no serious adverse events"}
    assert "relevance" in tags


def test_the_evidence_table_makes_the_seed_paper_and_its_trial_one_study(demo_db):
    row = demo_db["evidence"].get("NCT03384433")
    assert row["kind"] == "trial + work" and row["pmids"] == "35281985" and row["on_topic"] == 1
    assert (row["phase"], row["n"], row["cell_source"], row["origin"], row["route"], row["stroke_type"]) == (
        "1/2", 5, '["placenta"]', '["allogeneic"]', '["intracerebral"]', '["ischaemic"]')
    assert "MSC-derived exosome/EV" in json.loads(row["intervention"]) and "NIHSS" in json.loads(row["outcomes"])
    assert demo_db.execute("select count(*) from evidence where pmids like '%35281985%'").fetchone()[0] == 1
    # The paper says randomised, its registry a single group: one study has one design by precedence.
    assert "randomised controlled trial" in json.loads(row["design"]) and "single-arm" not in row["design"]


def test_negated_phrases_do_not_count():
    tags = classify.text_tags(VOCABULARY, {"abstract": "This was not a randomised controlled trial. Cells were "
                                                      "given without intravenous infusion, by intrathecal injection."})
    assert "randomised controlled trial" not in tagged(tags, "design")
    assert tagged(tags, "route") == {"intrathecal"}
    assert "randomised controlled trial" not in tagged(
        classify.text_tags(VOCABULARY, {"title": "A non-randomized controlled study of MSCs"}), "design")
    assert classify.safety_finding("No adverse events occurred during follow-up.")[0] == "no serious adverse events"
    assert classify.safety_finding("Two adverse events were reported: fever and headache.")[0] == \
        "adverse events reported"


@pytest.mark.parametrize("text,n", [
    ("Patients aged 62 years were followed for 3 months; twelve patients were enrolled.", 12),
    ("The mean mRS was 3.25 in three patients. Five patients were included.", 5),
    ("A dose of 1 x 10^6 cells/kg was infused at 30 days; NIHSS of 17 at baseline (n = 36).", 36),
    ("MSCs were given to 18 patients with chronic stroke and 2 of them had seizures.", 18),
    ("Rats (n=24) underwent MCAO.", 24),
])
def test_population_size_skips_ages_scores_doses_and_times(text, n):
    assert classify.population_size(text)[0] == n


def test_no_count_of_people_is_no_n():
    assert classify.population_size("Infarct volume fell by 30% at 7 days after 2 million cells.") is None


def test_structured_facts_beat_text():
    review = classify.work_tags(VOCABULARY, work(
        title="Mesenchymal stem cells for ischemic stroke: a systematic review",
        abstract="Twelve randomized controlled trials with 600 patients were included.",
        pub_types=["Journal Article", "Systematic Review"]))
    assert tagged(review, "design") == {"systematic review"}
    assert not tagged(review, "n")  # a review's patients are not its sample
    registered = classify.trial_tags(VOCABULARY, trial(
        brief_title="Phase 3 study of intravenous MSC in stroke", phases=["PHASE2"], allocation="RANDOMIZED",
        conditions=["Ischemic Stroke"], enrollment=60, interventions=["Biological: autologous MSC"]))
    assert tagged(registered, "phase") == {"2"} and tagged(registered, "n") == {"60"}
    assert tagged(registered, "design") == {"randomised controlled trial"}
    assert tagged(registered, "route") == {"intravenous"} and tagged(registered, "origin") == {"autologous"}
    assert tagged(registered, "relevance") == {"on topic"}


def test_cerebrovascular_disorders_make_a_stroke_trial_and_other_diseases_do_not():
    stroke = classify.trial_tags(VOCABULARY, trial(brief_title="Allogenic MSC derived exosome", conditions=[
        "Cerebrovascular Disorders"], interventions=["exosome"]))
    dry_eye = classify.trial_tags(VOCABULARY, trial(brief_title="UMSC derived exosomes on dry eye",
                                                    conditions=["Dry Eye"], interventions=["Umbilical MSC exosomes"]))
    assert tagged(stroke, "relevance") == {"on topic"} and tagged(stroke, "stroke_type") == {"ischaemic"}
    assert not tagged(dry_eye, "relevance") and tagged(dry_eye, "cell_source") == {"umbilical cord"}


def test_a_vocabulary_is_a_folder_of_tsv_files(tmp_path):
    (tmp_path / "route.tsv").write_text("value\tpattern\timplies\nintravitreal\t\\bintravitreal\\b\t\n")
    own = classify.Vocabulary(tmp_path)
    assert tagged(classify.text_tags(own, {"title": "Intravitreal MSC-exosomes"}), "route") == {"intravitreal"}
    (tmp_path / "design.tsv").write_text("value\tpattern\nbroken\t(unclosed\n")
    with pytest.raises(classify.VocabularyError, match=r"design.tsv:2: bad pattern"):
        classify.Vocabulary(tmp_path)


def test_kb_related_puts_the_seed_papers_own_trial_first_with_reasons(demo_db):
    path = demo_db.conn.execute("pragma database_list").fetchone()[2]
    result = CliRunner().invoke(cli, ["related", "35281985", "--db", path])
    first = result.output.splitlines()[:2]
    assert first[0].startswith("1. NCT03384433") and "same sponsor institution" in first[1]
    classified = CliRunner().invoke(cli, ["classify", "--db", path])
    assert "studies in `evidence`" in classified.output
    assert evidence.classify(demo_db)["on_topic"] >= 40


SENT = []  # the subjects sent to a RecordedPool


class RecordedPool(ProcessPoolExecutor):
    """A process pool that keeps the subjects sent to it."""

    def submit(self, function, vocab, subjects):
        SENT.append(subjects)
        return super().submit(function, vocab, subjects)


def test_works_and_trials_tagged_half_in_a_second_process_get_the_tags_one_process_gives(demo_db, monkeypatch):
    def written():
        return (demo_db.execute("SELECT rowid, * FROM tags").fetchall(),
                demo_db.execute("SELECT rowid, * FROM tagged").fetchall())

    evidence.classify(demo_db, everything=True)
    alone = written()
    monkeypatch.setattr(evidence, "SPLIT_FROM", 1)
    monkeypatch.setattr(bulk, "core_free", lambda: True)
    monkeypatch.setattr(evidence, "ProcessPoolExecutor", RecordedPool)
    evidence.classify(demo_db, everything=True)
    assert written() == alone
    elsewhere, = SENT
    subjects = demo_db["works"].count + demo_db["trials"].count
    assert len(elsewhere) == subjects - subjects // 2 and {kind for kind, _ in elsewhere} == {"work", "trial"}


def test_only_an_identifier_or_a_strong_same_study_link_fuses_a_paper_and_a_trial(demo_db):
    seed = demo_db["evidence"].get("NCT03384433")
    assert seed["kind"] == "trial + work" and seed["pmids"] == "35281985"  # titles, team and numbers agree
    # PISCES-2 (PMID 32041820) shares the PISCES team but is another trial than NCT01151124.
    pisces = demo_db["evidence"].get("NCT01151124")
    assert pisces["pmids"] == "27497862"  # the paper that names NCT01151124
    assert "possibly the same study as PMID:32041820" in pisces["possibly_same_as"]
    second = demo_db["evidence"].get("PMID:32041820")
    assert second["kind"] == "work" and second["possibly_same_as"].startswith("possibly the same study as NCT01151124")
    score = demo_db.execute("select l.score from links l join works w on w.id = l.from_work_id "
                            "where w.pmid = '32041820' and l.relation = 'probably_same_study'").fetchone()[0]
    assert score < FUSE_THRESHOLD


# The evidence table's list columns that datasette-metadata.json facets by their items.
ARRAY_FACETS = {"design", "intervention", "cell_source", "origin", "route", "stroke_type", "species", "animal_model",
                "outcomes", "safety"}


def test_each_evidence_facet_counts_a_value_once_per_study_never_a_combination(demo_site):
    db, datasette = demo_site
    facets = get(datasette, "/regenkb/evidence.json?_facet_size=max").json()["facet_results"]
    assert {name for name, facet in facets.items() if facet["type"] == "array"} == ARRAY_FACETS
    for column in ARRAY_FACETS:
        expected = Counter()
        for (value,) in db.execute(f"select {column} from evidence where {column} is not null"):
            expected.update(set(json.loads(value)))
        assert {r["value"]: r["count"] for r in facets[column]["results"]} == expected, column
        assert not any("; " in value or value.startswith("[") for value in expected), column
    design = {r["value"]: r["count"] for r in facets["design"]["results"]}
    # A randomised trial that is also open-label counts once under each.
    assert design["randomised controlled trial"] == db.execute(
        """select count(*) from evidence where design like '%"randomised controlled trial"%'""").fetchone()[0]
    assert db.execute("""select count(*) from evidence where design like '%"open-label"%' """
                      """and design like '%"randomised controlled trial"%'""").fetchone()[0] > 0
    chosen = get(datasette, "/regenkb/evidence.json?design__arraycontains=randomised+controlled+trial"
                            "&_size=max&_shape=objects").json()
    assert len(chosen["rows"]) == design["randomised controlled trial"]
    assert all("randomised controlled trial" in row["design"] for row in chosen["rows"])


def kb_of_an_older_regenkb(demo_site, tmp_path):
    """The demo KB as an older regenkb wrote its evidence: "open-label; randomised controlled trial";
    and the rows as this version writes them."""
    old = tmp_path / "old.db"
    demo_site[0].conn.execute("VACUUM INTO ?", [str(old)])
    columns = sorted(ARRAY_FACETS | {"stroke_detail"})
    wanted = demo_site[0].execute(f"select study_id, {', '.join(columns)} from evidence order by study_id").fetchall()
    with sqlite3.connect(old) as conn:
        conn.executemany(f"update evidence set {', '.join(f'{c} = ?' for c in columns)} where study_id = ?",
                         [["; ".join(json.loads(value)) if value else None for value in row[1:]] + [row[0]]
                          for row in wanted])
    return old, f"select study_id, {', '.join(columns)} from evidence order by study_id", wanted


def test_an_evidence_table_of_joined_text_becomes_arrays_when_the_kb_is_opened(demo_site, tmp_path):
    old, query, wanted = kb_of_an_older_regenkb(demo_site, tmp_path)
    # Datasette's list facet on such text is an SQL error ("malformed JSON"): opening the KB rewrites it.
    assert open_db(str(old)).execute(query).fetchall() == wanted
    assert get(serve.datasette_for(old), "/old/evidence.json").status_code == 200


def test_kb_serve_gives_an_older_kb_this_versions_schema_before_datasette_reads_it(demo_site, tmp_path, monkeypatch):
    old, query, wanted = kb_of_an_older_regenkb(demo_site, tmp_path)
    served = []
    monkeypatch.setattr(serve, "serve", lambda path, *args, **options: served.append(path))
    assert CliRunner().invoke(cli, ["serve", "--db", str(old)]).exit_code == 0 and served
    assert get(serve.datasette_for(old), "/old/evidence.json?_facet_array=design").status_code == 200
    assert sqlite3.connect(old).execute(query).fetchall() == wanted

def test_the_trial_page_gives_its_study_s_tags_as_lists_and_as_words(demo_site):
    db, datasette = demo_site
    row = db["evidence"].get("NCT03384433")
    shown = get(datasette, "/-/trial/NCT03384433.json").json()["evidence"]
    for column in ARRAY_FACETS:
        assert shown[column] == json.loads(row[column] or "[]"), column
    page = BeautifulSoup(get(datasette, "/-/trial/NCT03384433").text, "html.parser")
    paragraph = page.find("h3", string="In the evidence table").find_next("p").get_text()
    assert "; ".join(json.loads(row["design"])) in paragraph and "outcomes: " + "; ".join(
        json.loads(row["outcomes"])) in paragraph and "[" not in paragraph
