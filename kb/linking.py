"""Finding works and trials that describe the same study when no identifier says so.

Links by identifier (a work's DataBankList naming an NCT number, a trial's reference
list naming a PMID) are asserted by the sources and stored as they load. This module adds
`probably_same_study` links: a work and a trial that share no identifier but whose
titles, institutions, people, topic, dates and numbers agree. Every link carries its score
and its reasons as readable text; nothing is merged.

An institution counts only by identity: a trial official's affiliation resolved to the same
institution id as the work's, or a sponsor, collaborator or site whose distinctive name words
are those of one of the work's institutions, in the same country. A name made only of generic
words (Stem Cell Institute, Department of Neurology, University Hospital) is no evidence.

A link reaches FUSE_THRESHOLD, the score at which the evidence table makes the work and the
trial one study, only with at least two independent strong reasons (STRONG_REASONS): titles
that share most of their distinctive words, the same team (institutions or people), the
trial's enrollment reported in the work. Weaker links stay as candidates below it.

Candidates come from blocking (shared informative title words within a window of
years), so no trial is compared with every work.
"""

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from functools import cached_property

from harvest import places

from .db import inputs_digest, inputs_kept, inputs_of, insert_rows
from .load import link_row
from .text import fold

ASSERTED_BY = "regenkb-matcher"
RELATION = "probably_same_study"
THRESHOLD = 0.5
FUSE_THRESHOLD = 0.7
# A title share this high is a strong reason; institutions and people together are one (the team).
STRONG_TITLE = 0.6
STRONG_REASONS = 2
# Below this share of (weighted) title words in common, two records are never one study.
MIN_TITLE = 0.3
WEIGHTS = {"title": 0.3, "institutions": 0.25, "people": 0.15, "topic": 0.15, "dates": 0.1, "numbers": 0.05}
IDENTIFIER_RELATIONS = ("registered_as", "reported_in", "background_for")
# A review or meta-analysis is never the report of one trial.
NOT_STUDY_REPORTS = ("Review", "Systematic Review", "Meta-Analysis", "Editorial", "Comment", "Letter")

# Words that say nothing about which study a title is about.
GENERIC = set("""
a an the of in on for with and or to by at from as via vs versus into after before during within without
study trial clinical pilot phase randomized randomised controlled open label single double blind center
multicenter safety efficacy effect effects evaluation evaluate assessment assess treatment treating therapy
therapeutic patients patient participants subjects people human humans adult adults use using based new
novel potential role following undergoing among versus compared comparison preliminary report results
""".split())
# Words of organisation names that do not tell one organisation from another.
ORGANISATION_WORDS = set("""
university universities college school faculty department dept institute institut center centre hospital
hospitals clinic clinics medical medicine sciences science health research foundation national general
of the and for de la du der fur y e inc ltd llc co corporation company group sponsor
""".split())
# Subjects that many organisations name: a name made of these and organisation words is generic.
SUBJECT_WORDS = set("""
stem cell cells neurology neurological neuroscience neurosciences neurosurgery neurosurgical neuro regenerative
biology biomedical clinical translational therapy therapies therapeutics cardiology cardiovascular brain stroke
cancer oncology surgery surgical pediatrics paediatrics rehabilitation nursing pharmacy pharmacology physiology
pathology radiology anatomy internal emergency intensive care psychiatry immunology genetics molecular tissue
engineering transplantation transplant blood bank cord affiliated first second third people children women
teaching city regional central state royal memorial community public private academic key laboratory lab
division unit program school service services neurologic vascular cerebrovascular
""".split())
# Topic concepts: (name, pattern) matched in folded text.
CONCEPTS = [
    ("exosomes/EVs", r"exosom|extracellular vesicle|microvesicle|secretome|conditioned medi|\bevs?\b"),
    ("MSCs", r"mesenchymal|stromal cell|\bmscs?\b"),
    ("stem/progenitor cells", r"stem cell|progenitor cell|mononuclear cell|\bcd34"),
    ("stroke", r"stroke|cerebrovascular|cerebral infarct|brain infarct|middle cerebral artery|\bmca\b"
               r"|intracerebral ha?emorrhage|subarachnoid|brain ischa?emi|cerebral ischa?emi"),
]
NUMBER_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}


def squeeze(word):
    """Doubled letters removed, so transliterations such as Modarres / Modares compare equal."""
    return re.sub(r"(.)\1+", r"\1", word)


def normal(word):
    return squeeze(word.rstrip("s")) if len(word) > 3 else word


def words(text):
    return [normal(w) for w in re.findall(r"[a-z0-9]+", fold(text or ""))]


GENERIC_ORGANISATION = frozenset(normal(w) for w in ORGANISATION_WORDS | SUBJECT_WORDS)


def title_words(text):
    """{normalised word: the word as written} for the informative words of a title."""
    return {normal(w): w for w in re.findall(r"[a-z0-9]+", fold(text or ""))
            if w not in GENERIC and len(w) > 2 and not w.isdigit()}


def distinctive_words(name):
    """The words that tell an organisation from others: not organisation words or subjects
    (SUBJECT_WORDS). Empty for a generic name."""
    return frozenset(w for w in words(name) if w not in GENERIC_ORGANISATION and len(w) > 2)


def same_institution(name_words, institution_words):
    """The same distinctive words, or a site named with the institution it belongs to
    ('Alzahra Hospital, Isfahan University of Medical Sciences') when those are two or more."""
    return bool(institution_words) and (name_words == institution_words or (
        len(institution_words) > 1 and institution_words <= name_words))


def concepts(text):
    folded = fold(text or "")
    return {name for name, pattern in CONCEPTS if re.search(pattern, folded)}


def reported_counts(text):
    """Numbers of patients/participants a text reports ('Five mMCAI patients', '12 subjects')."""
    counts = set()
    for number, _ in re.findall(r"\b(\d{1,5}|" + "|".join(NUMBER_WORDS) + r")\b(?:\s+\S+){0,2}?\s+"
                                r"(patients|participants|subjects|cases|individuals)\b", fold(text or "")):
        counts.add(int(number) if number.isdigit() else NUMBER_WORDS[number])
    return counts


class TitleAndTopics:
    """Features of a work or a trial, computed once and only for the candidates blocking finds."""

    @cached_property
    def words(self):
        return title_words(self.title)

    @cached_property
    def topics(self):
        return concepts(self.text)


@dataclass
class Work(TitleAndTopics):
    id: int
    pmid: str
    title: str
    year: int | None
    text: str
    is_report: bool
    affiliations: list = field(default_factory=list)  # (institution id, distinctive name words, country code)
    surnames: set = field(default_factory=set)

    @cached_property
    def counts(self):
        return reported_counts(self.text)


@dataclass
class Trial(TitleAndTopics):
    id: int
    nct_id: str
    title: str
    text: str
    organisations: list  # (name, country codes, institution id or None)
    surnames: set
    start_year: int | None
    end_year: int | None
    enrollment: int | None

    def institutions_shared(self, work):
        """Names of this trial's organisations that are one of the work's institutions."""
        matched = []
        for name, countries, institution in self.organisations:
            distinctive = distinctive_words(name or "")
            for work_institution, work_words, country in work.affiliations:
                same = (institution is not None and institution == work_institution) or (
                    same_institution(distinctive, work_words) and (not country or not countries or country in countries))
                if same and name not in matched:
                    matched.append(name)
        return matched


def read_works(db):
    works = {}
    for row in db.query("""
            select w.id, w.pmid, w.title, w.year, w.abstract, w.keywords, w.pub_types, mesh.names as mesh
            from works w left join (
              select wm.work_id, group_concat(m.name, '; ') as names
              from work_mesh wm join mesh_terms m on m.id = wm.mesh_id group by wm.work_id
            ) mesh on mesh.work_id = w.id"""):
        text = " ".join(filter(None, (row["title"], row["abstract"], row["keywords"], row["mesh"])))
        kinds = set(parse_list(row["pub_types"]))
        works[row["id"]] = Work(row["id"], row["pmid"], row["title"] or "", row["year"], text,
                                not kinds & set(NOT_STUDY_REPORTS))
    for work_id, institution, name, country in db.execute("""
            select distinct waa.work_id, a.institution_id, coalesce(i.name, a.institution_name, a.name),
                   coalesce(i.country, a.country)
            from work_author_affiliations waa join affiliations a on a.id = waa.affiliation_id
            left join institutions i on i.id = a.institution_id"""):
        works[work_id].affiliations.append((institution, distinctive_words(name or ""), country))
    for work_id, last_name in db.execute("""
            select wa.work_id, a.last_name from work_authors wa join author_names a on a.id = wa.name_id
            where a.last_name is not null"""):
        works[work_id].surnames.add(squeeze(fold(last_name)))
    return works


def read_trials(db):
    trials = {}
    for row in db.query("select * from trials"):
        countries = {places.country_code(c) for c in parse_list(row["countries"])} - {None}
        organisations = [(name, countries, None) for name in (row["lead_sponsor"], *parse_list(row["collaborators"]))
                         if name]
        text = " ".join(filter(None, (row["brief_title"], row["official_title"], row["conditions"],
                                      row["condition_mesh"], row["keywords"])))
        end = row["completion_date"] or row["primary_completion_date"]
        trials[row["id"]] = Trial(
            row["id"], row["nct_id"], " ".join(filter(None, (row["brief_title"], row["official_title"]))),
            text, organisations, set(), row["start_year"],
            int(end[:4]) if end and end[:4].isdigit() else None, row["enrollment"])
    for trial_id, name in db.execute("select trial_id, name from trial_interventions"):
        trials[trial_id].text += " " + (name or "")
    for trial_id, name, country in db.execute(
            "select trial_id, facility, country from trial_sites where facility is not null"):
        trials[trial_id].organisations.append((name, {places.country_code(country)} - {None}, None))
    for trial_id, name, institution, country in db.execute(
            "select p.trial_id, a.name, a.institution_id, a.country from trial_people p "
            "join affiliations a on a.id = p.affiliation_id"):
        trials[trial_id].organisations.append((name, {country} - {None}, institution))
    for trial_id, name in db.execute("select trial_id, name from trial_people where name is not null"):
        surname = name.split(",")[0].split()[-1] if name.split(",")[0].split() else ""
        trials[trial_id].surnames.add(squeeze(fold(surname)))
    return trials


def parse_list(value):
    return json.loads(value) if value else []


def candidates(works, trials, min_shared=2, window=(2, 6), progress=None):
    """(trial, work) pairs sharing at least `min_shared` informative title words, published
    from `window[0]` years before the trial started to `window[1]` years after it ended."""
    index = defaultdict(set)
    for work in works.values():
        for word in work.words:
            index[word].add(work.id)
    too_common = max(100, len(works) // 50)
    for trial in progress("same-study links: trials compared", trials.values()) if progress else trials.values():
        shared = defaultdict(int)
        for word in trial.words:
            postings = index.get(word, ())
            if len(postings) <= too_common:
                for work_id in postings:
                    shared[work_id] += 1
        for work_id, count in shared.items():
            work = works[work_id]
            if count < min_shared:
                continue
            if work.year and trial.start_year and not (
                    trial.start_year - window[0] <= work.year <= (trial.end_year or trial.start_year) + window[1]):
                continue
            yield trial, work


def title_weights(works, trials):
    """Inverse document frequency of each title word over every title: rare words weigh most."""
    titles = len(works) + len(trials)
    counts = Counter(word for item in (*works.values(), *trials.values()) for word in item.words)
    return {word: math.log((1 + titles) / (1 + count)) + 1 for word, count in counts.items()}


def frequent_surnames(works):
    """Surnames too frequent among authors to say that the same person is behind two records."""
    counts = Counter(surname for work in works.values() for surname in work.surnames)
    limit = max(5, len(works) // 100)
    return {surname for surname, count in counts.items() if count > limit}


def score(trial, work, weights, common_surnames=frozenset()):
    """(score, reasons) for a trial and a work being one study."""
    parts, reasons = {}, []
    trial_words, work_words = trial.words, work.words
    shared = set(trial_words) & set(work_words)

    def weight(keys):
        return sum(weights.get(key, 1.0) for key in keys)

    parts["title"] = weight(shared) / max(1.0, min(weight(trial_words), weight(work_words)))
    reasons.append(f"titles share {', '.join(sorted(trial_words[w] for w in shared))}")

    matched = trial.institutions_shared(work)
    parts["institutions"] = min(1.0, len(matched) / 2)
    if matched:
        reasons.append("institutions in common: " + "; ".join(matched))

    people = (trial.surnames & work.surnames) - common_surnames
    parts["people"] = 1.0 if people else 0.0
    if people:
        reasons.append("people in common: " + ", ".join(sorted(people)))

    trial_topics, work_topics = trial.topics, work.topics
    parts["topic"] = len(trial_topics & work_topics) / len(trial_topics) if trial_topics else 0.0
    if trial_topics & work_topics:
        reasons.append("both about " + ", ".join(sorted(trial_topics & work_topics)))

    if work.year and trial.start_year:
        end = trial.end_year or trial.start_year
        parts["dates"] = 1.0 if trial.start_year <= work.year <= end + 4 else 0.5
        reasons.append(f"published {work.year}; trial {trial.start_year}-{end}")
    else:
        parts["dates"] = 0.5
    if trial.enrollment and trial.enrollment in work.counts:
        parts["numbers"] = 1.0
        reasons.append(f"the work reports {trial.enrollment} patients, the trial enrolled {trial.enrollment}")
    else:
        parts["numbers"] = 0.0
    total = sum(WEIGHTS[name] * value for name, value in parts.items())
    # Never on topic alone: the same institutions or people must be behind both.
    if not (parts["institutions"] or parts["people"]) or parts["title"] < MIN_TITLE:
        total = min(total, THRESHOLD - 0.01)
    strong = [reason for reason, held in (("titles", parts["title"] >= STRONG_TITLE),
                                          ("team", parts["institutions"] or parts["people"]),
                                          ("numbers", parts["numbers"])) if held]
    if len(strong) < STRONG_REASONS:
        total = min(total, FUSE_THRESHOLD - 0.01)
    reasons.append("strong reasons: " + (", ".join(strong) or "none"))
    return round(total, 3), "; ".join(reasons)


def link_studies(db, threshold=THRESHOLD, progress=None, everything=False):
    """Recompute every probably_same_study link; returns how many there are now.

    Every link, not those of new records only: a title word's weight is its rarity among
    all titles, so each load changes the scores of pairs it did not touch. When the works,
    trials and identifier links they are computed from are those of the last time (a
    refresh with nothing new), they are kept as they are, unless everything=True.
    progress(label, items), if given, wraps the trials as they are compared."""
    works, trials = read_works(db), read_trials(db)
    linked = db.execute(f"""
        select coalesce(from_work_id, to_work_id), coalesce(from_trial_id, to_trial_id), relation from links
        where relation in ({', '.join('?' for _ in IDENTIFIER_RELATIONS)})
          and coalesce(from_work_id, to_work_id) is not null
          and coalesce(from_trial_id, to_trial_id) is not null""", IDENTIFIER_RELATIONS).fetchall()
    inputs = {"": inputs_digest([[getattr(item, f.name) for f in fields(item)]
                                 for item in (*works.values(), *trials.values())], linked, threshold)}
    if not everything and inputs_of(db, RELATION) == inputs:
        return db.execute("select count(*) from links where asserted_by = ?", [ASSERTED_BY]).fetchone()[0]
    already = {(work_id, trial_id) for work_id, trial_id, _ in linked}
    # A work that names a trial's registry number reports that trial, not another one.
    reported = {work_id for work_id, _, relation in linked if relation == "registered_as"}
    weights = title_weights(works, trials)
    common_surnames = frequent_surnames(works)
    rows = []
    for trial, work in candidates(works, trials, progress=progress):
        if (work.id, trial.id) in already or work.id in reported or not work.is_report:
            continue
        value, reasons = score(trial, work, weights, common_surnames)
        if value >= threshold:
            rows.append(link_row(from_scheme="pmid", from_id=work.pmid, relation=RELATION, to_scheme="nct",
                                 to_id=trial.nct_id, from_work_id=work.id, to_trial_id=trial.id, score=value,
                                 evidence=reasons, asserted_by=ASSERTED_BY))
    with db.atomic():
        db.execute("DELETE FROM links WHERE asserted_by = ?", [ASSERTED_BY])
        insert_rows(db, "links", rows, on_conflict="IGNORE")
        inputs_kept(db, RELATION, inputs)
    return len(rows)
