"""Pooled safety and outcomes (kb/synthesis.py) and the synthesis page.

The constructed trials below (TEST-*) are not real studies: their figures are chosen to check
the arithmetic against hand-computed values. The posted results of real trials come from our
results fixtures (tests/fixtures/ctgov_results/), loaded as a user would load them."""

import asyncio
import json
import math
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner
from scipy.stats import beta

from kb import serve, synthesis
from kb.cli import cli
from kb.db import open_db
from kb.ingest import load_ctgov_file, refresh

from conftest import get

RESULTS = Path(__file__).parent / "fixtures" / "ctgov_results"
XSS = '<script>alert("x")</script>mRS <img src=x onerror=alert(2)>'


def controlled_trial(db, trial_id, outcome_title="Modified Rankin Scale", time_frame="Day 90",
                     unit="score on a scale", treated=(2.0, 1.0, 20), control=(3.0, 1.2, 20),
                     dispersion="STANDARD_DEVIATION", param="MEAN", serious=((0, 20), (1, 20)),
                     intervention="MSC", route="intravenous", high_dose=None, second_outcome=None):
    """A constructed two-arm trial (cell therapy vs placebo) with one posted outcome, given as
    (mean, spread, N) per group, and serious adverse events as (affected, at risk) per group;
    optionally a high-dose arm's (mean, spread, N) and a second outcome's title."""
    nct = f"TEST-{trial_id}"
    db["trials"].insert({"id": trial_id, "nct_id": nct, "brief_title": f"Constructed trial {trial_id}",
                         "intervention_model": "PARALLEL", "has_results": 1})
    db["trial_arms"].insert_all([
        {"trial_id": trial_id, "position": 1, "label": "Cells", "type": "EXPERIMENTAL"},
        {"trial_id": trial_id, "position": 2, "label": "Placebo", "type": "PLACEBO_COMPARATOR"}])
    db["trial_results"].insert({"trial_id": trial_id})
    groups = [{"module": "outcome", "outcome": 1, "code": f"OG00{i}", "title": label, "arm_label": label}
              for i, label in enumerate(("Cells", "Placebo"))]
    groups += [{"module": "events", "outcome": None, "code": f"EG00{i}", "title": label, "arm_label": label,
                "serious_affected": affected, "serious_at_risk": at_risk}
               for i, (label, (affected, at_risk)) in enumerate(zip(("Cells", "Placebo"), serious))]
    db["trial_result_groups"].insert_all({"trial_id": trial_id, "position": i, **g} for i, g in enumerate(groups, 1))
    db["trial_result_outcomes"].insert({"trial_id": trial_id, "position": 1, "type": "PRIMARY",
                                        "title": outcome_title, "time_frame": time_frame, "unit": unit,
                                        "param_type": param, "dispersion_type": dispersion})
    db["trial_outcome_values"].insert_all(
        {"trial_id": trial_id, "position": i, "outcome": 1, "group_code": f"OG00{i - 1}", "value": str(mean),
         "spread": str(spread), "analysed": n} for i, (mean, spread, n) in enumerate((treated, control), 1))
    if high_dose:
        db["trial_arms"].insert({"trial_id": trial_id, "position": 3, "label": "Cells high dose",
                                 "type": "EXPERIMENTAL"})
        db["trial_result_groups"].insert({"trial_id": trial_id, "position": len(groups) + 1, "module": "outcome",
                                          "outcome": 1, "code": "OG002", "title": "Cells high dose",
                                          "arm_label": "Cells high dose"})
        db["trial_outcome_values"].insert({"trial_id": trial_id, "position": 3, "outcome": 1, "group_code": "OG002",
                                           "value": str(high_dose[0]), "spread": str(high_dose[1]),
                                           "analysed": high_dose[2]})
    if second_outcome:
        db["trial_result_outcomes"].insert({"trial_id": trial_id, "position": 2, "type": "SECONDARY",
                                            "title": second_outcome, "time_frame": time_frame, "unit": unit,
                                            "param_type": param, "dispersion_type": dispersion})
        db["trial_result_groups"].insert_all(
            {"trial_id": trial_id, "position": 10 + i, "module": "outcome", "outcome": 2, "code": f"OG00{i}",
             "title": label, "arm_label": label} for i, label in enumerate(("Cells", "Placebo")))
        db["trial_outcome_values"].insert_all(
            {"trial_id": trial_id, "position": 10 + i, "outcome": 2, "group_code": f"OG00{i - 1}", "value": str(mean),
             "spread": str(spread), "analysed": n} for i, (mean, spread, n) in enumerate((treated, control), 1))
    db["evidence"].insert({"study_id": nct, "kind": "trial", "nct_id": nct, "trial_id": trial_id, "on_topic": 1,
                           "design": "randomised controlled trial", "intervention": intervention, "route": route})


def rows(db, table):
    return list(db[table].rows)


def dersimonian_laird(effects, variances):
    """The textbook estimator, written out: (pooled, low, high, tau2, i2)."""
    w = [1 / v for v in variances]
    fixed = sum(wi * e for wi, e in zip(w, effects)) / sum(w)
    q = sum(wi * (e - fixed) ** 2 for wi, e in zip(w, effects))
    tau2 = max(0.0, (q - (len(effects) - 1)) / (sum(w) - sum(wi ** 2 for wi in w) / sum(w)))
    w_star = [1 / (v + tau2) for v in variances]
    pooled = sum(wi * e for wi, e in zip(w_star, effects)) / sum(w_star)
    se = math.sqrt(1 / sum(w_star))
    i2 = max(0.0, (q - (len(effects) - 1)) / q) if q else 0.0
    return pooled, pooled - 1.959964 * se, pooled + 1.959964 * se, tau2, i2


def test_exact_intervals_match_published_clopper_pearson_figures():
    assert synthesis.exact_interval(0, 10) == pytest.approx((0.0, 0.3085), abs=1e-4)
    assert synthesis.exact_interval(3, 20) == pytest.approx((0.0321, 0.3789), abs=1e-4)
    assert synthesis.exact_interval(10, 10) == pytest.approx((0.6915, 1.0), abs=1e-4)


def test_pooling_in_plain_math_gives_statsmodels_figures_to_within_1e_9():
    """The syntheses compute without statsmodels (its import, with pandas and scipy.stats, cost
    every refresh 2.5 s and 125 MB): their DerSimonian-Laird pooling, with and without tau²
    truncated, Hedges' g and Clopper-Pearson intervals are statsmodels' figures."""
    import random

    import numpy as np
    from statsmodels.stats.meta_analysis import combine_effects, effectsize_smd
    from statsmodels.stats.proportion import proportion_confint

    rng, truncated = random.Random(21), 0
    for case in range(200):
        effects = [rng.gauss(0, 2 if case % 2 else 0.05) for _ in range(rng.randint(2, 12))]
        variances = [rng.uniform(0.05, 3) for _ in effects]
        ours = synthesis.pool(effects, variances)
        with np.errstate(invalid="ignore", divide="ignore"):  # its random-effects figures at tau² < 0
            theirs = combine_effects(np.asarray(effects), np.asarray(variances), method_re="dl")
            fixed, random_effects = theirs.conf_int(use_t=False)[:2]
        if theirs.tau2 <= 0:
            truncated += 1
            expected = (theirs.mean_effect_fe, *fixed, 0.0, *theirs.weights_rel_fe)
        else:
            expected = (theirs.mean_effect_re, *random_effects, theirs.tau2, *theirs.weights_rel_re)
        assert (ours["pooled"], ours["ci_low"], ours["ci_high"], ours["tau2"], *ours["weights"]) == pytest.approx(
            expected, rel=0, abs=1e-9)
        assert ours["q"] == pytest.approx(theirs.q, rel=0, abs=1e-9)
        treated, control = (rng.gauss(0, 5), rng.uniform(0.5, 5), rng.randint(2, 200)), \
            (rng.gauss(0, 5), rng.uniform(0.5, 5), rng.randint(2, 200))
        assert synthesis.study_effect(treated, control, "SMD") == pytest.approx(
            effectsize_smd(*treated, *control), rel=0, abs=1e-9)
    assert 20 < truncated < 180
    for n in (1, 2, 3, 5, 10, 20, 37, 60):
        for events in range(n + 1):
            assert synthesis.exact_interval(events, n) == pytest.approx(
                proportion_confint(events, n, method="beta"), rel=0, abs=1e-9)


def test_time_frames_read_as_days():
    assert synthesis.time_frame_days("baseline to 3 months post infusion") == 91.2
    assert synthesis.time_frame_days("Day 90") == 90
    assert synthesis.time_frame_days("90 days and 1 year after transplantation") == 365.2
    assert synthesis.time_frame_days("6-month follow-up") == 182.4
    assert synthesis.time_frame_days("At discharge") is None


def test_a_trial_with_no_serious_events_counts_in_its_class_and_controls_do_not(db):
    controlled_trial(db, 1, serious=((0, 12), (2, 10)))
    controlled_trial(db, 2, serious=((3, 20), (1, 20)))
    controlled_trial(db, 3, serious=((1, 8), (0, 8)), route="intra-arterial")
    synthesis.synthesize(db)
    safety = {(r["intervention"], r["route"]): r for r in rows(db, "synthesis_safety")}
    intravenous = safety[("MSC", "intravenous")]
    assert (intravenous["studies"], intravenous["patients"], intravenous["events"]) == (2, 32, 3)
    assert intravenous["ci_low"] == pytest.approx(beta.ppf(0.025, 3, 30))
    assert intravenous["ci_high"] == pytest.approx(beta.ppf(0.975, 4, 29))
    assert [(s["study_id"], s["events"], s["patients"]) for s in json.loads(intravenous["study_list"])] == [
        ("TEST-1", 0, 12), ("TEST-2", 3, 20)]
    assert (safety[("MSC", "intra-arterial")]["patients"], safety[("MSC", "intra-arterial")]["events"]) == (8, 1)


def test_two_comparable_trials_pool_to_the_dersimonian_laird_result(db):
    controlled_trial(db, 1, treated=(2.0, 1.0, 20), control=(3.0, 1.2, 20))
    controlled_trial(db, 2, time_frame="3 months", treated=(2.5, 1.5, 30), control=(2.8, 1.4, 30))
    synthesis.synthesize(db)
    [meta] = rows(db, "synthesis_meta")
    effects = [2.0 - 3.0, 2.5 - 2.8]
    variances = [1.0 / 20 + 1.44 / 20, 2.25 / 30 + 1.96 / 30]
    pooled, low, high, tau2, i2 = dersimonian_laird(effects, variances)
    assert (meta["outcome"], meta["k"], meta["effect_measure"], meta["unit"]) == ("mRS", 2, "MD", "score on a scale")
    assert tau2 > 0  # the two differ: the random-effects weights are not the fixed ones
    assert (meta["pooled"], meta["ci_low"], meta["ci_high"], meta["tau2"], meta["i2"]) == pytest.approx(
        (pooled, low, high, tau2, i2), abs=1e-5)
    studies = rows(db, "synthesis_meta_studies")
    assert [s["study_id"] for s in studies] == ["TEST-1", "TEST-2"]
    assert [s["effect"] for s in studies] == pytest.approx(effects)
    assert [s["se"] for s in studies] == pytest.approx([math.sqrt(v) for v in variances])
    assert sum(s["weight"] for s in studies) == pytest.approx(1.0)


def test_a_standard_error_or_confidence_interval_becomes_a_standard_deviation(db):
    controlled_trial(db, 1, dispersion="STANDARD_ERROR", treated=(2.0, 0.5, 16), control=(3.0, 0.25, 16))
    controlled_trial(db, 2, treated=(2.5, 1.5, 30), control=(2.8, 1.4, 30))
    synthesis.synthesize(db)
    first = rows(db, "synthesis_meta_studies")[0]
    assert (first["treated_sd"], first["control_sd"]) == pytest.approx((2.0, 1.0))


def test_identical_studies_have_no_heterogeneity(db):
    controlled_trial(db, 1)
    controlled_trial(db, 2)
    synthesis.synthesize(db)
    [meta] = rows(db, "synthesis_meta")
    assert (meta["tau2"], meta["i2"], meta["pooled"]) == pytest.approx((0.0, 0.0, -1.0))


def test_dose_arms_are_combined_into_one_cell_therapy_group(db):
    assert synthesis.combined([(2.0, 1.0, 10), (4.0, 1.0, 10)]) == pytest.approx(
        (3.0, math.sqrt((9 * 1 + 9 * 1 + 100 / 20 * 4) / 19), 20))
    controlled_trial(db, 1, treated=(2.0, 1.0, 10), high_dose=(4.0, 1.0, 10), control=(3.0, 1.2, 20))
    controlled_trial(db, 2)
    synthesis.synthesize(db)
    first = rows(db, "synthesis_meta_studies")[0]
    assert first["groups"] == "Cells + Cells high dose vs Placebo"
    assert (first["treated_n"], first["treated_mean"]) == (20, 3.0)


def test_a_study_enters_an_analysis_once_with_its_first_posted_outcome(db):
    controlled_trial(db, 1, second_outcome="mRS (secondary)")
    controlled_trial(db, 2)
    synthesis.synthesize(db)
    [meta] = rows(db, "synthesis_meta")
    assert meta["k"] == 2 and [s["outcome_title"] for s in rows(db, "synthesis_meta_studies")] == [
        "Modified Rankin Scale", "Modified Rankin Scale"]
    [left] = rows(db, "synthesis_excluded")
    assert left["outcome"] == "mRS: mRS (secondary)" and "one outcome per study" in left["reason"]


def test_a_single_study_is_not_pooled_and_says_why(db):
    controlled_trial(db, 1)
    synthesis.synthesize(db)
    assert rows(db, "synthesis_meta") == [] and rows(db, "synthesis_meta_studies") == []
    [left] = rows(db, "synthesis_excluded")
    assert left["study_id"] == "TEST-1" and "one study is not pooled" in left["reason"]


def test_outcomes_at_distant_times_or_reported_another_way_are_not_pooled(db):
    controlled_trial(db, 1, time_frame="Day 90")
    controlled_trial(db, 2, time_frame="6 months")  # 182 days: more than 30% after day 90
    controlled_trial(db, 3, outcome_title="Change in modified Rankin Scale from baseline", time_frame="90 days")
    synthesis.synthesize(db)
    assert rows(db, "synthesis_meta") == []
    reasons = {row["study_id"]: row["reason"] for row in rows(db, "synthesis_excluded")}
    assert "near day 90" in reasons["TEST-1"] and "near day 182.4" in reasons["TEST-2"]
    assert "(change from baseline)" in reasons["TEST-3"]


def test_the_same_measure_in_different_units_pools_as_a_standardised_mean_difference(db):
    controlled_trial(db, 1, outcome_title="Infarct volume", unit="mL", treated=(40, 10, 15), control=(50, 12, 15))
    controlled_trial(db, 2, outcome_title="Infarct volume", unit="% of hemisphere", treated=(20, 5, 12),
                     control=(24, 6, 12))
    synthesis.synthesize(db)
    [meta] = rows(db, "synthesis_meta")
    assert (meta["outcome"], meta["effect_measure"], meta["unit"]) == ("infarct volume", "SMD", None)
    # Hedges' g of the first: (40 - 50) / pooled SD, times 1 - 3 / (4 * 28 - 1).
    pooled_sd = math.sqrt((14 * 10 ** 2 + 14 * 12 ** 2) / 28)
    assert rows(db, "synthesis_meta_studies")[0]["effect"] == pytest.approx(-10 / pooled_sd * (1 - 3 / 111))


def test_posted_medians_and_a_trial_without_event_counts_are_left_out_with_the_reason(db):
    load_ctgov_file(db, RESULTS / "v2_results_page.json")
    refresh(db)
    safety = rows(db, "synthesis_safety")
    # NCT03384433 posted 0 of 5 with a serious adverse event in its one (exosome) group.
    assert [(r["intervention"], r["patients"], r["events"]) for r in safety] == [("MSC-derived exosome/EV", 5, 0)]
    assert json.loads(safety[0]["study_list"])[0]["study_id"] == "NCT03384433"
    assert safety[0]["ci_high"] == pytest.approx(0.5218, abs=1e-4)
    left = {(row["study_id"], row["outcome"]): row["reason"] for row in rows(db, "synthesis_excluded")}
    assert left[("NCT03004976", "mRS: Change in Modified Rankin Scale (mRS) From Baseline to Day 90")] == \
        "posted as median, not a mean"
    assert left[("NCT03004976", "serious adverse events")] == "posted results give no serious adverse event counts"


def test_kb_synthesize_fills_the_tables_and_names_the_step_before_it(tmp_path):
    path = tmp_path / "kb.db"
    open_db(str(path))
    empty = CliRunner().invoke(cli, ["synthesize", "--db", str(path)])
    assert empty.exit_code == 1 and "run `kb classify` first" in empty.output
    db = open_db(str(path))
    controlled_trial(db, 1)
    controlled_trial(db, 2, treated=(2.5, 1.5, 30), control=(2.8, 1.4, 30))
    result = CliRunner().invoke(cli, ["synthesize", "--db", str(path)])
    assert result.exit_code == 0 and "1 safety figure(s), 1 pooled outcome(s)" in result.output


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthesis") / "regenkb.db"
    db = open_db(str(path))
    load_ctgov_file(db, RESULTS / "v2_results_page.json")
    refresh(db)
    controlled_trial(db, 101)
    controlled_trial(db, 102, treated=(2.5, 1.5, 30), control=(2.8, 1.4, 30))
    controlled_trial(db, 103, outcome_title=XSS, time_frame="2 years")
    synthesis.synthesize(db)
    datasette = serve.datasette_for(path)
    asyncio.run(datasette.invoke_startup())
    return db, datasette


def test_the_synthesis_page_shows_safety_pooled_outcomes_and_what_was_left_out(site):
    _, datasette = site
    response = get(datasette, "/-/synthesis")
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    safety = soup.select("#safety-table tbody tr")
    exosome = next(row for row in safety if "MSC-derived exosome/EV" in row.text)
    assert "0/5" in exosome.text and "0.0% (0.0% to 52.2%)" in exosome.text
    assert exosome.find("a", href="/-/trial/NCT03384433")
    [analysis] = soup.select("section.analysis")
    assert "2 studies; pooled MD" in analysis.text and analysis.select_one(".regenkb-forest")
    assert [a["href"] for a in analysis.select("tbody a")] == ["/-/trial/TEST-101", "/-/trial/TEST-102"]
    excluded = soup.select_one("#excluded-table").text
    assert "posted as median, not a mean" in excluded and "one study is not pooled" in excluded
    data = json.loads(soup.select_one("#regenkb-synthesis-data").string)
    assert data["meta"][0]["k"] == 2 and len(data["meta"][0]["studies"]) == 2
    scripts = [s.get("src") for s in soup.find_all("script") if s.get("src")]
    assert any(src.endswith("/vega-embed.min.js") for src in scripts)
    assert any(src.endswith("/regenkb-forest.js") for src in scripts)
    assert not any(s.string for s in soup.find_all("script") if s.get("type") != "application/json"
                   and s.string and "regenkb" in s.string)  # no inline script of ours


def test_untrusted_outcome_titles_render_as_text_on_the_synthesis_page(site):
    _, datasette = site
    response = get(datasette, "/-/synthesis")
    soup = BeautifulSoup(response.text, "html.parser")
    assert not soup.find("img", src="x") and XSS in soup.select_one("#excluded-table").text
    code = [s.string or "" for s in soup.find_all("script") if s.get("type") != "application/json"]
    assert not any('alert("x")' in text for text in code)


def test_the_synthesis_json_twin_holds_the_same_figures(site):
    db, datasette = site
    data = get(datasette, "/-/synthesis.json").json()
    assert data["ready"] is True
    assert [(r["intervention"], r["route"], r["events"], r["patients"]) for r in data["safety"]] == [
        (r["intervention"], r["route"], r["events"], r["patients"])
        for r in db.query("SELECT * FROM synthesis_safety ORDER BY patients DESC, intervention, route")]
    assert data["meta"][0]["pooled"] == db.execute("SELECT pooled FROM synthesis_meta").fetchone()[0]
    assert len(data["excluded"]) == db["synthesis_excluded"].count


def test_a_kb_without_synthesis_tables_says_which_command_makes_them(tmp_path):
    path = tmp_path / "old.db"
    db = open_db(str(path))
    for table in synthesis.TABLES[::-1]:
        db[table].drop()
    datasette = serve.datasette_for(path)
    response = get(datasette, "/-/synthesis")
    assert response.status_code == 200 and "kb synthesize" in BeautifulSoup(response.text, "html.parser").select_one(
        "#not-ready").text
    assert get(datasette, "/-/synthesis.json").json() == {"ready": False, "safety": [], "meta": [], "excluded": []}


def test_the_demo_kb_shows_the_exosome_pilot_s_safety_and_cobis_2_s_posted_flow(tmp_path):
    from kb import demo

    db = open_db(str(tmp_path / "demo.db"))
    demo.build(db)
    # Dehghani et al. 2022 (NCT03384433, a single-group trial): five patients, no serious adverse events.
    assert [(r["intervention"], r["route"], r["patients"], r["events"]) for r in rows(db, "synthesis_safety")] == [
        ("MSC-derived exosome/EV", "intracerebral", 5, 0)]
    flow = db.execute("SELECT f.title, f.count FROM trial_flow f JOIN trials t ON t.id = f.trial_id "
                      "WHERE t.nct_id = 'NCT03004976' ORDER BY f.position").fetchall()
    assert flow == [("STARTED", 52), ("STARTED", 27), ("COMPLETED", 39), ("COMPLETED", 21),
                    ("NOT COMPLETED", 13), ("NOT COMPLETED", 6)]
    left = {row["study_id"]: row["reason"] for row in rows(db, "synthesis_excluded")}
    assert left["NCT03004976"] == "posted results give no serious adverse event counts"


def test_recorded_posted_events_count_only_cell_therapy_arms_never_a_placebo_typed_experimental(tmp_path):
    """Conformance: every recorded v2 study with adverse events, read here with json alone. The
    safety rule runs on each as if it were on topic; the expected treated counts are the event
    groups named as an EXPERIMENTAL arm is, minus any group named placebo or healthy."""
    from test_conformance_real import files_of, real_data

    folder = real_data() / "ctgov"
    db = open_db(str(tmp_path / "real.db"))
    expected, checks = {}, 0
    for name in files_of("ctgov"):
        if not name.endswith(".json"):
            continue
        data = json.loads((folder / name).read_text())
        for study in data.get("studies", [data]):
            groups = study.get("resultsSection", {}).get("adverseEventsModule", {}).get("eventGroups", [])
            if not groups:
                continue
            load_ctgov_file(db, folder / name)
            protocol = study["protocolSection"]
            arms = {" ".join(a["label"].split()).casefold(): a.get("type")
                    for a in protocol.get("armsInterventionsModule", {}).get("armGroups", [])}
            treated = [g for g in groups if arms.get(" ".join(g["title"].split()).casefold()) == "EXPERIMENTAL"
                       and not any(word in g["title"].lower() for word in ("placebo", "healthy"))]
            expected[protocol["identificationModule"]["nctId"]] = (
                sum(g["seriousNumAtRisk"] for g in treated), sum(g["seriousNumAffected"] for g in treated))
    assert len(expected) >= 3
    _, arms, single_groups, groups, _, _, posted = synthesis.read_kb(db)
    for nct, (patients, events) in expected.items():
        trial_id = db.execute("SELECT id FROM trials WHERE nct_id = ?", [nct]).fetchone()[0]
        study = {"study_id": nct, "nct_id": nct, "trial_id": trial_id, "work_id": None, "design": None, "n": None,
                 "intervention": nct, "route": None, "safety": None}
        events_groups = {trial_id: [g for g in groups[trial_id] if g["module"] == "events"]}
        found, left = synthesis.safety_rows([study], events_groups, arms, single_groups, posted)
        if patients:
            assert [(r["patients"], r["events"]) for r in found] == [(patients, events)], nct
        else:
            assert found == [] and left[0]["reason"].startswith("no adverse-event group maps"), nct
        checks += 1
    assert checks == len(expected)


@pytest.mark.parametrize("files", [["v2_results_page.json"], ["v1classic_results.json"],
                                   ["legacy_NCT03004976.xml", "legacy_NCT03384433.xml"]])
def test_every_results_format_gives_the_same_synthesis(db, files):
    for name in files:
        load_ctgov_file(db, RESULTS / name)
    refresh(db)
    assert [(r["intervention"], r["studies"], r["patients"], r["events"]) for r in rows(db, "synthesis_safety")] == [
        ("MSC-derived exosome/EV", 1, 5, 0)]
    assert sorted((r["study_id"], r["reason"]) for r in rows(db, "synthesis_excluded")) == [
        ("NCT03004976", "posted as count of participants, not a mean"),
        ("NCT03004976", "posted as median, not a mean"),
        ("NCT03004976", "posted results give no serious adverse event counts")]
