"""ClinicalTrials.gov posted results: pure parse functions for the three formats that carry them.

API v2 `resultsSection`, the retired classic API's `ResultsSection` (PascalCase modules, lists
wrapped as {"FlowGroupList": {"FlowGroup": [...]}}) and the legacy XML `<clinical_results>` all
parse to one dict (`new_results`), one entry per posted value, so a trial's results are stored
the same way whatever format it came in. Posted values are kept as the text they were posted as
("0.72", "<0.001", "NA"), counts of participants become integers, enums take v2's spelling.

Group ids are the registry's own codes (FG000, BG001, OG002, EG000 in v2 and the classic API;
P1, B1, O1, E1 in the legacy XML); outcome groups belong to one outcome measure, so their rows
carry the outcome's position.
"""

import re

from . import ctgov

# The legacy XML's and the classic API's names of v2's MeasureDispersionType values; v2 itself
# gives an outcome's dispersion as this text ("95% Confidence Interval"), a baseline's as the enum.
DISPERSIONS = {
    "standard deviation": "STANDARD_DEVIATION", "standard error": "STANDARD_ERROR",
    "inter-quartile range": "INTER_QUARTILE_RANGE", "full range": "FULL_RANGE",
    "geometric coefficient of variation": "GEOMETRIC_COEFFICIENT",
    "standard error of the mean": "STANDARD_ERROR_OF_MEAN", "not applicable": "NA",
}
SIDES = {"1-sided": "ONE_SIDED", "2-sided": "TWO_SIDED"}
# The legacy XML gives a group's totals as events of a "Total" category.
XML_TOTALS = {"total, all-cause mortality": "deaths", "total, serious adverse events": "serious",
              "total, other adverse events": "other"}


def new_results():
    """Empty results: every list the loader reads, and the details posted once per trial."""
    return {
        "details": {key: None for key in (
            "recruitment_details", "pre_assignment_details", "baseline_population", "events_time_frame",
            "events_frequency_threshold", "events_description", "limitations", "pi_sponsor_employee",
            "restrictive_agreement", "restriction_type", "contact_organization")},
        "groups": [], "flow": [], "baseline": [], "outcomes": [], "outcome_values": [], "analyses": [],
        "events": [],
    }


def dispersion(value):
    """v2's dispersion enum from any spelling: '95% Confidence Interval' -> 'CONFIDENCE_95',
    'Standard Deviation' -> 'STANDARD_DEVIATION'; an enum value stays as it is."""
    if not value:
        return None
    confidence = re.fullmatch(r"(\d+(?:\.\d+)?)\s*% confidence interval", value.strip(), re.I)
    if confidence:
        return f"CONFIDENCE_{confidence.group(1).replace('.', '')}"
    if re.match(r"other confidence interval", value.strip(), re.I):
        return "CONFIDENCE_OTHER"
    return DISPERSIONS.get(value.strip().lower()) or ctgov.enum(value)


def sides(value):
    return SIDES.get((value or "").strip().lower()) or ctgov.enum(value)


def stated(sentence):
    """The legacy XML's agreement sentences as yes or no: 'Principal Investigators are NOT
    employed by ...' -> False, 'There IS an agreement ...' -> True."""
    if not sentence:
        return None
    return not re.search(r"\bNOT\b", sentence)


def count(value):
    return ctgov.enrollment_count(value)


def group(module, code, title, description, outcome=None, **totals):
    return {"module": module, "outcome": outcome, "code": code, "title": title, "description": description,
            "analysed": None, "analysed_units": None, "deaths_affected": None, "deaths_at_risk": None,
            "serious_affected": None, "serious_at_risk": None, "other_affected": None, "other_at_risk": None,
            **totals}


def analysed_counts(denoms, selected=None):
    """{group code: (count, units)} from a measure's or class's denominators: the units the
    measure selected, else the first listed (almost always 'Participants')."""
    if not denoms:
        return {}
    chosen = next((d for d in denoms if selected and d["units"] == selected), denoms[0])
    return {code: (value, chosen["units"]) for code, value in chosen["counts"]}


def add_measure_rows(rows, measure, classes, fields):
    """One row per measurement of a baseline or outcome measure. `classes` are (title, denoms,
    categories) with categories (title, measurements); the analysed N of a value is its class's
    denominator, else the measure's."""
    overall = analysed_counts(measure["denoms"], measure.get("denom_units"))
    for class_title, class_denoms, categories in classes:
        by_class = analysed_counts(class_denoms, measure.get("denom_units")) or overall
        for category_title, measurements in categories:
            for m in measurements:
                rows.append({**fields, "class": class_title, "category": category_title, "group_code": m["group_code"],
                             "value": m["value"], "spread": m["spread"], "lower_limit": m["lower_limit"],
                             "upper_limit": m["upper_limit"], "comment": m["comment"],
                             "analysed": (by_class.get(m["group_code"]) or (None,))[0]})


def finish(results, measures, outcome_measures):
    """Fill the value rows from the neutral measure dicts the format readers build."""
    for measure in measures:
        add_measure_rows(results["baseline"], measure, measure["classes"], {
            "measure": measure["title"], "description": measure["description"],
            "population": measure["population"], "unit": measure["unit"], "param_type": measure["param_type"],
            "dispersion_type": measure["dispersion_type"]})
    for position, measure in enumerate(outcome_measures, 1):
        results["outcomes"].append({key: measure[key] for key in (
            "type", "title", "description", "population", "time_frame", "unit", "param_type",
            "dispersion_type", "reporting_status", "posting_date")})
        add_measure_rows(results["outcome_values"], measure, measure["classes"], {"outcome": position})
        counts = analysed_counts(measure["denoms"], measure.get("denom_units"))
        for g in measure["groups"]:
            analysed, units = counts.get(g["code"], (None, None))
            results["groups"].append({**g, "outcome": position, "analysed": analysed, "analysed_units": units})
        for analysis in measure["analyses"]:
            results["analyses"].append({"outcome": position, **analysis})
    return results


# ---------------------------------------------------------------- API v2

def v2_denoms(denoms):
    return [{"units": d.get("units"),
             "counts": [(c.get("groupId"), count(c.get("value"))) for c in d.get("counts", [])]}
            for d in denoms or []]


def v2_classes(classes):
    return [(c.get("title"), v2_denoms(c.get("denoms")),
             [(cat.get("title"), [{"group_code": m.get("groupId"), "value": m.get("value"), "spread": m.get("spread"),
                                   "lower_limit": m.get("lowerLimit"), "upper_limit": m.get("upperLimit"),
                                   "comment": m.get("comment")} for m in cat.get("measurements", [])])
              for cat in c.get("categories", [])])
            for c in classes or []]


def v2_measure(m, groups=()):
    return {"title": m.get("title"), "description": m.get("description"),
            "population": m.get("populationDescription"), "unit": m.get("unitOfMeasure"),
            "param_type": ctgov.enum(m.get("paramType")), "dispersion_type": dispersion(m.get("dispersionType")),
            "type": ctgov.enum(m.get("type")), "time_frame": m.get("timeFrame"),
            "reporting_status": ctgov.enum(m.get("reportingStatus")), "posting_date": m.get("anticipatedPostingDate"),
            "denom_units": m.get("denomUnitsSelected"), "denoms": v2_denoms(m.get("denoms")),
            "classes": v2_classes(m.get("classes")), "groups": list(groups), "analyses": [
                {"group_codes": a.get("groupIds", []), "groups_description": a.get("groupDescription"),
                 "non_inferiority_type": ctgov.enum(a.get("nonInferiorityType")),
                 "non_inferiority_comment": a.get("nonInferiorityComment"), "p_value": a.get("pValue"),
                 "p_value_comment": a.get("pValueComment"), "method": a.get("statisticalMethod"),
                 "method_comment": a.get("statisticalComment"), "param_type": a.get("paramType"),
                 "param_value": a.get("paramValue"), "ci_percent": a.get("ciPctValue"),
                 "ci_sides": sides(a.get("ciNumSides")), "ci_lower": a.get("ciLowerLimit"),
                 "ci_upper": a.get("ciUpperLimit"),
                 "ci_comment": a.get("ciUpperLimitComment") or a.get("ciLowerLimitComment"),
                 "dispersion_type": dispersion(a.get("dispersionType")), "dispersion_value": a.get("dispersionValue"),
                 "estimate_comment": a.get("estimateComment"), "other_description": a.get("otherAnalysisDescription")}
                for a in m.get("analyses", [])]}


def parse_v2(section):
    """An API v2 `resultsSection` -> results; None when the study posted none."""
    if not section:
        return None
    results = new_results()
    flow = section.get("participantFlowModule", {})
    baseline = section.get("baselineCharacteristicsModule", {})
    events = section.get("adverseEventsModule", {})
    more = section.get("moreInfoModule", {})
    results["details"].update(
        recruitment_details=flow.get("recruitmentDetails"), pre_assignment_details=flow.get("preAssignmentDetails"),
        baseline_population=baseline.get("populationDescription"), events_time_frame=events.get("timeFrame"),
        events_frequency_threshold=events.get("frequencyThreshold"), events_description=events.get("description"),
        limitations=more.get("limitationsAndCaveats", {}).get("description"),
        pi_sponsor_employee=more.get("certainAgreement", {}).get("piSponsorEmployee"),
        restrictive_agreement=more.get("certainAgreement", {}).get("restrictiveAgreement"),
        restriction_type=ctgov.enum(more.get("certainAgreement", {}).get("restrictionType")),
        contact_organization=more.get("pointOfContact", {}).get("organization"))
    results["groups"] += [group("flow", g.get("id"), g.get("title"), g.get("description"))
                          for g in flow.get("groups", [])]
    for period in flow.get("periods", []):
        for milestone in period.get("milestones", []):
            results["flow"] += [{"period": period.get("title"), "kind": "milestone", "title": milestone.get("type"),
                                 "group_code": a.get("groupId"), "count": count(a.get("numSubjects")),
                                 "units": count(a.get("numUnits")), "comment": a.get("comment"),
                                 "note": milestone.get("comment")} for a in milestone.get("achievements", [])]
        for reason in period.get("dropWithdraws", []):
            results["flow"] += [{"period": period.get("title"), "kind": "reason", "title": reason.get("type"),
                                 "group_code": r.get("groupId"), "count": count(r.get("numSubjects")),
                                 "units": count(r.get("numUnits")), "comment": r.get("comment"),
                                 "note": reason.get("comment")} for r in reason.get("reasons", [])]
    overall = analysed_counts(v2_denoms(baseline.get("denoms")))
    results["groups"] += [group("baseline", g.get("id"), g.get("title"), g.get("description"),
                                analysed=overall.get(g.get("id"), (None,))[0],
                                analysed_units=overall.get(g.get("id"), (None, None))[1])
                          for g in baseline.get("groups", [])]
    results["groups"] += [group("events", g.get("id"), g.get("title"), g.get("description"), **{
        f"{kind}_{side}": g.get(f"{kind}Num{key}") for kind in ("deaths", "serious", "other")
        for side, key in (("affected", "Affected"), ("at_risk", "AtRisk"))}) for g in events.get("eventGroups", [])]
    for kind, key in (("serious", "seriousEvents"), ("other", "otherEvents")):
        for event in events.get(key, []):
            results["events"] += [{"kind": kind, "term": event.get("term"), "organ_system": event.get("organSystem"),
                                   "vocabulary": event.get("sourceVocabulary"),
                                   "assessment": ctgov.enum(event.get("assessmentType")), "notes": event.get("notes"),
                                   "group_code": s.get("groupId"), "affected": count(s.get("numAffected")),
                                   "at_risk": count(s.get("numAtRisk")), "events": count(s.get("numEvents"))}
                                  for s in event.get("stats", [])]
    return finish(results, [v2_measure(m) for m in baseline.get("measures", [])], [
        v2_measure(m, [group("outcome", g.get("id"), g.get("title"), g.get("description"))
                       for g in m.get("groups", [])])
        for m in section.get("outcomeMeasuresModule", {}).get("outcomeMeasures", [])])


# ---------------------------------------------------------------- classic API (v1)

def v1_denoms(container, prefix):
    """Denominators of a classic-API measure, class or module: {prefix}DenomList/{prefix}Denom."""
    listed = ctgov.listed
    return [{"units": d.get(f"{prefix}DenomUnits"),
             "counts": [(c.get(f"{prefix}DenomCountGroupId"), count(c.get(f"{prefix}DenomCountValue")))
                        for c in listed(d, f"{prefix}DenomCountList", f"{prefix}DenomCount")]}
            for d in listed(container, f"{prefix}DenomList", f"{prefix}Denom")]


def v1_measure(m, kind, measure_prefix, groups=()):
    """A classic-API baseline (kind 'Baseline', measure fields 'BaselineMeasure...') or outcome
    ('Outcome', 'OutcomeMeasure...') measure in the neutral shape."""
    listed = ctgov.listed

    def field(name):
        return m.get(f"{measure_prefix}{name}")

    classes = [(c.get(f"{kind}ClassTitle"), v1_denoms(c, f"{kind}Class"),
                [(cat.get(f"{kind}CategoryTitle"),
                  [{"group_code": x.get(f"{kind}MeasurementGroupId"), "value": x.get(f"{kind}MeasurementValue"),
                    "spread": x.get(f"{kind}MeasurementSpread"), "lower_limit": x.get(f"{kind}MeasurementLowerLimit"),
                    "upper_limit": x.get(f"{kind}MeasurementUpperLimit"), "comment": x.get(f"{kind}MeasurementComment")}
                   for x in listed(cat, f"{kind}MeasurementList", f"{kind}Measurement")])
                 for cat in listed(c, f"{kind}CategoryList", f"{kind}Category")])
               for c in listed(m, f"{kind}ClassList", f"{kind}Class")]
    analyses = [{"group_codes": listed(a, "OutcomeAnalysisGroupIdList", "OutcomeAnalysisGroupId"), **{
        key: a.get(f"OutcomeAnalysis{name}") for key, name in (
            ("groups_description", "GroupDescription"), ("non_inferiority_comment", "NonInferiorityComment"),
            ("p_value", "PValue"), ("p_value_comment", "PValueComment"), ("method", "StatisticalMethod"),
            ("method_comment", "StatisticalComment"), ("param_type", "ParamType"), ("param_value", "ParamValue"),
            ("ci_percent", "CIPctValue"), ("ci_lower", "CILowerLimit"), ("ci_upper", "CIUpperLimit"),
            ("dispersion_value", "DispersionValue"), ("estimate_comment", "EstimateComment"),
            ("other_description", "OtherAnalysisDescription"))},
        "non_inferiority_type": ctgov.enum(a.get("OutcomeAnalysisNonInferiorityType")),
        "ci_sides": sides(a.get("OutcomeAnalysisCINumSides")),
        "ci_comment": a.get("OutcomeAnalysisCIUpperLimitComment") or a.get("OutcomeAnalysisCILowerLimitComment"),
        "dispersion_type": dispersion(a.get("OutcomeAnalysisDispersionType"))}
        for a in listed(m, "OutcomeAnalysisList", "OutcomeAnalysis")]
    return {"title": field("Title"), "description": field("Description"), "population": field("PopulationDescription"),
            "unit": field("UnitOfMeasure"), "param_type": ctgov.enum(field("ParamType")),
            "dispersion_type": dispersion(field("DispersionType")), "type": ctgov.enum(field("Type")),
            "time_frame": field("TimeFrame"), "reporting_status": ctgov.enum(field("ReportingStatus")),
            "posting_date": field("AnticipatedPostingDate"), "denom_units": field("DenomUnitsSelected"),
            # A baseline measure's denominators are BaselineMeasureDenom..., an outcome's OutcomeDenom...
            "denoms": v1_denoms(m, measure_prefix if kind == "Baseline" else kind), "classes": classes,
            "groups": list(groups), "analyses": analyses}


def v1_groups(module, container, prefix, list_name, **extra):
    return [group(module, g.get(f"{prefix}Id"), g.get(f"{prefix}Title"), g.get(f"{prefix}Description"),
                  **{key: count(g.get(f"{prefix}{name}")) for key, name in extra.items()})
            for g in ctgov.listed(container, list_name, prefix)]


def parse_v1(section):
    """A classic-API `ResultsSection` -> results; None when the study posted none."""
    if not section:
        return None
    listed = ctgov.listed
    results = new_results()
    flow = section.get("ParticipantFlowModule", {})
    baseline = section.get("BaselineCharacteristicsModule", {})
    events = section.get("AdverseEventsModule", {})
    more = section.get("MoreInfoModule", {})
    agreement = more.get("CertainAgreement", {})
    results["details"].update(
        recruitment_details=flow.get("FlowRecruitmentDetails"),
        pre_assignment_details=flow.get("FlowPreAssignmentDetails"),
        baseline_population=baseline.get("BaselinePopulationDescription"),
        events_time_frame=events.get("EventsTimeFrame"),
        events_frequency_threshold=events.get("EventsFrequencyThreshold"),
        events_description=events.get("EventsDescription"),
        limitations=more.get("LimitationsAndCaveatsDescription"),
        pi_sponsor_employee=ctgov.enum(agreement.get("AgreementPISponsorEmployee")),
        restrictive_agreement=ctgov.enum(agreement.get("AgreementRestrictiveAgreement")),
        restriction_type=ctgov.enum(agreement.get("AgreementRestrictionType")),
        contact_organization=more.get("PointOfContact", {}).get("PointOfContactOrganization"))
    results["groups"] += v1_groups("flow", flow, "FlowGroup", "FlowGroupList")
    for period in listed(flow, "FlowPeriodList", "FlowPeriod"):
        for milestone in listed(period, "FlowMilestoneList", "FlowMilestone"):
            results["flow"] += [{"period": period.get("FlowPeriodTitle"), "kind": "milestone",
                                 "title": milestone.get("FlowMilestoneType"),
                                 "group_code": a.get("FlowAchievementGroupId"),
                                 "count": count(a.get("FlowAchievementNumSubjects")),
                                 "units": count(a.get("FlowAchievementNumUnits")),
                                 "comment": a.get("FlowAchievementComment"),
                                 "note": milestone.get("FlowMilestoneComment")}
                                for a in listed(milestone, "FlowAchievementList", "FlowAchievement")]
        for reason in listed(period, "FlowDropWithdrawList", "FlowDropWithdraw"):
            results["flow"] += [{"period": period.get("FlowPeriodTitle"), "kind": "reason",
                                 "title": reason.get("FlowDropWithdrawType"), "group_code": r.get("FlowReasonGroupId"),
                                 "count": count(r.get("FlowReasonNumSubjects")),
                                 "units": count(r.get("FlowReasonNumUnits")),
                                 "comment": r.get("FlowReasonComment"), "note": reason.get("FlowDropWithdrawComment")}
                                for r in listed(reason, "FlowReasonList", "FlowReason")]
    overall = analysed_counts(v1_denoms(baseline, "Baseline"))
    for g in v1_groups("baseline", baseline, "BaselineGroup", "BaselineGroupList"):
        g["analysed"], g["analysed_units"] = overall.get(g["code"], (None, None))
        results["groups"].append(g)
    results["groups"] += v1_groups("events", events, "EventGroup", "EventGroupList", **{
        f"{kind.lower()}_{side}": f"{kind}Num{key}" for kind in ("Deaths", "Serious", "Other")
        for side, key in (("affected", "Affected"), ("at_risk", "AtRisk"))})
    for kind, prefix in (("serious", "SeriousEvent"), ("other", "OtherEvent")):
        for event in listed(events, f"{prefix}List", prefix):
            results["events"] += [{"kind": kind, "term": event.get(f"{prefix}Term"),
                                   "organ_system": event.get(f"{prefix}OrganSystem"),
                                   "vocabulary": event.get(f"{prefix}SourceVocabulary"),
                                   "assessment": ctgov.enum(event.get(f"{prefix}AssessmentType")),
                                   "notes": event.get(f"{prefix}Notes"), "group_code": s.get(f"{prefix}StatsGroupId"),
                                   "affected": count(s.get(f"{prefix}StatsNumAffected")),
                                   "at_risk": count(s.get(f"{prefix}StatsNumAtRisk")),
                                   "events": count(s.get(f"{prefix}StatsNumEvents"))}
                                  for s in listed(event, f"{prefix}StatsList", f"{prefix}Stats")]
    return finish(
        results, [v1_measure(m, "Baseline", "BaselineMeasure")
                  for m in listed(baseline, "BaselineMeasureList", "BaselineMeasure")],
        [v1_measure(m, "Outcome", "OutcomeMeasure", v1_groups("outcome", m, "OutcomeGroup", "OutcomeGroupList"))
         for m in listed(section.get("OutcomeMeasuresModule", {}), "OutcomeMeasureList", "OutcomeMeasure")])


# ---------------------------------------------------------------- legacy XML

def xml_groups(module, parent):
    return [group(module, g.get("group_id"), ctgov.text(g, "title"), ctgov.text(g, "description"))
            for g in parent.iterfind("group_list/group")]


def xml_denoms(parent):
    return [{"units": ctgov.text(a, "units"),
             "counts": [(c.get("group_id"), count(c.get("value"))) for c in a.iterfind("count_list/count")]}
            for a in parent.iterfind("analyzed_list/analyzed")]


def xml_measure(m, outcome=None, groups=()):
    """A legacy <measure> (of the baseline, or of an <outcome> whose own fields come first)."""
    text = ctgov.text
    classes = [(text(c, "title"), xml_denoms(c),
                [(text(cat, "title"), [{"group_code": x.get("group_id"), "value": x.get("value"),
                                        "spread": x.get("spread"),
                                        "lower_limit": x.get("lower_limit"), "upper_limit": x.get("upper_limit"),
                                        # An "NA" value's explanation is the element's text.
                                        "comment": " ".join((x.text or "").split()) or None}
                                       for x in cat.iterfind("measurement_list/measurement")])
                 for cat in c.iterfind("category_list/category")])
               for c in m.iterfind("class_list/class")]
    owner = outcome if outcome is not None else m
    analyses = [] if outcome is None else [
        {"group_codes": [g.text.strip() for g in a.iterfind("group_id_list/group_id") if g.text],
         **{key: text(a, tag) for key, tag in (
             ("groups_description", "groups_desc"), ("non_inferiority_comment", "non_inferiority_desc"),
             ("p_value", "p_value"), ("p_value_comment", "p_value_desc"), ("method", "method"),
             ("method_comment", "method_desc"), ("param_type", "param_type"), ("param_value", "param_value"),
             ("ci_percent", "ci_percent"), ("ci_lower", "ci_lower_limit"), ("ci_upper", "ci_upper_limit"),
             ("ci_comment", "ci_upper_limit_na_comment"), ("dispersion_value", "dispersion_value"),
             ("estimate_comment", "estimate_desc"), ("other_description", "other_analysis_desc"))},
         "non_inferiority_type": ctgov.enum(text(a, "non_inferiority_type")), "ci_sides": sides(text(a, "ci_n_sides")),
         "dispersion_type": dispersion(text(a, "dispersion_type"))}
        for a in outcome.iterfind("analysis_list/analysis")]
    return {"title": text(owner, "title"), "description": text(owner, "description"),
            "population": text(m, "population") or text(owner, "population"), "unit": text(m, "units"),
            "param_type": ctgov.enum(text(m, "param")), "dispersion_type": dispersion(text(m, "dispersion")),
            "type": ctgov.enum(text(owner, "type")), "time_frame": text(owner, "time_frame"),
            # The legacy XML says no status: an outcome is posted unless it names the date it will be.
            "reporting_status": None if outcome is None else "NOT_POSTED" if text(owner, "posting_date") else "POSTED",
            "posting_date": text(owner, "posting_date"), "denom_units": None,
            "denoms": xml_denoms(m), "classes": classes, "groups": list(groups), "analyses": analyses}


def parse_xml(element):
    """A legacy `<clinical_results>` element -> results; None when there is none."""
    if element is None:
        return None
    text = ctgov.text
    results = new_results()
    flow = element.find("participant_flow")
    baseline = element.find("baseline")
    events = element.find("reported_events")
    results["details"].update(
        recruitment_details=text(element, "participant_flow/recruitment_details"),
        pre_assignment_details=text(element, "participant_flow/pre_assignment_details"),
        baseline_population=text(element, "baseline/population"),
        events_time_frame=text(element, "reported_events/time_frame"),
        events_frequency_threshold=text(element, "reported_events/other_events/frequency_threshold"),
        events_description=text(element, "reported_events/desc"),
        limitations=text(element, "limitations_and_caveats"),
        pi_sponsor_employee=stated(text(element, "certain_agreements/pi_employee")),
        restrictive_agreement=stated(text(element, "certain_agreements/restrictive_agreement")),
        contact_organization=text(element, "point_of_contact/organization"))
    if flow is not None:
        results["groups"] += xml_groups("flow", flow)
        for period in flow.iterfind("period_list/period"):
            for kind, path in (("milestone", "milestone_list/milestone"),
                               ("reason", "drop_withdraw_reason_list/drop_withdraw_reason")):
                results["flow"] += [{"period": text(period, "title"), "kind": kind, "title": text(step, "title"),
                                     "group_code": p.get("group_id"), "count": count(p.get("count")), "units": None,
                                     "comment": " ".join((p.text or "").split()) or None, "note": None}
                                    for step in period.iterfind(path)
                                    for p in step.iterfind("participants_list/participants")]
    measures = []
    if baseline is not None:
        overall = analysed_counts(xml_denoms(baseline))
        for g in xml_groups("baseline", baseline):
            g["analysed"], g["analysed_units"] = overall.get(g["code"], (None, None))
            results["groups"].append(g)
        measures = [xml_measure(m) for m in baseline.iterfind("measure_list/measure")]
    if events is not None:
        totals = {}
        for kind in ("serious", "other"):
            default_vocabulary = text(events, f"{kind}_events/default_vocab")
            default_assessment = text(events, f"{kind}_events/default_assessment")
            for category in events.iterfind(f"{kind}_events/category_list/category"):
                for event in category.iterfind("event_list/event"):
                    term = text(event, "sub_title")
                    total = XML_TOTALS.get((term or "").lower()) if text(category, "title") == "Total" else None
                    for c in event.iterfind("counts"):
                        if total:
                            totals.setdefault(c.get("group_id"), {}).update({
                                f"{total}_affected": count(c.get("subjects_affected")),
                                f"{total}_at_risk": count(c.get("subjects_at_risk"))})
                            continue
                        sub_title = event.find("sub_title")
                        results["events"].append({
                            "kind": kind, "term": term, "organ_system": text(category, "title"),
                            "vocabulary": (sub_title.get("vocab") if sub_title is not None else None)
                            or default_vocabulary,
                            "assessment": ctgov.enum(text(event, "assessment") or default_assessment),
                            "notes": text(event, "description"), "group_code": c.get("group_id"),
                            "affected": count(c.get("subjects_affected")), "at_risk": count(c.get("subjects_at_risk")),
                            "events": count(c.get("events"))})
        results["groups"] += [dict(g, **totals.get(g["code"], {})) for g in xml_groups("events", events)]
    return finish(results, measures, [
        xml_measure(o.find("measure") if o.find("measure") is not None else o, o, xml_groups("outcome", o))
        for o in element.iterfind("outcome_list/outcome")])
