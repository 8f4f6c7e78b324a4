"""Value by value: the posted results of every recorded ClinicalTrials.gov file are stored as the file states them.

The facts are read from each file here, simply (json, xml.etree): the groups of each module, the
participant flow per period, milestone and group, every baseline and outcome value with its
dispersion, limits and 'NA' comment, the analyses, and the adverse events per term and group with
each group's totals. The KB must hold the same values after `load_ctgov_file`, and what it holds
must add up as posted results do: a group's STARTED is its COMPLETED plus NOT COMPLETED, no more
participants are affected by an event than are at risk, and a baseline 'Total' count is the sum of
the groups' counts.
"""

import json
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from kb.ingest import load_ctgov_file

from test_conformance_real import files_of, real_data

# Legacy spellings -> v2 (API migration guide); v2 gives an outcome's dispersion as this text too.
TYPES = {"Primary": "PRIMARY", "Secondary": "SECONDARY", "Other Pre-specified": "OTHER_PRE_SPECIFIED",
         "Post-Hoc": "POST_HOC"}
PARAMS = {"Mean": "MEAN", "Median": "MEDIAN", "Number": "NUMBER", "Count of Participants": "COUNT_OF_PARTICIPANTS",
          "Count of Units": "COUNT_OF_UNITS", "Least Squares Mean": "LEAST_SQUARES_MEAN",
          "Geometric Mean": "GEOMETRIC_MEAN", "Geometric Least Squares Mean": "GEOMETRIC_LEAST_SQUARES_MEAN",
          "Log Mean": "LOG_MEAN"}
DISPERSIONS = {"Standard Deviation": "STANDARD_DEVIATION", "Standard Error": "STANDARD_ERROR",
               "Inter-Quartile Range": "INTER_QUARTILE_RANGE", "Full Range": "FULL_RANGE",
               "95% Confidence Interval": "CONFIDENCE_95", "90% Confidence Interval": "CONFIDENCE_90",
               "80% Confidence Interval": "CONFIDENCE_80", "97.5% Confidence Interval": "CONFIDENCE_975",
               "99% Confidence Interval": "CONFIDENCE_99",
               "Geometric Coefficient of Variation": "GEOMETRIC_COEFFICIENT"}


def v2(value, table):
    """A legacy spelling in v2's; a v2 value (or none) as it is."""
    return table.get(value, value)


def by_module(groups):
    """{module: [(code, title), ...] in order}."""
    found = {}
    for module, code, title in groups:
        found.setdefault(module, []).append((code, title))
    return found


def facts(groups, flow, baseline, outcomes, meta, analysed, analyses, events, totals):
    return {"groups": groups, "flow": flow, "baseline": baseline, "outcomes": outcomes,
            "meta": meta, "analysed": analysed, "analyses": analyses, "events": events, "totals": totals}


def v2_facts(section):
    flow = section.get("participantFlowModule", {})
    base = section.get("baselineCharacteristicsModule", {})
    measures = section.get("outcomeMeasuresModule", {}).get("outcomeMeasures", [])
    adverse = section.get("adverseEventsModule", {})

    def values(measure, *head):
        return [(*head, c.get("title"), cat.get("title"), m["groupId"], m.get("value"), m.get("spread"),
                 m.get("lowerLimit"), m.get("upperLimit"), m.get("comment"))
                for c in measure.get("classes", []) for cat in c.get("categories", []) for m in cat["measurements"]]

    steps = Counter()
    for period in flow.get("periods", []):
        for milestone in period.get("milestones", []):
            for a in milestone.get("achievements", []):
                steps[(period.get("title"), "milestone", milestone["type"], a["groupId"])] += int(a["numSubjects"])
        for reason in period.get("dropWithdraws", []):
            for r in reason.get("reasons", []):
                steps[(period.get("title"), "reason", reason["type"], r["groupId"])] += int(r["numSubjects"])
    module_groups = [("flow", flow.get("groups", [])), ("baseline", base.get("groups", [])),
                     *[("outcome", m.get("groups", [])) for m in measures], ("events", adverse.get("eventGroups", []))]
    return facts(
        groups=by_module((module, g["id"], g.get("title")) for module, groups in module_groups for g in groups),
        meta=[(m.get("type"), m.get("timeFrame"), m.get("unitOfMeasure"), m.get("paramType"),
               v2(m.get("dispersionType"), DISPERSIONS)) for m in measures],
        analysed=Counter((position, c["groupId"], int(c["value"])) for position, m in enumerate(measures, 1)
                         for c in (m.get("denoms") or [{"counts": []}])[0]["counts"]),
        flow=steps,
        baseline=Counter(v for m in base.get("measures", []) for v in values(m, m.get("title"))),
        outcomes=[(m.get("title"), Counter(values(m, position))) for position, m in enumerate(measures, 1)],
        analyses=[(position, json.dumps(a.get("groupIds", [])), a.get("pValue"), a.get("paramValue"),
                   a.get("ciLowerLimit"), a.get("ciUpperLimit"))
                  for position, m in enumerate(measures, 1) for a in m.get("analyses", [])],
        events=Counter((kind, e.get("term"), e.get("organSystem"), s["groupId"], s.get("numAffected"),
                        s.get("numAtRisk"), s.get("numEvents"))
                       for kind, key in (("serious", "seriousEvents"), ("other", "otherEvents"))
                       for e in adverse.get(key, []) for s in e["stats"]),
        totals={g["id"]: tuple(g.get(f"{kind}Num{side}") for kind in ("deaths", "serious", "other")
                               for side in ("Affected", "AtRisk")) for g in adverse.get("eventGroups", [])})


def xml_facts(results):
    def number(value):
        return None if value is None else int(value)

    def text(elem, path):
        found = elem.find(path)
        return " ".join("".join(found.itertext()).split()) or None if found is not None else None

    def values(measure, *head):
        return [(*head, text(c, "title"), text(cat, "title"), m.get("group_id"), m.get("value"), m.get("spread"),
                 m.get("lower_limit"), m.get("upper_limit"), " ".join((m.text or "").split()) or None)
                for c in measure.iterfind("class_list/class") for cat in c.iterfind("category_list/category")
                for m in cat.iterfind("measurement_list/measurement")]

    steps = Counter()
    for period in results.iterfind("participant_flow/period_list/period"):
        for kind, path in (("milestone", "milestone_list/milestone"),
                           ("reason", "drop_withdraw_reason_list/drop_withdraw_reason")):
            for step in period.iterfind(path):
                for p in step.iterfind("participants_list/participants"):
                    steps[(text(period, "title"), kind, text(step, "title"), p.get("group_id"))] += int(p.get("count"))
    outcomes = results.findall("outcome_list/outcome")
    events, totals = Counter(), {}
    # The legacy XML gives each group's totals as the events of a category titled "Total".
    total_names = {"Total, all-cause mortality": 0, "Total, serious adverse events": 2,
                   "Total, other adverse events": 4}
    for kind in ("serious", "other"):
        for category in results.iterfind(f"reported_events/{kind}_events/category_list/category"):
            for event in category.iterfind("event_list/event"):
                for c in event.iterfind("counts"):
                    counts = (number(c.get("subjects_affected")), number(c.get("subjects_at_risk")),
                              number(c.get("events")))
                    if text(category, "title") == "Total" and text(event, "sub_title") in total_names:
                        at = total_names[text(event, "sub_title")]
                        row = list(totals.get(c.get("group_id"), [None] * 6))
                        row[at:at + 2] = counts[:2]
                        totals[c.get("group_id")] = tuple(row)
                    else:
                        events[(kind, text(event, "sub_title"), text(category, "title"), c.get("group_id"),
                                *counts)] += 1
    module_groups = [("flow", results.find("participant_flow")), ("baseline", results.find("baseline")),
                     *[("outcome", o) for o in outcomes], ("events", results.find("reported_events"))]
    return facts(
        groups=by_module((module, g.get("group_id"), text(g, "title")) for module, parent in module_groups
                         if parent is not None for g in parent.iterfind("group_list/group")),
        meta=[(v2(text(o, "type"), TYPES), text(o, "time_frame"), text(o, "measure/units"),
               v2(text(o, "measure/param"), PARAMS), v2(text(o, "measure/dispersion"), DISPERSIONS)) for o in outcomes],
        analysed=Counter((position, c.get("group_id"), int(c.get("value"))) for position, o in enumerate(outcomes, 1)
                         for analyzed in o.findall("measure/analyzed_list/analyzed")[:1]
                         for c in analyzed.iterfind("count_list/count")),
        flow=steps,
        baseline=Counter(v for m in results.iterfind("baseline/measure_list/measure")
                         for v in values(m, text(m, "title"))),
        outcomes=[(text(o, "title"), Counter(values(o.find("measure"), position)))
                  for position, o in enumerate(outcomes, 1)],
        analyses=[(position, json.dumps([g.text.strip() for g in a.iterfind("group_id_list/group_id")]),
                   text(a, "p_value"), text(a, "param_value"), text(a, "ci_lower_limit"), text(a, "ci_upper_limit"))
                  for position, o in enumerate(outcomes, 1) for a in o.iterfind("analysis_list/analysis")],
        events=events, totals=totals)


def posted(path):
    """(nct_id, facts) of each study in a file that posted results."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"<"):
        root = ET.fromstring(data)
        if root.tag != "clinical_study":
            return []
        results = root.find("clinical_results")
        return [(root.findtext("id_info/nct_id"), xml_facts(results))] if results is not None else []
    payload = json.loads(data)
    assert b'"ResultsSection"' not in data, "a classic-API file with results: read its ResultsSection here too"
    studies = payload.get("studies", [payload]) if isinstance(payload, dict) else payload
    return [(s["protocolSection"]["identificationModule"]["nctId"], v2_facts(s["resultsSection"]))
            for s in studies if "resultsSection" in s]


def stored(db, nct_id):
    trial_id = db.execute("select id from trials where nct_id = ?", [nct_id]).fetchone()[0]

    def rows(sql):
        return db.execute(sql, [trial_id]).fetchall()

    steps = Counter()
    for period, kind, title, group, number in rows(
            "select period, kind, title, group_code, count from trial_flow where trial_id = ?"):
        steps[(period, kind, title, group)] += number
    titles = [r[0] for r in rows("select title from trial_result_outcomes where trial_id = ? order by position")]
    values = Counter(rows("select outcome, class, category, group_code, value, spread, lower_limit, upper_limit, "
                          "comment from trial_outcome_values where trial_id = ?"))
    return facts(
        groups=by_module(rows("select module, code, title from trial_result_groups where trial_id = ? "
                              "order by position")),
        meta=rows("select type, time_frame, unit, param_type, dispersion_type from trial_result_outcomes "
                  "where trial_id = ? order by position"),
        analysed=Counter(rows("select outcome, code, analysed from trial_result_groups where trial_id = ? "
                              "and module = 'outcome' and analysed is not null")),
        flow=steps,
        baseline=Counter(rows("select measure, class, category, group_code, value, spread, lower_limit, upper_limit, "
                              "comment from trial_baseline where trial_id = ?")),
        outcomes=[(title, Counter({v: n for v, n in values.items() if v[0] == position}))
                  for position, title in enumerate(titles, 1)],
        analyses=rows("select outcome, group_codes, p_value, param_value, ci_lower, ci_upper "
                      "from trial_outcome_analyses where trial_id = ? order by position"),
        events=Counter(rows("select kind, term, organ_system, group_code, affected, at_risk, events "
                            "from trial_adverse_events where trial_id = ?")),
        totals={r[0]: tuple(r[1:]) for r in rows(
            "select code, deaths_affected, deaths_at_risk, serious_affected, serious_at_risk, other_affected, "
            "other_at_risk from trial_result_groups where trial_id = ? and module = 'events'")}), trial_id


def sums_hold(db, trial_id):
    """Checks that what the KB holds adds up as posted results do: (what, expected, found)."""
    checks = []
    flow = {}
    for period, title, group, number in db.execute(
            "select period, title, group_code, count from trial_flow where trial_id = ? and kind = 'milestone'",
            [trial_id]):
        flow[(period, group, title)] = number
    for period, group in {(p, g) for p, g, _ in flow}:
        if all((period, group, m) in flow for m in ("STARTED", "COMPLETED", "NOT COMPLETED")):
            checks.append((f"{period} {group}: STARTED = COMPLETED + NOT COMPLETED", flow[(period, group, "STARTED")],
                           flow[(period, group, "COMPLETED")] + flow[(period, group, "NOT COMPLETED")]))
    for term, group, affected, at_risk in db.execute(
            "select term, group_code, affected, at_risk from trial_adverse_events where trial_id = ?", [trial_id]):
        checks.append((f"{term} {group}: affected <= at risk", True, affected <= at_risk))
    for code, *counts in db.execute(
            "select code, deaths_affected, deaths_at_risk, serious_affected, serious_at_risk, other_affected, "
            "other_at_risk from trial_result_groups where trial_id = ? and module = 'events'", [trial_id]):
        for affected, at_risk in zip(counts[::2], counts[1::2]):
            if affected is not None and at_risk is not None:
                checks.append((f"{code} total: affected <= at risk", True, affected <= at_risk))
    total = db.execute("select code from trial_result_groups where trial_id = ? and module = 'baseline' "
                       "and title = 'Total'", [trial_id]).fetchone()
    if total:
        cells = {}
        for measure, klass, category, group, value in db.execute(
                "select measure, class, category, group_code, value from trial_baseline where trial_id = ? "
                "and param_type = 'COUNT_OF_PARTICIPANTS'", [trial_id]):
            cells.setdefault((measure, klass, category), {})[group] = int(value)
        for cell, by_group in cells.items():
            others = sum(n for group, n in by_group.items() if group != total[0])
            checks.append((f"baseline {cell}: Total = sum of groups", by_group[total[0]], others))
    return checks


@pytest.mark.parametrize("name", files_of("ctgov"))
def test_every_posted_result_is_stored_as_its_file_states_it(db, name):
    path = real_data() / "ctgov" / name
    load_ctgov_file(db, path)
    studies = posted(path) if path.suffix in (".json", ".xml") else []
    for nct_id, expected in studies:
        found, trial_id = stored(db, nct_id)
        for field, value in expected.items():
            assert found[field] == value, f"{nct_id} {field}"
        assert expected["groups"] and expected["flow"] and expected["outcomes"], nct_id
        for what, want, got in sums_hold(db, trial_id):
            assert want == got, f"{nct_id} {what}"
    # A file of no posted results stores none.
    posted_ids = {nct_id for nct_id, _ in studies}
    with_rows = {r[0] for r in db.execute("select nct_id from trials join trial_results on trial_id = trials.id")}
    assert with_rows == posted_ids
