"""The trial page, /-/trial/{nct}, and its JSON twin /-/trial/{nct}.json: what the registry
record says (status, dates, design, arms, outcomes, eligibility, sponsor, officials, sites) and
what the KB adds to it: a warning when an open status has gone stale, the sites on a map, the
sponsor, sites and officials linked to the KB's institutions and people, the papers linked to
the trial and why, and related trials. An institution page lists its trials from here too.

Organisations are matched to institutions by `institution_key`, as related-trial ranking
(`evidence.rank_trial`) matches them, so a page names the same institutions its reasons do.
"""

import datetime
import re
from collections import defaultdict

from datasette.utils.asgi import Response
from datasette_cluster_map import TILE_LAYER

from harvest.registries import scheme_of

from ..affiliations import institution_key
from ..evidence import EXPLICIT, SHARED_TAG_WEIGHTS
from ..search import rows
from .pages import IDENTIFIER_LINKS, execute_in_time, json_list, kb_database, missing_page, page_or_json
from .json_lists import with_lists

# Statuses that say the trial is still going.
OPEN_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION")
# ClinicalTrials.gov itself shows an open trial as "Unknown status" once its record has not been
# verified for two years.
STALE_YEARS = 2
RELATED_SHOWN = 10
RELATED_PAPERS_SHOWN = 20
# Serious adverse events listed on the page (most participants affected first); the
# trial_adverse_events table holds them all.
SERIOUS_EVENTS_SHOWN = 30


async def trial_page(datasette, request):
    name, database = kb_database(datasette)
    wanted = request.url_vars["nct"]
    as_json = request.url_vars.get("format") == "json"
    nct = await execute_in_time(datasette, database, lambda conn: trial_nct(conn, wanted))
    if nct and nct != wanted:  # another registry's number, or NCT in lower case
        return Response.redirect(datasette.urls.path(f"/-/trial/{nct}" + (".json" if as_json else "")))
    context = await execute_in_time(datasette, database, lambda conn: trial_context(conn, nct)) if nct else None
    if context is None:
        return await missing_page(datasette, request, f"trial {wanted}", name, query=wanted)
    return await page_or_json(datasette, request, "regenkb_trial.html", context, database=name,
                              tile_layer=tile_layer(datasette))


def tile_layer(datasette):
    """The map tiles datasette-cluster-map draws (its tile_layer setting, else OpenStreetMap's,
    which the pages' Content-Security-Policy allows); the map works without them."""
    return (datasette.plugin_config("datasette-cluster-map") or {}).get("tile_layer") or TILE_LAYER


def trial_nct(conn, identifier):
    """The NCT number of the trial a URL names: by its NCT number in any case, or by another
    registry's number the trial lists (ISRCTN, EudraCT, ...), or None."""
    found = conn.execute(
        "SELECT nct_id FROM trials WHERE nct_id = upper(?) UNION ALL SELECT t.nct_id FROM trial_ids i "
        "JOIN trials t ON t.id = i.trial_id WHERE i.identifier = ? AND i.registry IS NOT NULL LIMIT 1",
        [identifier, identifier]).fetchone()
    return found[0] if found else None


def trial_context(conn, nct, today=None):
    """Everything the trial page shows, read in one go (None for an unknown trial)."""
    found = rows(conn, "SELECT * FROM trials WHERE nct_id = ?", [nct])
    if not found:
        return None
    trial = with_lists(found[0], "trials")  # the page and its JSON give list columns as lists
    trial_id = trial["id"]
    people = rows(conn, """
        SELECT p.role, p.name, coalesce(i.name, a.institution_name, a.name) AS affiliation, a.institution_id
        FROM trial_people p LEFT JOIN affiliations a ON a.id = p.affiliation_id
        LEFT JOIN institutions i ON i.id = a.institution_id WHERE p.trial_id = ? ORDER BY p.position""", [trial_id])
    for person in people:
        person["authors"] = people_in_kb(conn, person)
    sites = rows(conn, "SELECT facility, city, state, zip, country, status, latitude, longitude, geo_source "
                       "FROM trial_sites WHERE trial_id = ? ORDER BY position", [trial_id])
    organisations = [trial["lead_sponsor"], *trial["collaborators"], *[site["facility"] for site in sites]]
    institutions = institutions_named(conn, organisations)
    for site in sites:
        site["institution"] = institutions.get(site["facility"])
    papers, related_by_paper = linked_papers(conn, trial_id, nct)
    shown = {paper["work_id"] for paper in papers}
    return {
        "trial": trial,
        "warning": status_warning(trial, today or datetime.date.today()),
        "eligibility": eligibility_lists(trial.get("eligibility_criteria")),  # none in a KB served unmigrated
        "identifiers": [{**row, "link_kind": link_kind(row["identifier"])} for row in rows(
            conn, "SELECT identifier, registry, id_type, domain FROM trial_ids WHERE trial_id = ? ORDER BY position",
            [trial_id])],
        "conditions": rows(conn, "SELECT kind, condition, mesh_id FROM trial_conditions WHERE trial_id = ? "
                                 "ORDER BY kind, position", [trial_id]),
        "arms": rows(conn, "SELECT label, type, description FROM trial_arms WHERE trial_id = ? ORDER BY position",
                     [trial_id]),
        "interventions": [{**row, "arm_labels": json_list(row["arm_labels"]),
                           "other_names": json_list(row["other_names"])} for row in rows(
            conn, "SELECT type, name, description, arm_labels, other_names FROM trial_interventions "
                  "WHERE trial_id = ? ORDER BY position", [trial_id])],
        "outcomes": rows(conn, "SELECT kind, measure, time_frame, description FROM trial_outcomes WHERE trial_id = ? "
                               "ORDER BY position", [trial_id]),
        "sponsor": {"name": trial["lead_sponsor"], "institution": institutions.get(trial["lead_sponsor"])},
        "collaborators": [{"name": name, "institution": institutions.get(name)} for name in trial["collaborators"]],
        "people": people,
        "sites": sites,
        "map": [{"lat": site["latitude"], "lon": site["longitude"],
                 "label": ", ".join(filter(None, (site["facility"], site["city"], site["country"])))}
                for site in sites if site["latitude"] is not None and site["longitude"] is not None],
        "papers": papers,
        "related_papers": [paper for paper in rows(conn, f"""
            SELECT r.work_id, r.score, r.reasons, w.title, w.year, w.journal, w.pmid FROM related_trials r
            JOIN works w ON w.id = r.work_id WHERE r.trial_id = ? ORDER BY r.score DESC, w.year DESC
            LIMIT {RELATED_PAPERS_SHOWN + len(shown)}""", [trial_id]) if paper["work_id"] not in shown][
            :RELATED_PAPERS_SHOWN],
        "evidence": next((with_lists(row, "evidence") for row in rows(
            conn, "SELECT * FROM evidence WHERE trial_id = ?", [trial_id])), None),
        "references": rows(conn, """
            SELECT r.type, r.citation, r.pmid, r.doi, r.cited_work_id, w.title FROM trial_references r
            LEFT JOIN works w ON w.id = r.cited_work_id WHERE r.trial_id = ? ORDER BY r.position""", [trial_id]),
        "related_trials": related_trials(conn, trial_id, related_by_paper),
        "results": posted_results(conn, trial_id),
        "records": rows(conn, "SELECT source, source_id, version, retrieved_at, origin FROM records "
                              "WHERE trial_id = ? ORDER BY source", [trial_id]),
    }


def status_warning(trial, today):
    """Why an open status ("recruiting", "active", ...) is probably out of date, in words, or None."""
    if trial["overall_status"] not in OPEN_STATUSES:
        return None
    reasons = []
    completion = trial["completion_date"]
    if completion and completion < today.isoformat()[:len(completion)]:  # "2021-12" has passed in 2022-01
        reasons.append(f"its completion date ({completion}) has passed")
    updated = trial["last_update_posted"]
    if updated:
        years = (today - datetime.date.fromisoformat((updated + "-01-01")[:10])).days / 365.25
        if years > STALE_YEARS:
            reasons.append(f"it was last updated on {updated}, {int(years)} years ago")
    if not reasons:
        return None
    status = trial["overall_status"].replace("_", " ").lower()
    return (f"The registry still says “{status}”, but {' and '.join(reasons)}: the status is probably out of "
            f"date (ClinicalTrials.gov calls such a trial's status unknown). Ask the sponsor or look for its papers.")


# "Inclusion Criteria:", "Key Exclusion Criteria:", "-  INCLUSION CRITERIA:" (a legacy XML bullet),
# "Inclusion criteria for controls:" (a qualifier), "Exclusion Criteria: none" (a first line).
CRITERIA_HEADING = re.compile(r"[-*•\s]*(?:(?:key|main|major|general|specific|additional)\s+)?"
                              r"(inclusion|exclusion)\s+criteria\b(?:([^:]{0,60}):\s*(.*)|\s*)", re.I)
# "* item", "- item", "1. item", "1) item", "(a) item"; indented two spaces a level (v2's markdown).
CRITERION = re.compile(r"(\s*)(?:[-*•+]|\d{1,3}[.)]|\(\d{1,3}\)|[a-z][.)]|\([a-z]\))\s+(.*)")
# v2 writes the criteria in markdown, which escapes punctuation: "\>= 4", "\[Eichenfeld 2004\]".
MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def eligibility_lists(criteria):
    """{"text", "inclusion", "exclusion"} of a registry's eligibility criteria (None for none).

    The items of each list are {"text", "level", "note"}: `level` 1 and more for a nested item,
    `note` for a line between listed items that is no criterion ("For parent participants:").
    Both lists are empty when the text does not split: it has no inclusion or exclusion heading,
    or text before the first one ("Eligibility criteria:"); the page then shows `text` whole.
    """
    if not criteria:
        return None
    text = MARKDOWN_ESCAPE.sub(r"\1", criteria)
    sections = {"inclusion": [], "exclusion": []}
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        heading = CRITERIA_HEADING.fullmatch(line)
        if heading:
            current = sections[heading.group(1).lower()]
            if (heading.group(2) or "").strip():
                current.append((line.split(":")[0].strip(" -*•") + ":", 0, None))
            if (heading.group(3) or "").strip():
                current.append((heading.group(3).strip(), 0, False))
            continue
        if current is None:
            return {"text": text, "inclusion": [], "exclusion": []}
        item = CRITERION.fullmatch(line)
        if item:
            current.append((item.group(2).strip(), min(len(item.group(1).expandtabs(4)) // 2, 3), True))
        else:
            current.append((line.strip(), 0, False))
    lists = {kind: [{"text": line, "level": level,
                     "note": marked is None or (not marked and any(m for _, _, m in items))}
                    for line, level, marked in items] for kind, items in sections.items()}
    return {"text": text, **lists}


def posted_results(conn, trial_id):
    """The trial's posted results in short (None when it posted none): each outcome's values per
    group ("22 (11)": value and spread; "5.2 [3.1, 7.0]": value and limits), and serious adverse
    events and deaths per group."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'trial_results'").fetchone():
        return None  # a KB loaded before posted results were stored, served as it is (kb serve does not migrate)
    details = rows(conn, "SELECT events_time_frame, limitations FROM trial_results WHERE trial_id = ?", [trial_id])
    if not details:
        return None
    groups = defaultdict(list)
    for group in rows(conn, "SELECT module, outcome, code, title, analysed, deaths_affected, deaths_at_risk, "
                            "serious_affected, serious_at_risk FROM trial_result_groups WHERE trial_id = ? "
                            "ORDER BY position", [trial_id]):
        groups[(group["module"], group["outcome"])].append(group)
    values = defaultdict(dict)
    for value in rows(conn, "SELECT outcome, class, category, group_code, value, spread, lower_limit, upper_limit "
                            "FROM trial_outcome_values WHERE trial_id = ? ORDER BY position", [trial_id]):
        label = " · ".join(filter(None, (value["class"], value["category"])))
        values[value["outcome"]].setdefault(label, {})[value["group_code"]] = value_text(value)
    outcomes = []
    for outcome in rows(conn, "SELECT position, type, title, time_frame, unit, param_type, dispersion_type "
                              "FROM trial_result_outcomes WHERE trial_id = ? ORDER BY position", [trial_id]):
        columns = groups[("outcome", outcome["position"])]
        outcomes.append({**outcome, "groups": columns, "rows": [
            {"label": label, "cells": [cells.get(group["code"], "") for group in columns]}
            for label, cells in values[outcome["position"]].items()]})
    event_groups = groups[("events", None)]
    serious = defaultdict(dict)
    for event in rows(conn, "SELECT term, organ_system, group_code, affected, at_risk FROM trial_adverse_events "
                            "WHERE trial_id = ? AND kind = 'serious' ORDER BY position", [trial_id]):
        serious[(event["term"], event["organ_system"])][event["group_code"]] = event
    events = sorted(serious.items(), key=lambda item: -sum(e["affected"] or 0 for e in item[1].values()))
    return {**details[0], "outcomes": outcomes, "event_groups": event_groups, "serious_count": len(events),
            "serious": [{"term": term, "organ_system": organ_system,
                         "cells": [by_group.get(group["code"], {}) for group in event_groups]}
                        for (term, organ_system), by_group in events[:SERIOUS_EVENTS_SHOWN]]}


def value_text(value):
    text = value["value"] or ""
    if value["spread"]:
        text += f" ({value['spread']})"
    if value["lower_limit"] or value["upper_limit"]:
        text += f" [{value['lower_limit'] or ''}, {value['upper_limit'] or ''}]"
    return text


def link_kind(identifier):
    """The IDENTIFIER_LINKS kind that links a registry number (None: shown as text)."""
    found = scheme_of(identifier)
    kind = {"nct": "nct_id"}.get(found[0], found[0]) if found else None
    return kind if kind in IDENTIFIER_LINKS else None


def institutions_named(conn, names):
    """{organisation name: {"id", "name"}} for the names (sponsor, collaborators, site facilities)
    that are an institution of the KB, the one with most works where several share the key."""
    keys = {name: institution_key(name) for name in dict.fromkeys(filter(None, names))}
    keys = {name: key for name, key in keys.items() if key}
    words = {max(re.findall(r"\w+", name) or [""], key=len) for name in keys} - {""}
    if not words:
        return {}
    candidates = rows(conn, "SELECT id, name, name_forms FROM institutions WHERE "
                      + " OR ".join("name_forms LIKE ?" for _ in words) + " ORDER BY works DESC, id",
                      [f"%{word}%" for word in words])
    by_key = {}
    for institution in candidates:
        for form in [institution["name"], *json_list(institution["name_forms"])]:
            by_key.setdefault(institution_key(form), {"id": institution["id"], "name": institution["name"]})
    return {name: by_key[key] for name, key in keys.items() if key in by_key}


def people_in_kb(conn, person):
    """The KB's people a trial official is: same surname and first initial, and either the same
    institution or the same full name ("Joanne Kurtzberg, MD" is Joanne Kurtzberg)."""
    written = (person["name"] or "").split(",")[0].split()
    if not written:
        return []
    whole = " ".join(written)
    place = institution_key(person["affiliation"] or "")
    found = []
    for author in rows(conn, "SELECT id, name, institutions FROM authors WHERE last_name = ? AND fore_name LIKE ? "
                             "ORDER BY works DESC, id", [written[-1], written[0][0] + "%"]):
        places = {institution_key(re.sub(r" \(\d+\)$", "", item)) for item in json_list(author["institutions"])}
        if author["name"] == whole or (place and place in places):
            found.append({"id": author["id"], "name": author["name"]})
    return found


def linked_papers(conn, trial_id, nct):
    """The papers linked to the trial (links: the paper names the trial, the trial lists the paper,
    or the matcher found them one study), each with its kind in words and the evidence; and
    {other trial id: reasons} for trials linked to the same papers or to this trial."""
    links = rows(conn, """
        SELECT l.relation, l.score, l.evidence, l.asserted_by,
          CASE WHEN l.from_trial_id = :id THEN l.to_scheme ELSE l.from_scheme END AS scheme,
          CASE WHEN l.from_trial_id = :id THEN l.to_id ELSE l.from_id END AS identifier,
          CASE WHEN l.from_trial_id = :id THEN l.to_work_id ELSE l.from_work_id END AS work_id,
          CASE WHEN l.from_trial_id = :id THEN l.to_trial_id ELSE l.from_trial_id END AS other_trial_id,
          w.title, w.year, w.journal, w.pmid, w.doi
        FROM links l
        LEFT JOIN works w ON w.id = CASE WHEN l.from_trial_id = :id THEN l.to_work_id ELSE l.from_work_id END
        WHERE l.from_trial_id = :id OR l.to_trial_id = :id
        ORDER BY l.relation = 'probably_same_study', w.year DESC""", {"id": trial_id})
    related = defaultdict(list)
    papers = []
    for link in links:
        if link["other_trial_id"] is not None:
            related[link["other_trial_id"]].append(f"linked: {link['relation'].replace('_', ' ')}")
            continue
        if link["relation"] in EXPLICIT:
            link["kind"] = EXPLICIT[link["relation"]].format(nct=nct)
        elif link["relation"] == "probably_same_study":
            link["kind"] = f"probably the same study (match score {link['score'] or 0:.2f})"
        else:
            link["kind"] = link["relation"].replace("_", " ")
        papers.append(link)
    work_ids = [paper["work_id"] for paper in papers if paper["work_id"] is not None]
    if work_ids:
        marks = ", ".join("?" for _ in work_ids)
        for other, title in conn.execute(f"""
                SELECT coalesce(l.from_trial_id, l.to_trial_id), w.title FROM links l
                JOIN works w ON w.id = coalesce(l.from_work_id, l.to_work_id)
                WHERE (l.from_work_id IN ({marks}) OR l.to_work_id IN ({marks}))
                  AND coalesce(l.from_trial_id, l.to_trial_id) != ?""", [*work_ids, *work_ids, trial_id]):
            if other is not None:
                related[other].append(f"linked to the same paper: {title}")
    return papers, related


def related_trials(conn, trial_id, related_by_paper):
    """Other trials of the KB, most alike first: linked to the same papers, then sharing the
    evidence tags related-trial ranking weighs (intervention, stroke type, cell source, route,
    origin), each with its reasons in words."""
    scores = defaultdict(float)
    reasons = defaultdict(list)
    for other, said in related_by_paper.items():
        scores[other] += 3.0 * len(said)
        reasons[other].extend(said)
    shared = defaultdict(lambda: defaultdict(list))
    marks = ", ".join("?" for _ in SHARED_TAG_WEIGHTS)
    for other, tag, value in conn.execute(f"""
            SELECT o.subject_id, o.tag, o.value FROM tags t
            JOIN tags o ON o.tag = t.tag AND o.value = t.value AND o.subject = 'trial' AND o.subject_id != t.subject_id
            WHERE t.subject = 'trial' AND t.subject_id = ? AND t.tag IN ({marks})
            ORDER BY o.tag, o.value""", [trial_id, *SHARED_TAG_WEIGHTS]):
        shared[other][tag].append(value)
        scores[other] += SHARED_TAG_WEIGHTS[tag]
    for other, tags in shared.items():
        reasons[other].extend(f"same {tag.replace('_', ' ')}: {', '.join(values)}" for tag, values in tags.items())
    best = sorted(scores, key=lambda other: (-scores[other], other))[:RELATED_SHOWN]
    if not best:
        return []
    found = {row["id"]: row for row in rows(
        conn, f"SELECT id, nct_id, brief_title, overall_status, phases, start_year FROM trials "
              f"WHERE id IN ({', '.join('?' for _ in best)})", best)}
    return [{**found[other], "phases": json_list(found[other]["phases"]), "score": round(scores[other], 3),
             "reasons": "; ".join(reasons[other])} for other in best if other in found]


def institution_trials(conn, institution):
    """The trials an institution sponsors, collaborates on, hosts as a site or employs an
    official of, each with those roles, newest first."""
    forms = [institution["name"], *json_list(institution["name_forms"])]
    keys = {institution_key(form) for form in forms if form} - {""}
    words = {max(re.findall(r"\w+", form) or [""], key=len) for form in forms if form} - {""}
    roles = defaultdict(set)
    if words:
        like = " OR ".join("{column} LIKE ?" for _ in words)
        params = [f"%{word}%" for word in words]
        for trial_id, sponsor, collaborators in conn.execute(
                "SELECT id, lead_sponsor, collaborators FROM trials WHERE "
                + like.format(column="lead_sponsor") + " OR " + like.format(column="collaborators"), params * 2):
            if institution_key(sponsor or "") in keys:
                roles[trial_id].add("sponsor")
            if any(institution_key(name) in keys for name in json_list(collaborators)):
                roles[trial_id].add("collaborator")
        for trial_id, facility in conn.execute(
                "SELECT trial_id, facility FROM trial_sites WHERE " + like.format(column="facility"), params):
            if institution_key(facility or "") in keys:
                roles[trial_id].add("site")
    for (trial_id,) in conn.execute("SELECT p.trial_id FROM trial_people p "
                                    "JOIN affiliations a ON a.id = p.affiliation_id WHERE a.institution_id = ?",
                                    [institution["id"]]):
        roles[trial_id].add("official's institution")
    if not roles:
        return []
    found = rows(conn, f"SELECT id, nct_id, brief_title, overall_status, phases, start_year FROM trials "
                       f"WHERE id IN ({', '.join('?' for _ in roles)}) ORDER BY start_year DESC, nct_id", list(roles))
    return [{**trial, "phases": json_list(trial["phases"]), "roles": sorted(roles[trial["id"]])} for trial in found]
