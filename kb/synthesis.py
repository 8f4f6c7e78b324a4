"""Pooled safety and outcomes of the on-topic studies, recomputed from the KB.

Safety (`synthesis_safety`): per intervention class and route (the `evidence` row's values),
the share of treated patients with a serious adverse event, with an exact Clopper-Pearson
95% interval (the beta quantiles of statsmodels' `proportion_confint(method="beta")`,
defined at 0 events too).
Counts come from posted results: the serious-event totals of each adverse-event group that
is a cell-therapy arm (an EXPERIMENTAL arm, or the one group of a single-group trial; never a
group named placebo, sham, control or healthy). The KB holds no structured event counts
from papers; the one count it does hold is a paper's "no serious adverse events" with its N,
which counts as 0 of N only when everyone was treated (a single-group trial, or a single-arm
study or case series with no controlled design) and its trial posted no counts. Zero-event
studies count in every figure.

Efficacy (`synthesis_meta`, `synthesis_meta_studies`): a random-effects meta-analysis
(DerSimonian-Laird as statsmodels' `combine_effects` computes it, tau² truncated at 0, 95% Wald
interval)
of controlled trials' posted outcome values: mRS, NIHSS, Barthel Index, Fugl-Meyer or
infarct volume, a mean with an SD, SE or 95% CI and the number analysed for the cell-therapy
group(s) and the control group(s) (several on one side, such as dose arms, are combined).
Only the same measure, reported the same way (a change from baseline, a value at a time
point, or an improvement) and at time frames within TIME_WINDOW of each other are pooled,
one outcome per study: as a mean difference when every study uses the same unit, else as a
standardised mean difference (Hedges' g). A measure has a fixed direction (lower mRS, NIHSS
and infarct volume are better; higher Barthel and Fugl-Meyer), so the same measure points
the same way. The KB holds no per-group means from papers, so papers do not enter the
pooling. A group of one study is not pooled. Every study result left out, and why, is a row
of `synthesis_excluded`.

The formulas are a few lines of plain math here: importing statsmodels (and with it pandas
and scipy.stats) cost every refresh 2.5 s and 125 MB, most often with nothing to pool. Only
the beta and t quantiles come from scipy.special, imported when a figure needs one.
"""

import json
import math
import re
from collections import defaultdict
from pathlib import Path
from statistics import NormalDist

from .classify import DEFAULT_VOCABULARY, Vocabulary, text_tags
from .db import inputs_digest, inputs_kept, inputs_of, insert_rows
from .gapmap import split

ALPHA = 0.05
CRITICAL = NormalDist().inv_cdf(1 - ALPHA / 2)  # 1.95996..., the two-sided normal quantile
POOLED_OUTCOMES = ("mRS", "NIHSS", "Barthel Index", "Fugl-Meyer", "infarct volume")
# Time frames 30% apart or less are one time point (90 and 104 days; not 90 and 180).
TIME_WINDOW = 0.3
TREATED_ARMS = {"EXPERIMENTAL"}
CONTROL_ARMS = {"PLACEBO_COMPARATOR", "SHAM_COMPARATOR", "NO_INTERVENTION", "ACTIVE_COMPARATOR"}
# A group named so is a control whatever its arm's type: registries hold placebo arms typed
# EXPERIMENTAL (NCT02210780's "Placebo qw").
CONTROL_WORDS = re.compile(r"\b(placebo|sham|vehicle|saline|controls?|healthy|standard (of )?care|usual care)\b", re.I)
SINGLE_ARM_DESIGNS = {"single-arm", "case series", "case report"}
CONTROLLED_DESIGNS = {"randomised controlled trial", "non-randomised controlled"}
NOT_PATIENTS = re.compile(r"preclinical|review|meta-analysis|protocol")
DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30.4, "year": 365.25}
TIME = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*(hours?|days?|weeks?|months?|years?)\b"
                  r"|\b(day|week|month|year)s?\s*(\d+(?:\.\d+)?)", re.I)
MEAN_PARAMS = {"MEAN"}
TABLES = ("synthesis_safety", "synthesis_meta", "synthesis_meta_studies", "synthesis_excluded")


def exact_interval(events, n, alpha=ALPHA):
    """Clopper-Pearson interval of events/n: exact_interval(0, 10) -> (0.0, 0.3085...)."""
    from scipy.special import betainccinv, betaincinv  # 25 MB, so only when there is a figure

    low = float(betaincinv(events, n - events + 1, alpha / 2)) if events else 0.0
    high = float(betainccinv(events + 1, n - events, alpha / 2)) if events < n else 1.0
    return low, high


def time_frame_days(text):
    """The latest time a time frame names, in days: 'baseline to 3 months post infusion' -> 91.2,
    'Day 90' -> 90; None when it names none."""
    found = []
    for match in TIME.finditer(text or ""):
        number, unit = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        found.append(float(number) * DAYS[unit.lower().rstrip("s")])
    return round(max(found), 1) if found else None


def outcome_kind(title):
    """How an outcome is reported: 'change from baseline' or 'value at a time point'; an
    'improvement' or 'reduction' counts the other way round and is its own kind."""
    if re.search(r"\b(improve\w*|reduc\w*|decrease\w*)\b", title or "", re.I):
        return "improvement or reduction"
    if re.search(r"\bchange", title or "", re.I):
        return "change from baseline"
    return "value at a time point"


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def group_summary(value, n, dispersion):
    """(mean, sd, reason) of one group's posted mean and spread; a reason when it is unusable."""
    mean = number(value["value"])
    if mean is None:
        return None, None, f"value {value['value']!r} is not a number" + (
            f" ({value['comment']})" if value.get("comment") else "")
    if not n:
        return None, None, "no number analysed"
    if dispersion == "STANDARD_DEVIATION" and number(value["spread"]) is not None:
        return mean, number(value["spread"]), None
    if dispersion in ("STANDARD_ERROR", "STANDARD_ERROR_OF_MEAN") and number(value["spread"]) is not None:
        return mean, number(value["spread"]) * math.sqrt(n), None
    low, high = number(value["lower_limit"]), number(value["upper_limit"])
    if dispersion == "CONFIDENCE_95" and low is not None and high is not None and n > 1:
        # Cochrane Handbook 6.5.2.2: SD from a 95% CI of a mean, t-based for small groups.
        from scipy.special import stdtrit  # the t quantile, as scipy.stats.t.ppf takes it

        return mean, math.sqrt(n) * (high - low) / (2 * float(stdtrit(n - 1, 0.975))), None
    return None, None, f"dispersion {dispersion or 'not given'}: no SD, SE or 95% CI"


def combined(groups):
    """(mean, sd, n) of groups taken as one, e.g. a trial's dose arms (Cochrane Handbook 6.5.2.10):
    combined([(2.0, 1.0, 10), (4.0, 1.0, 10)]) -> (3.0, 1.376..., 20)."""
    mean, sd, n = groups[0]
    for mean2, sd2, n2 in groups[1:]:
        total = n + n2
        sd = math.sqrt(((n - 1) * sd ** 2 + (n2 - 1) * sd2 ** 2 + n * n2 / total * (mean - mean2) ** 2) / (total - 1))
        mean, n = (n * mean + n2 * mean2) / total, total
    return mean, sd, n


def study_effect(treated, control, measure):
    """(effect, variance) of treated minus control; measure 'MD' or 'SMD' (Hedges' g)."""
    (m1, s1, n1), (m2, s2, n2) = treated, control
    if measure == "SMD":
        # Bias-corrected, with its variance, as statsmodels' effectsize_smd (Borenstein 2009).
        total = n1 + n2
        effect = (1 - 3 / (4 * total - 9)) * ((m1 - m2) / math.sqrt((s1 ** 2 * (n1 - 1) + s2 ** 2 * (n2 - 1)) /
                                                                   (total - 2)))
        return effect, total / n1 / n2 + effect ** 2 / 2 / (total - 3.94)
    return m1 - m2, s1 ** 2 / n1 + s2 ** 2 / n2


def pool(effects, variances):
    """Random-effects (DerSimonian-Laird) pooled effect of two or more studies:
    {"pooled", "ci_low", "ci_high", "tau2", "i2", "q", "weights"} (weights as shares of 1)."""
    if len(effects) < 2:
        raise ValueError("a pooled figure needs two or more studies")
    weights = [1 / variance for variance in variances]
    total = sum(weights)
    q = sum(w * e ** 2 for w, e in zip(weights, effects)) - sum(w * e for w, e in zip(weights, effects)) ** 2 / total
    df = len(effects) - 1
    tau2 = (q - df) / (total - sum(w ** 2 for w in weights) / total)
    # Truncated at 0 (Q < df), where the random-effects result is the fixed-effect one.
    if tau2 <= 0:
        tau2 = 0.0
    else:
        weights = [1 / (variance + tau2) for variance in variances]
        total = sum(weights)
    shares = [w / total for w in weights]
    pooled = sum(share * e for share, e in zip(shares, effects))
    half = CRITICAL * math.sqrt(1 / total)
    return {"pooled": pooled, "ci_low": pooled - half, "ci_high": pooled + half, "tau2": tau2,
            "i2": max(0.0, (q - df) / q) if q > 0 else 0.0, "q": q, "weights": shares}


def time_windows(items, window=TIME_WINDOW):
    """Items ({"days": ...}) in groups whose time frames lie within `window` of the group's earliest."""
    groups = []
    for item in sorted(items, key=lambda item: item["days"]):
        if groups and item["days"] <= groups[-1][0]["days"] * (1 + window):
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def arm_role(group, arms, single_group):
    """'treated', 'control' or None for a results group, from the registered arm it maps to."""
    if CONTROL_WORDS.search(group["title"] or ""):
        return "control"
    arm_type = arms.get(group["arm_label"])
    if arm_type in TREATED_ARMS:
        return "treated"
    if arm_type in CONTROL_ARMS:
        return "control"
    if arm_type is None and single_group:
        return "treated"
    return None


def safety_rows(studies, trial_groups, arms, single_groups, posted_trials):
    """(synthesis_safety rows, exclusions) from on-topic `studies` (evidence rows), each
    trial's adverse-event groups and arms."""
    cells, excluded = defaultdict(list), []
    for study in studies:
        key = (study["intervention"] or "intervention not stated", study["route"] or "route not stated")
        trial_id = study["trial_id"]
        groups = [g for g in trial_groups.get(trial_id, []) if g["serious_at_risk"] is not None]
        treated = [g for g in groups
                   if arm_role(g, arms.get(trial_id, {}), trial_id in single_groups or len(groups) == 1) == "treated"]
        if treated:
            cells[key].append({
                "study_id": study["study_id"], "nct_id": study["nct_id"], "work_id": study["work_id"],
                "source": "posted results", "groups": [g["title"] for g in treated],
                "patients": sum(g["serious_at_risk"] for g in treated),
                "events": sum(g["serious_affected"] or 0 for g in treated)})
        elif groups:
            excluded.append(exclusion("safety", study, "serious adverse events",
                                      "no adverse-event group maps to a cell-therapy (experimental) arm"))
        elif study["safety"] == "no serious adverse events" and study["n"] and all_treated(study, single_groups):
            cells[key].append({
                "study_id": study["study_id"], "nct_id": study["nct_id"], "work_id": study["work_id"],
                "source": "paper: no serious adverse events among its N", "groups": [],
                "patients": study["n"], "events": 0})
        elif trial_id in posted_trials:
            excluded.append(exclusion("safety", study, "serious adverse events",
                                      "posted results give no serious adverse event counts"))
        elif NOT_PATIENTS.search(study["design"] or "") and study["safety"]:
            excluded.append(exclusion("safety", study, "serious adverse events",
                                      f"{study['design']}: not a count of patients treated"))
        elif study["safety"] == "no serious adverse events":
            excluded.append(exclusion("safety", study, "serious adverse events", (
                "the paper reports no serious adverse events but its N is not known to be all treated "
                "(not a single-group trial, single-arm study or case series)") if study["n"] else
                "the paper reports no serious adverse events but no N"))
        elif study["safety"]:
            excluded.append(exclusion("safety", study, "serious adverse events",
                                      f"the paper reports on safety ({study['safety']}); the KB holds no counts "
                                      "of its events and treated patients"))
    rows = []
    for (intervention, route), found in sorted(cells.items()):
        patients, events = sum(s["patients"] for s in found), sum(s["events"] for s in found)
        if not patients:
            continue
        low, high = exact_interval(events, patients)
        rows.append({"intervention": intervention, "route": route, "studies": len(found), "patients": patients,
                     "events": events, "proportion": events / patients, "ci_low": low, "ci_high": high,
                     "study_list": json.dumps(found, ensure_ascii=False)})
    return rows, excluded


def all_treated(study, single_groups):
    """Whether everyone a study counts got the cell therapy: a single-group trial, or a
    single-arm study or case series of patients with no controlled design."""
    if study["trial_id"] in single_groups:
        return True
    designs = set((study["design"] or "").split("; "))
    return bool(designs & SINGLE_ARM_DESIGNS) and not designs & CONTROLLED_DESIGNS \
        and not NOT_PATIENTS.search(study["design"] or "")


def exclusion(part, study, outcome, reason, trial_id=None):
    return {"part": part, "study_id": study["study_id"], "trial_id": trial_id or study["trial_id"],
            "work_id": study["work_id"], "outcome": outcome, "reason": reason}


def outcome_measure(vocabulary, title):
    """The one pooled measure an outcome title names, or (None, reason)."""
    found = sorted({t.value for t in text_tags(vocabulary, {"outcome": title}) if t.tag == "outcome"}
                   & set(POOLED_OUTCOMES))
    if len(found) == 1:
        return found[0], None
    return None, ("names several measures: " + ", ".join(found)) if found else None


def comparisons(studies, outcomes, values, groups, arms, vocabulary):
    """(usable per-study comparisons, exclusions) from controlled trials' posted outcomes."""
    usable, excluded = [], []
    for study in studies:
        trial_id = study["trial_id"]
        for outcome in outcomes.get(trial_id, []):
            measure, why = outcome_measure(vocabulary, outcome["title"])
            if not measure:
                if why:
                    excluded.append(exclusion("efficacy", study, outcome["title"], why))
                continue

            def leave(reason):
                excluded.append(exclusion("efficacy", study, f"{measure}: {outcome['title']}", reason))

            rows = values.get((trial_id, outcome["position"]), [])
            outcome_groups = {g["code"]: g for g in groups.get(trial_id, []) if g["outcome"] == outcome["position"]}
            roles = defaultdict(list)
            for code, group in outcome_groups.items():
                roles[arm_role(group, arms.get(trial_id, {}), False)].append(code)
            days = time_frame_days(outcome["time_frame"])
            if outcome["param_type"] not in MEAN_PARAMS:
                leave(f"posted as {(outcome['param_type'] or 'no parameter').lower().replace('_', ' ')}, not a mean")
            elif not roles["treated"] or not roles["control"]:
                leave(f"{len(roles['treated'])} cell-therapy group(s) and {len(roles['control'])} control group(s): "
                      "a comparison needs both")
            elif days is None:
                leave(f"time frame {outcome['time_frame']!r} names no time")
            elif len({(r['class'], r['category']) for r in rows}) != 1:
                leave("values per class or category, not one figure per group")
            else:
                summaries, reasons = {}, []
                for role in ("treated", "control"):
                    parts = []
                    for code in roles[role]:
                        value = next((r for r in rows if r["group_code"] == code), None)
                        n = (value or {}).get("analysed") or outcome_groups[code]["analysed"]
                        mean, sd, reason = group_summary(value, n, outcome["dispersion_type"]) if value else \
                            (None, None, "no value posted")
                        if reason or not sd:
                            reasons.append(f"{role} group {outcome_groups[code]['title']!r}: {reason or 'SD of 0'}")
                        parts.append((mean, sd, n))
                    summaries[role] = parts
                if reasons:
                    leave("; ".join(reasons))
                    continue
                names = {role: " + ".join(outcome_groups[code]["title"] for code in roles[role])
                         for role in ("treated", "control")}
                usable.append({"study": study, "measure": measure, "kind": outcome_kind(outcome["title"]),
                               "unit": " ".join((outcome["unit"] or "").casefold().split()),
                               "title": outcome["title"], "time_frame": outcome["time_frame"], "days": days,
                               "position": outcome["position"], "groups": f"{names['treated']} vs {names['control']}",
                               "treated": combined(summaries["treated"]), "control": combined(summaries["control"])})
    return usable, excluded


def meta_rows(usable):
    """(synthesis_meta rows, synthesis_meta_studies rows, exclusions) of comparable comparisons."""
    by_outcome = defaultdict(list)
    for item in usable:
        by_outcome[(item["measure"], item["kind"])].append(item)
    metas, members, excluded = [], [], []
    for (measure, kind), items in sorted(by_outcome.items()):
        for window in time_windows(items):
            kept = {}
            for item in sorted(window, key=lambda item: item["position"]):  # primary outcomes are posted first
                if item["study"]["study_id"] in kept:
                    excluded.append(exclusion("efficacy", item["study"], f"{measure}: {item['title']}",
                                              f"the study's {kept[item['study']['study_id']]['title']!r} is pooled "
                                              "for this time; one outcome per study"))
                else:
                    kept[item["study"]["study_id"]] = item
            window = sorted(kept.values(), key=lambda item: item["study"]["study_id"])
            if len(window) < 2:
                for item in window:
                    excluded.append(exclusion("efficacy", item["study"], f"{measure}: {item['title']}",
                                              f"the only comparable study of {measure} ({kind}) near day "
                                              f"{item['days']:g}: one study is not pooled"))
                continue
            effect_measure = "MD" if len({item["unit"] for item in window}) == 1 else "SMD"
            effects = [study_effect(item["treated"], item["control"], effect_measure) for item in window]
            result = pool([e for e, _ in effects], [v for _, v in effects])
            meta_id = len(metas) + 1
            days = [item["days"] for item in window]
            metas.append({
                "id": meta_id, "outcome": measure, "kind": kind,
                "unit": window[0]["unit"] if effect_measure == "MD" else None,
                "time_window": (f"day {min(days):g}" if min(days) == max(days) else
                                f"day {min(days):g} to {max(days):g} (within {TIME_WINDOW:.0%} of the earliest)"),
                "k": len(window), "effect_measure": effect_measure, "pooled": result["pooled"],
                "ci_low": result["ci_low"], "ci_high": result["ci_high"], "tau2": result["tau2"],
                "i2": result["i2"], "method": "random effects, DerSimonian-Laird, 95% Wald interval",
                "studies": json.dumps([item["study"]["study_id"] for item in window])})
            for item, (effect, variance), weight in zip(window, effects, result["weights"]):
                se = math.sqrt(variance)
                (m1, s1, n1), (m2, s2, n2) = item["treated"], item["control"]
                members.append({
                    "meta_id": meta_id, "study_id": item["study"]["study_id"], "trial_id": item["study"]["trial_id"],
                    "outcome_title": item["title"], "groups": item["groups"], "time_frame": item["time_frame"],
                    "days": item["days"],
                    "treated_n": n1, "treated_mean": m1, "treated_sd": s1,
                    "control_n": n2, "control_mean": m2, "control_sd": s2, "effect": effect, "se": se,
                    "ci_low": effect - CRITICAL * se, "ci_high": effect + CRITICAL * se, "weight": weight})
    return metas, members, excluded


def read_kb(db):
    """What the syntheses read, keyed by trial; the on-topic studies as `evidence` holds them."""
    studies = list(db.query("SELECT study_id, nct_id, trial_id, work_id, design, n, intervention, route, safety "
                            "FROM evidence WHERE on_topic = 1 ORDER BY study_id"))
    arms, single_groups = defaultdict(dict), set()
    for trial_id, label, kind in db.execute("SELECT trial_id, label, type FROM trial_arms"):
        arms[trial_id][label] = kind
    for (trial_id,) in db.execute("SELECT id FROM trials WHERE intervention_model = 'SINGLE_GROUP'"):
        single_groups.add(trial_id)
    groups = defaultdict(list)
    for row in db.query("SELECT * FROM trial_result_groups ORDER BY trial_id, position"):
        groups[row["trial_id"]].append(row)
    outcomes = defaultdict(list)
    for row in db.query("SELECT * FROM trial_result_outcomes ORDER BY trial_id, position"):
        outcomes[row["trial_id"]].append(row)
    values = defaultdict(list)
    for row in db.query("SELECT * FROM trial_outcome_values ORDER BY trial_id, position"):
        values[(row["trial_id"], row["outcome"])].append(row)
    posted = {trial_id for (trial_id,) in db.execute("SELECT trial_id FROM trial_results")}
    return studies, arms, single_groups, groups, outcomes, values, posted


def synthesize(db, vocabulary=DEFAULT_VOCABULARY, everything=False):
    """Recompute the synthesis tables from `evidence` and the posted results, unless they
    are what the tables were last computed from (with the same vocabulary files) and not
    everything: most refreshes change neither. Returns {"safety": rows, "meta": pooled analyses, "excluded": rows}."""
    studies, arms, single_groups, groups, outcomes, values, posted = read_kb(db)
    rules = [path.read_bytes().decode() for path in sorted(Path(vocabulary).glob("*.tsv"))]
    inputs = {"": inputs_digest(studies, arms, single_groups, groups, outcomes, list(values.items()), posted, rules)}
    if not everything and inputs_of(db, "synthesis") == inputs:
        return {"safety": db["synthesis_safety"].count, "meta": db["synthesis_meta"].count,
                "excluded": db["synthesis_excluded"].count}
    # A study's list columns read as one text each ('; '-joined): a cell is keyed by all of a
    # study's interventions and routes together, as synthesis_safety shows them.
    studies = [{**study, **{column: "; ".join(split(study[column])) or None
                            for column in ("design", "intervention", "route", "safety")}} for study in studies]
    event_groups = {trial_id: [g for g in found if g["module"] == "events"] for trial_id, found in groups.items()}
    safety, left_safety = safety_rows(studies, event_groups, arms, single_groups, posted)
    outcome_groups = {trial_id: [g for g in found if g["module"] == "outcome"] for trial_id, found in groups.items()}
    usable, left_efficacy = comparisons([s for s in studies if s["trial_id"] in posted], outcomes, values,
                                        outcome_groups, arms, Vocabulary(vocabulary))
    metas, members, left_pooling = meta_rows(usable)
    excluded = [{"id": i, **row} for i, row in enumerate(left_safety + left_efficacy + left_pooling, 1)]
    with db.atomic():
        for table in TABLES:
            db.execute(f"DELETE FROM {table}")
        for table, rows in zip(TABLES, (safety, metas, members, excluded)):
            if rows:
                insert_rows(db, table, rows)
        inputs_kept(db, "synthesis", inputs)
    return {"safety": len(safety), "meta": len(metas), "excluded": len(excluded)}
