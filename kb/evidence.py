"""The evidence layer of the KB: tags for every work and trial (`tags`), one row per study
(`evidence`, a work and the trial it reports being one study), and trials ranked for each
on-topic work with their reasons (`related_trials`).

A work and a trial are one study on an identifier link (registered_as, reported_in) or a
probably_same_study link scored at least `linking.FUSE_THRESHOLD`, which a link reaches only
with two independent strong reasons. A weaker link leaves two rows, each naming the other
in `possibly_same_as`."""

import hashlib
import json
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from sys import intern
from typing import NamedTuple

from . import gapmap
from .affiliations import institution_key
from .classify import DEFAULT_VOCABULARY, Tag, Vocabulary, by_precedence, phase_value, trial_tags, work_tags
from .db import inputs_digest, inputs_kept, inputs_of, insert_rows
from .linking import FUSE_THRESHOLD, distinctive_words, parse_list
from .text import fold

STUDY_RELATIONS = ("registered_as", "reported_in")
SAME_STUDY = "probably_same_study"
EXPLICIT = {"registered_as": "the paper names {nct}", "reported_in": "the trial's references list the paper",
            "background_for": "the trial cites the paper as background"}
TAG_COLUMNS = ("design", "species", "animal_model", "intervention", "cell_source", "origin", "route", "outcome",
               "safety")
COARSE_STROKE = ("ischaemic", "haemorrhagic")
# The evidence columns that hold a JSON list of values (the tag columns, outcome as outcomes).
LIST_COLUMNS = ("stroke_type", "stroke_detail", *("outcomes" if column == "outcome" else column
                                                  for column in TAG_COLUMNS))
SHARED_TAG_WEIGHTS = {"intervention": 1.0, "stroke_type": 0.5, "cell_source": 0.5, "route": 0.5, "origin": 0.25}
RELATED_KEPT = 10
# A refresh that tags at least this many works and trials tags half of them in a second
# process when a core is free: tagging is about 1 CPU ms a synthetic work (24 CPU s at
# 20,000). At 2,000 works, 1.9 s in one process took 1.2-1.4 s wall split, this process
# spending 0.1-0.2 CPU s on starting the other and on the texts and tags sent; a small
# refresh (and every test) stays in one process.
SPLIT_FROM = 2_000
STOP = set("a an and the of in on for with to by at from as after before into study trial patients clinical".split())


def classify(db, vocabulary=DEFAULT_VOCABULARY, everything=False, progress=None):
    """Tag the works and trials whose text changed since they were last tagged (every one
    with everything=True), then bring the evidence, related_trials and gap_map tables up to
    date. Returns {"works": n, "trials": n, "tags": n, "studies": n, "on_topic": n, ...}.

    A subject's tags are kept in `tagged` with a digest of the text and vocabulary they
    came from: tagging (a hundred patterns over each abstract) is most of the time, and
    after a load most subjects are as they were. In the same way a study's evidence row and
    a work's related trials are computed again only when what they are computed from
    changed (its digest in `refresh_inputs`), so the tags of the others are never read.
    Many subjects to tag are tagged half in a second process when a core is free (`tags_of`).
    progress(label, items), if given, wraps the subjects as they are tagged, the studies
    as they are written and the works as their trials are ranked."""
    vocab = Vocabulary(vocabulary)
    works, trials = read_works(db), read_trials(db)
    subjects = {("work", work_id): work for work_id, work in works.items()}
    subjects.update({("trial", trial_id): trial for trial_id, trial in trials.items()})
    version = vocabulary_digest(vocab)
    digests = {node: digest(version, subject) for node, subject in subjects.items()}
    known = {} if everything else {(kind, subject_id): found for kind, subject_id, found in
                                   db.execute("SELECT subject, subject_id, digest FROM tagged")}
    stale = [node for node in subjects if known.get(node) != digests[node]]
    fresh = dict(zip(stale, tags_of(vocab, [(node[0], subjects[node]) for node in stale], progress)))
    tags = KeptTags(db, fresh)
    on_topic = {node for node in db.execute("SELECT subject, subject_id FROM tags WHERE tag = 'relevance'")
                if node in subjects and node not in fresh}
    on_topic.update(node for node, found in fresh.items() if any(t.tag == "relevance" for t in found))
    studies = studies_of(db, works, trials, digests)
    written, gone = changed_items(db, "evidence", {s.study_id: s.inputs for s in studies}, everything,
                                  "SELECT study_id FROM evidence")
    changed = [s for s in studies if s.study_id in written]
    rows = study_rows(works, trials, tags, progress("evidence: studies written", changed) if progress else changed)
    ranked = related_inputs(db, works, trials, on_topic, digests)
    ranked_again, unranked = changed_items(db, "related_trials", {str(w): r.inputs for w, r in ranked.items()},
                                           everything, "SELECT DISTINCT work_id FROM related_trials")
    again = [(w, ranked[w]) for w in ranked if str(w) in ranked_again]
    related = related_rows(works, trials, tags,
                           progress("evidence: works' trials ranked", again) if progress else again)
    tag_rows = ((kind, subject_id, t.tag, t.value, t.field, t.span[:300], t.rule)
                for (kind, subject_id), found in fresh.items() for t in found)
    with db.atomic():
        if everything:
            db.execute("DELETE FROM tags")
            db.execute("DELETE FROM tagged")
        db.execute("DELETE FROM tags WHERE (subject = 'work' AND subject_id NOT IN (SELECT id FROM works)) "
                   "OR (subject = 'trial' AND subject_id NOT IN (SELECT id FROM trials))")
        db.execute("DELETE FROM tagged WHERE (subject = 'work' AND subject_id NOT IN (SELECT id FROM works)) "
                   "OR (subject = 'trial' AND subject_id NOT IN (SELECT id FROM trials))")
        db.conn.executemany("DELETE FROM tags WHERE subject = ? AND subject_id = ?", stale)
        insert_rows(db, "tags", tag_rows, columns=("subject", "subject_id", "tag", "value", "field", "span", "rule"))
        insert_rows(db, "tagged", [(*node, digests[node], json.dumps(fresh[node])) for node in stale],
                    columns=("subject", "subject_id", "digest", "found"))
        db.conn.executemany("DELETE FROM evidence WHERE study_id = ?", [(study_id,) for study_id in gone])
        insert_rows(db, "evidence", rows)
        inputs_kept(db, "evidence", written, gone)
        db.conn.executemany("DELETE FROM related_trials WHERE work_id = ?",
                            [(int(work_id),) for work_id in (*ranked_again, *unranked)])
        insert_rows(db, "related_trials", related)
        inputs_kept(db, "related_trials", ranked_again, unranked)
        cells = gapmap.rebuild(db, everything)
    counted = db.execute("SELECT count(*), coalesce(sum(on_topic), 0) FROM evidence").fetchone()
    return {"works": len(works), "trials": len(trials), "tags": db["tags"].count, "studies": counted[0],
            "on_topic": counted[1], "gap_map_cells": cells, "tagged": len(stale), "studies_written": len(rows),
            "works_ranked": len(ranked_again)}


def tags_of(vocab, subjects, progress=None):
    """The tags of these (kind, subject) pairs, in their order. With SPLIT_FROM of them or
    more and a core free (kb.bulk.core_free), the second half is tagged in a second process
    while this one tags the first: a subject's tags depend on its texts and the vocabulary
    alone, so they are the same either way."""
    from .bulk import core_free

    if len(subjects) < SPLIT_FROM or not core_free():
        return tagged(vocab, subjects, progress)
    half = len(subjects) // 2
    with ProcessPoolExecutor(1) as pool:
        elsewhere = pool.submit(tagged_in, vocab, subjects[half:])
        return tagged(vocab, subjects[:half], progress) + [[Tag._make(tag) for tag in found]
                                                           for found in elsewhere.result()]


def tagged(vocab, subjects, progress=None):
    """tags_of() in one process; progress(label, items), if given, wraps the subjects."""
    return [(work_tags if kind == "work" else trial_tags)(vocab, subject) for kind, subject in
            (progress("evidence: works and trials tagged", subjects) if progress else subjects)]


def tagged_in(vocab, subjects):
    """tagged() in a process of its own, each tag sent back as a plain tuple: a named tuple
    is unpickled through its class, about 4 µs a tag (0.13 s of 2,000 works' 31,000 tags),
    a plain one and Tag._make in a sixth of that."""
    return [[tuple(tag) for tag in found] for found in tagged(vocab, subjects)]


class KeptTags(dict):
    """Tags of subjects: those just tagged, and those tagged before, read from `tagged` when
    first asked for. Tags read back share one string per tag, value, field and rule: each a
    new string per tag held about 70 MB of a refresh of 20,000 works."""

    def __init__(self, db, fresh):
        super().__init__(fresh)
        self.db = db

    def __missing__(self, node):
        (found,) = self.db.execute("SELECT found FROM tagged WHERE subject = ? AND subject_id = ?", node).fetchone()
        self[node] = [Tag(intern(tag), intern(value), intern(field), span, intern(rule))
                      for tag, value, field, span, rule in json.loads(found)]
        return self[node]


def changed_items(db, step, current, everything, present_sql):
    """({item: digest} of the items of `step` whose inputs changed, every item with
    everything=True; items that have rows or inputs but are no more): what a refresh writes
    and what it deletes."""
    previous = inputs_of(db, step)
    present = {str(item) for (item,) in db.execute(present_sql)}
    written = {item: inputs for item, inputs in current.items() if everything or previous.get(item) != inputs}
    return written, (present | previous.keys()) - current.keys()


def vocabulary_digest(vocab):
    """What a vocabulary's rules are: edited rules tag every subject again."""
    rules = [(r.tag, r.value, r.pattern.pattern, r.implies, sorted(r.fields), sorted(r.unless), r.name)
             for r in vocab.rules]
    return hashlib.sha1(json.dumps([rules, sorted(vocab.structured.items())]).encode()).hexdigest()


def digest(version, subject):
    """The text and facts a subject is tagged from, with the vocabulary's digest."""
    return hashlib.sha1((version + json.dumps(subject, sort_keys=True, default=sorted)).encode()).hexdigest()


def read_works(db):
    works = {row["id"]: {**row, "keywords": parse_list(row["keywords"]), "pub_types": parse_list(row["pub_types"]),
                         "mesh": []}
             for row in db.query("SELECT id, pmid, title, abstract, keywords, pub_types, year FROM works")}
    for work_id, name in db.execute("SELECT wm.work_id, m.name FROM work_mesh wm JOIN mesh_terms m ON m.id = wm.mesh_id"):
        works[work_id]["mesh"].append(intern(name))  # 15 headings a work, from a few thousand names
    return works


def read_trials(db):
    trials = {row["id"]: {**row, "phases": parse_list(row["phases"]), "conditions": parse_list(row["conditions"]),
                          "condition_mesh": parse_list(row["condition_mesh"]), "keywords": parse_list(row["keywords"]),
                          "interventions": [], "outcomes": [], "organisations": [], "people": set()}
              for row in db.query("SELECT id, nct_id, brief_title, official_title, phases, conditions, condition_mesh, "
                                  "keywords, allocation, intervention_model, study_type, enrollment, brief_summary, "
                                  "start_year, lead_sponsor, collaborators FROM trials")}
    for trial_id, name, description, other in db.execute(
            "SELECT trial_id, name, description, other_names FROM trial_interventions"):
        trials[trial_id]["interventions"].append(" ".join(filter(None, (name, description, " ".join(parse_list(other))))))
    for trial_id, label, description in db.execute("SELECT trial_id, label, description FROM trial_arms"):
        trials[trial_id]["interventions"].append(" ".join(filter(None, (label, description))))
    for trial_id, measure in db.execute("SELECT trial_id, measure FROM trial_outcomes"):
        trials[trial_id]["outcomes"].append(measure or "")
    for trial in trials.values():
        trial["organisations"] = [("sponsor", trial["lead_sponsor"])] + [
            ("collaborator", name) for name in parse_list(trial["collaborators"])]
    for trial_id, facility in db.execute("SELECT trial_id, facility FROM trial_sites WHERE facility IS NOT NULL"):
        trials[trial_id]["organisations"].append(("site", facility))
    for trial_id, name, institution in db.execute(
            "SELECT p.trial_id, p.name, coalesce(i.name, a.institution_name) FROM trial_people p "
            "LEFT JOIN affiliations a ON a.id = p.affiliation_id LEFT JOIN institutions i ON i.id = a.institution_id"):
        if institution:
            trials[trial_id]["organisations"].append(("official's institution", institution))
        surname = (name or "").split(",")[0].split()
        if surname:
            trials[trial_id]["people"].add(fold(surname[-1]))
    return trials


def values(found, tag):
    return sorted({t.value for t in found if t.tag == tag})


def study_groups(db, works, trials):
    """Works and trials that are one study (a paper and the trial it reports), as groups."""
    parent = {}

    def root(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    marks = ", ".join("?" for _ in STUDY_RELATIONS)
    for work_id, trial_id in db.execute(
            f"SELECT coalesce(from_work_id, to_work_id), coalesce(from_trial_id, to_trial_id) FROM links "
            f"WHERE (relation IN ({marks}) OR (relation = ? AND score >= ?)) "
            f"AND coalesce(from_work_id, to_work_id) IS NOT NULL "
            f"AND coalesce(from_trial_id, to_trial_id) IS NOT NULL", (*STUDY_RELATIONS, SAME_STUDY, FUSE_THRESHOLD)):
        if work_id in works and trial_id in trials:
            parent[root(("work", work_id))] = root(("trial", trial_id))
    groups = defaultdict(list)
    for node in [("work", w) for w in works] + [("trial", t) for t in trials]:
        groups[root(node)].append(node)
    return list(groups.values())


class Study(NamedTuple):
    study_id: str
    members: list  # [("work", id) or ("trial", id)], sorted
    registry_ids: list
    possibly: list  # "possibly the same study as ..." lines
    inputs: str  # digest of the above and of its members' texts (which their tags come from)


def studies_of(db, works, trials, digests):
    """Every study: its works and trials, the registry ids and weaker same-study links its
    row shows, and a digest of everything its row is computed from."""
    registry = defaultdict(set)
    for work_id, accession in db.execute("SELECT work_id, accession FROM registry_ids"):
        registry[("work", work_id)].add(accession)
    for trial_id, identifier in db.execute("SELECT trial_id, identifier FROM trial_ids WHERE registry IS NOT NULL"):
        registry[("trial", trial_id)].add(identifier)
    groups = study_groups(db, works, trials)
    study_of = {}
    for members in groups:
        for node in members:
            study_of[node] = study_id(members, works, trials)
    possibly = defaultdict(list)
    for work_id, trial_id, score, reasons in db.execute(
            "SELECT coalesce(from_work_id, to_work_id), coalesce(from_trial_id, to_trial_id), score, evidence "
            "FROM links WHERE relation = ? AND score < ?", [SAME_STUDY, FUSE_THRESHOLD]):
        work, trial = ("work", work_id), ("trial", trial_id)
        if work in study_of and trial in study_of and study_of[work] != study_of[trial]:
            possibly[study_of[work]].append(f"possibly the same study as {study_of[trial]} ({score:.2f}: {reasons})")
            possibly[study_of[trial]].append(f"possibly the same study as {study_of[work]} ({score:.2f}: {reasons})")
    found = []
    for members in groups:
        members = sorted(members)
        identifier = study_of[members[0]]
        ids = sorted(set().union(*(registry[node] for node in members)))
        lines = sorted(set(possibly[identifier]))
        # Most studies are one work with nothing else to show, whose own digest says it all:
        # a digest of it again cost about 0.1-0.2 CPU s at 20,000 works.
        alone = len(members) == 1 and not ids and not lines
        found.append(Study(identifier, members, ids, lines, digests[members[0]] if alone else
                           inputs_digest([digests[node] for node in members], ids, lines)))
    return found


def study_rows(works, trials, tags, studies):
    """The evidence rows of these studies."""
    rows = []
    for study in studies:
        members = study.members
        member_works = [works[i] for kind, i in members if kind == "work"]
        member_trials = [trials[i] for kind, i in members if kind == "trial"]
        # One study's designs resolve as one record's do: a paper's "randomised" and its
        # registry's single group make a randomised trial, not also a single-arm one.
        found = by_precedence([t for node in members for t in tags[node]])
        first_work = member_works[0] if member_works else None
        first_trial = min(member_trials, key=lambda t: t["nct_id"] or "") if member_trials else None
        phases = values(found, "phase")
        numbers = [int(t.value) for t in found if t.tag == "n" and t.field == "enrollment"] or \
                  [int(t.value) for t in found if t.tag == "n"]
        stroke = values(found, "stroke_type")
        on_topic = any(t.tag == "relevance" for t in found)
        rows.append({
            "study_id": study.study_id,
            "kind": " + ".join(k for k, present in (("trial", member_trials), ("work", member_works)) if present),
            "title": (first_work or {}).get("title") or first_trial["brief_title"],
            "year": (first_work or {}).get("year") or (first_trial or {}).get("start_year"),
            "nct_id": ", ".join(sorted(t["nct_id"] for t in member_trials if t["nct_id"])) or None,
            "registry_ids": ", ".join(study.registry_ids) or None,
            "pmids": ", ".join(sorted(w["pmid"] for w in member_works if w["pmid"])) or None,
            "work_id": first_work["id"] if first_work else None,
            "trial_id": first_trial["id"] if first_trial else None,
            "work_ids": json.dumps([w["id"] for w in member_works]) if len(member_works) > 1 else None,
            "on_topic": int(on_topic),
            "phase": combined_phase(phases),
            "n": max(numbers) if numbers else None,
            "stroke_type": json_array([s for s in COARSE_STROKE if s in stroke] or (
                ["stroke (type not stated)"] if any(t.tag == "topic" and t.value == "stroke" for t in found) else [])),
            "stroke_detail": json_array([s for s in stroke if s not in COARSE_STROKE]),
            **{("outcomes" if column == "outcome" else column): json_array(values(found, column))
               for column in TAG_COLUMNS},
            "possibly_same_as": " | ".join(study.possibly) or None,
        })
    return rows


def json_array(found):
    """A list column's value: a JSON array, so a facet counts each value once per study
    (Datasette's _facet_array), or NULL for none."""
    return json.dumps(found, ensure_ascii=False) if found else None


def arrays_from_joined_text(db):
    """Rewrite an evidence table an older regenkb wrote, its list columns as text joined by
    '; ', as JSON arrays (a list facet on such text is an SQL error). True if it did."""
    present = [column for column in LIST_COLUMNS if column in db["evidence"].columns_dict]
    # One classify writes every row, so the first row with a tag tells the table's form.
    first = db.execute(f"SELECT coalesce({', '.join(present)}) AS value FROM evidence WHERE value IS NOT NULL "
                       "LIMIT 1").fetchone()
    if not first or first[0].startswith("["):
        return False
    db.conn.executemany(
        f"UPDATE evidence SET {', '.join(f'{column} = ?' for column in present)} WHERE study_id = ?",
        [[json_array(gapmap.split(value)) for value in row[1:]] + [row[0]] for row in
         db.execute(f"SELECT study_id, {', '.join(present)} FROM evidence").fetchall()])
    return True


def study_id(members, works, trials):
    """Its first trial's NCT number, else PMID:... or work:... of its first work."""
    member_trials = [trials[i] for kind, i in members if kind == "trial"]
    if member_trials:
        return min(member_trials, key=lambda t: t["nct_id"] or "")["nct_id"]
    first_work = works[min(i for kind, i in members if kind == "work")]
    return f"PMID:{first_work['pmid']}" if first_work["pmid"] else f"work:{first_work['id']}"


def combined_phase(phases):
    """'1/2' from the values '1' and '2' (a registry lists both), or the text's own '1/2'."""
    single = [p for p in phases if "/" not in p]
    if len(single) > 1:
        return phase_value(single)
    return (phases or [None])[0] if len(phases) <= 1 else "; ".join(phases)


class Ranked(NamedTuple):
    candidates: list  # trial ids: every on-topic trial and those linked to the work
    linked: dict  # {trial id: (relation, score, evidence)}
    institutions: dict
    surnames: set
    inputs: str  # digest of the above, the work's text and its candidates' texts


def related_inputs(db, works, trials, on_topic, digests):
    """{work id: Ranked} for each on-topic work (or any work a trial is linked to) that has a
    trial to rank: what its related trials are computed from."""
    linked = defaultdict(dict)
    for work_id, trial_id, relation, score, evidence in db.execute(
            "SELECT coalesce(from_work_id, to_work_id), coalesce(from_trial_id, to_trial_id), relation, score, "
            "evidence FROM links WHERE coalesce(from_work_id, to_work_id) IS NOT NULL "
            "AND coalesce(from_trial_id, to_trial_id) IS NOT NULL"):
        if work_id in works and trial_id in trials:
            linked[work_id][trial_id] = (relation, score, evidence)
    topical_trials = [t for t in trials if ("trial", t) in on_topic]
    # Only works with a trial to rank: the institutions and surnames of every work were most
    # of this step's time and memory in a KB of papers alone.
    ranked = {work_id for work_id in works if work_id in linked or (topical_trials and ("work", work_id) in on_topic)}
    if not ranked:
        return {}
    institutions = work_institutions(db, ranked)
    surnames = work_surnames(db, ranked)
    found = {}
    for work_id in sorted(ranked):
        candidates = sorted(set(topical_trials) | set(linked[work_id]))
        found[work_id] = Ranked(candidates, linked[work_id], institutions[work_id], surnames[work_id], inputs_digest(
            digests[("work", work_id)], [(t, digests[("trial", t)], linked[work_id].get(t)) for t in candidates],
            institutions[work_id], surnames[work_id]))
    return found


def related_rows(works, trials, tags, ranked):
    """The top trials of each work in ranked ((work id, Ranked) pairs), with reasons."""
    rows = []
    for work_id, inputs in ranked:
        work = works[work_id]
        scored = []
        for trial_id in inputs.candidates:
            score, reasons = rank_trial(work, trials[trial_id], tags[("work", work_id)], tags[("trial", trial_id)],
                                        inputs.linked.get(trial_id), inputs.institutions, inputs.surnames)
            if score > 0:
                scored.append((score, trials[trial_id]["nct_id"] or "", trial_id, reasons))
        scored.sort(key=lambda s: (-s[0], s[1]))
        rows.extend({"work_id": work_id, "trial_id": trial_id, "rank": rank, "score": round(score, 3),
                     "reasons": "; ".join(reasons)}
                    for rank, (score, _, trial_id, reasons) in enumerate(scored[:RELATED_KEPT], 1))
    return rows


def work_institutions(db, wanted):
    found = defaultdict(dict)
    for work_id, name in db.execute(
            "SELECT DISTINCT waa.work_id, coalesce(i.name, af.institution_name) FROM work_author_affiliations waa "
            "JOIN affiliations af ON af.id = waa.affiliation_id LEFT JOIN institutions i ON i.id = af.institution_id"):
        if name and work_id in wanted:
            found[work_id][institution_key(name)] = name
    return found


def work_surnames(db, wanted):
    found = defaultdict(set)
    for work_id, last_name in db.execute(
            "SELECT wa.work_id, n.last_name FROM work_authors wa JOIN author_names n ON n.id = wa.name_id "
            "WHERE n.last_name IS NOT NULL"):
        if work_id in wanted:
            found[work_id].add(fold(last_name))
    return found


def rank_trial(work, trial, work_found, trial_found, link, institutions, surnames):
    """(score, reasons in words) for how closely a trial relates to a work."""
    score, reasons = 0.0, []
    if link:
        relation, strength, evidence = link
        if relation in EXPLICIT:
            score += 3.0
            reasons.append(EXPLICIT[relation].format(nct=trial["nct_id"]))
        elif relation == SAME_STUDY:
            score += 2.0 * (strength or 0.5)
            likely = "probably" if (strength or 0) >= FUSE_THRESHOLD else "possibly"
            reasons.append(f"{likely} the same study ({strength:.2f})")
    places = {}
    for role, name in trial["organisations"]:
        key = institution_key(name or "")
        # A generic name (University Hospital, Stem Cell Institute) names no one institution.
        if key in institutions and key not in places and distinctive_words(name):
            places[key] = f"same {role} institution: {institutions[key]}"
    if places:
        score += min(2.0, 1.0 * len(places))
        reasons.extend(sorted(places.values()))
    people = trial["people"] & surnames
    if people:
        score += 1.0
        reasons.append("people in common: " + ", ".join(sorted(people)))
    for tag, weight in SHARED_TAG_WEIGHTS.items():
        shared = set(values(work_found, tag)) & set(values(trial_found, tag))
        if shared:
            score += weight * len(shared)
            reasons.append(f"same {tag.replace('_', ' ')}: " + ", ".join(sorted(shared)))
    work_words = title_words(work["title"])
    trial_words = title_words(" ".join(filter(None, (trial["brief_title"], trial["official_title"]))))
    if work_words and trial_words:
        overlap = len(work_words & trial_words) / len(work_words | trial_words)
        if overlap >= 0.1:
            score += overlap
            reasons.append("titles share " + ", ".join(sorted(work_words & trial_words)))
    if score and trial["start_year"] and work["year"]:
        reasons.append(f"trial started {trial['start_year']}, paper published {work['year']}")
    return score, reasons


def title_words(text):
    return {word for word in fold(text or "").replace("-", " ").split() if len(word) > 3 and word not in STOP}
