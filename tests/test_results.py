"""Posted results: the three formats that carry them parse to the same rows, one per posted value."""

import json

import pytest

from harvest import ctgov, ctgov_results
from kb import doctor
from kb.ingest import load_ctgov_file

from conftest import FIXTURES

RESULTS = FIXTURES / "ctgov_results"
FORMATS = {"v2": ["v2_results_page.json"], "v1": ["v1classic_results.json"],
           "xml": ["legacy_NCT03004976.xml", "legacy_NCT03384433.xml"]}
COBIS, EXOSOME = "NCT03004976", "NCT03384433"


def results_of(fmt):
    """{nct_id: results} of one format's fixture files."""
    found = {}
    for name in FORMATS[fmt]:
        items, _ = ctgov.parse_payload((RESULTS / name).read_bytes(), name)
        found.update({item["nct_id"]: item["results"] for item in items})
    return found


def by_titles(results):
    """The results with each group code replaced by its group's title: codes differ by format
    (FG000 in v2 and the classic API, P1 in the legacy XML), titles do not."""
    title = {(g["module"], g["outcome"], g["code"]): g["title"] for g in results["groups"]}
    r = json.loads(json.dumps(results))
    for g in r["groups"]:
        g["code"] = None
    for key, module in (("flow", "flow"), ("baseline", "baseline"), ("events", "events")):
        for row in r[key]:
            row["group_code"] = title[(module, None, row["group_code"])]
    for row in r["outcome_values"]:
        row["group_code"] = title[("outcome", row["outcome"], row["group_code"])]
    for row in r["analyses"]:
        row["group_codes"] = [title[("outcome", row["outcome"], code)] for code in row["group_codes"]]
    return r


@pytest.mark.parametrize("fmt", ["v1", "xml"])
def test_the_classic_api_and_the_legacy_xml_give_the_results_v2_gives(fmt):
    v2, other = results_of("v2"), results_of(fmt)
    assert set(other) == set(v2) == {COBIS, EXOSOME}
    for nct_id in v2:
        expected, found = by_titles(v2[nct_id]), by_titles(other[nct_id])
        for key in expected:
            assert found[key] == expected[key], f"{fmt} {nct_id} {key}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_gives_the_posted_flow_values_analyses_and_events(fmt):
    cobis, exosome = results_of(fmt)[COBIS], results_of(fmt)[EXOSOME]
    assert [(r["title"], r["count"]) for r in cobis["flow"]] == [
        ("STARTED", 52), ("STARTED", 27), ("COMPLETED", 39), ("COMPLETED", 21), ("NOT COMPLETED", 13),
        ("NOT COMPLETED", 6)]
    assert [o["type"] for o in cobis["outcomes"]] == ["PRIMARY", "SECONDARY"]
    assert cobis["outcomes"][0]["time_frame"] == "baseline to 3 months post infusion"
    assert (cobis["outcomes"][0]["param_type"], cobis["outcomes"][0]["dispersion_type"]) == ("MEDIAN", "FULL_RANGE")
    assert [(v["value"], v["lower_limit"], v["upper_limit"]) for v in cobis["outcome_values"][:2]] == [
        ("1", "-2", "3"), ("1", "-1", "4")]
    p_value, odds = cobis["analyses"]
    assert (p_value["outcome"], p_value["p_value"], len(p_value["group_codes"])) == (1, "0.72", 2)
    assert (odds["outcome"], odds["param_type"], odds["param_value"], odds["ci_percent"], odds["ci_lower"],
            odds["ci_upper"], odds["method"]) == (2, "Odds Ratio (OR)", "0.9", "95", "0.4", "2.3",
                                                  "Proportional odds model")
    assert [(b["measure"], b["value"], b["spread"], b["dispersion_type"]) for b in exosome["baseline"]] == [
        ("Age, Continuous", "62", None, None),
        ("National Institutes of Health Stroke Scale (NIHSS)", "17.6", "5.02", "STANDARD_DEVIATION")]
    assert [(v["value"], v["spread"], v["analysed"]) for v in exosome["outcome_values"]] == [
        ("3.25", "0.95", 3), ("0", None, 5)]
    events_group = next(g for g in exosome["groups"] if g["module"] == "events")
    assert (events_group["serious_affected"], events_group["serious_at_risk"], events_group["deaths_affected"]) == (
        0, 5, None)
    assert [(e["kind"], e["term"], e["affected"], e["at_risk"]) for e in exosome["events"]] == [
        ("other", "Hematoma at the injection site", 0, 5), ("other", "Excessive edema at the injection site", 0, 5)]
    assert exosome["details"]["events_time_frame"] == "3 months"
    assert exosome["details"]["events_frequency_threshold"] == "0"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_value_posted_as_na_keeps_its_comment(fmt):
    values = [v for v in results_of(fmt)[COBIS]["outcome_values"] if v["outcome"] == 2]
    assert [v["value"] for v in values] == ["NA", "NA"]
    assert all(v["comment"].startswith("The per-group distribution of mRS at day 90 is not among") for v in values)


def test_results_are_stored_one_row_per_value_with_groups_mapped_to_the_arms_of_their_title(db):
    load_ctgov_file(db, RESULTS / "v2_results_page.json")
    cobis = db.execute("select id from trials where nct_id = ?", [COBIS]).fetchone()[0]
    assert db.execute("select title, group_code, count from trial_flow where trial_id = ? order by position",
                      [cobis]).fetchall()[:2] == [("STARTED", "FG000", 52), ("STARTED", "FG001", 27)]
    assert db.execute("select code, arm_label from trial_result_groups where trial_id = ? and module = 'flow'",
                      [cobis]).fetchall() == [("FG000", "Umbilical Cord Blood"), ("FG001", "Placebo")]
    # The exosome trial registered no arms: its groups map to none.
    assert db.execute("select count(*) from trial_result_groups g join trials t on t.id = g.trial_id "
                      "where nct_id = ? and arm_label is not null", [EXOSOME]).fetchone()[0] == 0
    analysis = db.execute("select group_codes, p_value from trial_outcome_analyses where trial_id = ? "
                          "order by position", [cobis]).fetchone()
    assert analysis == ('["OG000", "OG001"]', "0.72")
    assert db.execute("select comment from trial_outcome_values where trial_id = ? and value = 'NA'",
                      [cobis]).fetchone()[0].startswith("The per-group distribution")
    assert db["trial_adverse_events"].count == 2 and db["trial_results"].count == 2


def test_loading_results_again_or_in_another_format_rewrites_a_trials_rows(db):
    tables = [table for table in db.table_names() if table.startswith("trial_") and table not in (
        "trial_ids", "trial_conditions", "trial_arms", "trial_interventions", "trial_outcomes", "trial_sites",
        "trial_people", "trial_references")]
    load_ctgov_file(db, RESULTS / "v2_results_page.json")
    first = {table: db[table].count for table in tables}
    load_ctgov_file(db, RESULTS / "v2_results_page.json")
    assert {table: db[table].count for table in tables} == first
    assert load_ctgov_file(db, RESULTS / "legacy_NCT03004976.xml").updated == 1
    assert {table: db[table].count for table in tables} == first and first["trial_outcome_values"] == 6
    # The legacy XML's rows replaced v2's: its own group codes, none of the old ones left.
    assert db.execute("select distinct group_code from trial_flow f join trials t on t.id = f.trial_id "
                      "where nct_id = ? order by group_code", [COBIS]).fetchall() == [("P1",), ("P2",)]


def test_a_trial_that_posted_no_results_has_no_results_rows(db):
    load_ctgov_file(db, FIXTURES / "ctgov" / "v2_NCT03384433.json")
    assert db["trial_results"].count == db["trial_result_groups"].count == 0


def test_doctor_finds_results_rows_of_a_trial_that_is_gone(db):
    load_ctgov_file(db, RESULTS / "v2_results_page.json")
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("INSERT INTO trial_flow (trial_id, position, period, kind, title, group_code, count) "
               "VALUES (9999, 1, 'Overall Study', 'milestone', 'STARTED', 'FG000', 1)")
    findings = [f.problem for f in doctor.check(db)]
    assert any("trial_flow point at trials" in problem for problem in findings), findings


def test_dispersions_take_v2s_spelling_whatever_format_gave_them():
    assert [ctgov_results.dispersion(v) for v in (
        "95% Confidence Interval", "97.5% Confidence Interval", "Standard Deviation", "Inter-Quartile Range",
        "Standard Error of the Mean", "Geometric Coefficient of Variation", "FULL_RANGE", None)] == [
        "CONFIDENCE_95", "CONFIDENCE_975", "STANDARD_DEVIATION", "INTER_QUARTILE_RANGE", "STANDARD_ERROR_OF_MEAN",
        "GEOMETRIC_COEFFICIENT", "FULL_RANGE", None]
    assert [ctgov_results.sides(v) for v in ("2-Sided", "1-Sided", "TWO_SIDED")] == [
        "TWO_SIDED", "ONE_SIDED", "TWO_SIDED"]


def test_the_legacy_xml_agreement_sentences_read_as_yes_or_no():
    assert ctgov_results.stated("Principal Investigators are NOT employed by the organization sponsoring the "
                                "study.") is False
    assert ctgov_results.stated("Principal Investigators are employed by the organization sponsoring the study.")
    assert ctgov_results.stated(None) is None
