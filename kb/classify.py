"""Evidence tags for every work and trial: what kind of evidence it is, with the words
that justify each tag.

A vocabulary is a folder of TSV files, one per tag (see kb/vocabularies/*/README.md):
text rules (regular expressions, with the tags a match implies) and `structured.tsv`
(PubMed publication types and MeSH, ClinicalTrials.gov phases, allocation, model,
study type and conditions). Structured facts win over text: when a structured fact sets
a tag, text rules do not add other values of that tag (except design words that qualify
or refine it: pilot, open-label, protocol, systematic review, meta-analysis). A trial's phase
is its registry's alone; of a study's designs the most controlled holds (DESIGN_PRECEDENCE);
an outcome in running text needs a sentence that measures it (MEASURED); a stroke subtype
needs the stroke topic. The parse functions here are pure; `kb.evidence` writes tables.
"""

import csv
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from re import _constants as sre_constants, _parser as sre_parser
from typing import NamedTuple

VOCABULARIES = Path(__file__).parent / "vocabularies"
DEFAULT_VOCABULARY = VOCABULARIES / "stem_cell_stroke"
# A negation within three words before a match cancels it ("not randomised", "no MSC").
NEGATION = re.compile(r"\b(no|not|non|without|neither|nor|absence of|free of|lack of)\W+(?:[\w/]+\W+){0,2}$", re.I)
NEGATION_BLIND = {"outcome"}  # "no adverse events" still means adverse events were measured
QUALIFIERS = {"pilot / feasibility", "open-label"}  # design words that qualify a design, not designs
# Text designs that refine a structured one: PubMed types a systematic review as "Review".
REFINEMENTS = QUALIFIERS | {"systematic review", "meta-analysis", "protocol"}
NUMBER_WORDS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
                                                     "hundred": 100}
NUMBER = r"(?:\d{1,5}|" + "|".join(NUMBER_WORDS) + r")"
# A count, then up to three words that are not numbers themselves, then who was counted. The
# lookahead of the count's first characters lets the engine pass over other words at once:
# a third of the time on abstracts with no count.
POPULATION = re.compile(
    r"\b(?=[\d" + "".join(sorted({word[0] for word in NUMBER_WORDS})) + r"])(?<![\d.,])(?P<n>" + NUMBER + r")\s+(?:(?!" + NUMBER + r"\b)(?![\d.])[\w()-]+\s+){0,3}?"
    r"(?P<noun>patients|participants|subjects|individuals|volunteers|cases|adults|children|survivors|rats|mice)\b",
    re.I)
EXPLICIT_N = re.compile(r"\bn\s*=\s*(?P<n>\d{1,5})\b", re.I)
ENROLLED = re.compile(r"^\W*(?:\w+\W+){0,3}?(were|was)?\s*(included|enrolled|randomi[sz]ed|recruited|treated|"
                      r"allocated|assigned|received|underwent)", re.I)
NOT_A_COUNT = re.compile(r"(aged?|age of|score of|scores? (was|were)|≤|<|>|±|\bof)\s*$", re.I)
SAFETY_MENTION = re.compile(r"\b(serious )?(adverse (events?|effects?|reactions?)|complications?|side effects?)\b", re.I)
SAFE_WORDS = re.compile(r"\b(safe|safety|well[- ]tolerated|tolerability)\b", re.I)
# A phase said of an earlier trial ("after our previous phase 1 trial") is not this study's.
EARLIER = re.compile(r"\b(previous|prior|earlier|preceding|former|completed|following|after|extension of|"
                     r"follow-up of|based on)\W+(?:[\w/-]+\W+){0,3}$", re.I)
# An outcome is tagged from running text only where a sentence measures or reports it: a
# number, a score or a word of assessment. "Stroke contributes to high mortality" is background.
MEASURED = re.compile(r"\d|\b(primary|secondary|end-?points?|outcomes?|measur\w*|assess\w*|evaluat\w*|scores?|"
                      r"scales?|rates?|incidence|proportion|improv\w*|reduc\w*|decreas\w*|lower\w*|chang\w*|"
                      r"differ\w*|occurred|reported|observed|compared|follow(ed)?[- ]up|monitor\w*)\b", re.I)
RUNNING_TEXT = {"abstract", "summary"}
# Section labels of a structured abstract as stored ("BACKGROUND: ..."): what a background
# or objective section says of an outcome is never a measurement of it.
SECTION = re.compile(r"\b([A-Z][A-Z ]{2,30}):")
BACKGROUND = {"BACKGROUND", "INTRODUCTION", "OBJECTIVE", "OBJECTIVES", "AIM", "AIMS", "PURPOSE", "CONTEXT",
              "RATIONALE", "IMPORTANCE", "BACKGROUND AND PURPOSE", "BACKGROUND AND AIMS", "BACKGROUND AND OBJECTIVES"}
# Of the designs of one study, the most controlled one holds: a registry's RANDOMIZED with a
# SINGLE_GROUP model is a randomised trial, not also a single-arm one.
DESIGN_PRECEDENCE = ("randomised controlled trial", "non-randomised controlled", "single-arm")


class Tag(NamedTuple):
    """A tuple, so `tagged` stores it as JSON as it is and reads it back with Tag(*row)."""
    tag: str
    value: str
    field: str  # where the evidence is: title, abstract, mesh, pub_type, phase, ...
    span: str  # the words (or the structured value) that justify it
    rule: str  # the vocabulary row or structured mapping that set it


@dataclass(frozen=True)
class Rule:
    tag: str
    value: str
    pattern: re.Pattern
    implies: tuple  # ((tag, value), ...)
    fields: frozenset  # where it applies; empty for every text field
    unless: frozenset  # values of the same tag that, when found, make this one redundant
    name: str  # file:line
    # Lowercase strings one of which every match contains (needles_of): a rule none of them is
    # in is not run. A hundred patterns scanned over every abstract were most of a refresh.
    needles: frozenset
    # (key, at a word start) pairs one of which begins every match (starts_of), or None: the
    # rule is tried only where the vocabulary's scanner finds one of its keys.
    starts: frozenset | None

    def may_match(self, lowered):
        """False when the rule cannot match `lowered` (an ASCII text, lowercased)."""
        return not self.needles or any(needle in lowered for needle in self.needles)


def needles_of(items):
    """Of a parsed pattern (or part of one), a set of lowercase strings one of which is in
    every text it matches, or None when none is found: a run of literals, the union over the
    branches of an alternation, a group's or a repeated item's own (repeated at least once).

    `\\bnihss\\b|\\bmodified rankin\\b` -> {"nihss", "modified rankin"}. Matching ignores case, and an
    ASCII letter of the pattern matches only ASCII letters in an ASCII text, so the needles
    hold for texts that are ASCII (text_tags runs every rule on the others)."""
    best, run = None, ""

    def consider(candidate):
        nonlocal best
        if candidate and all(len(needle) >= 2 for needle in candidate) and (
                best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    for op, argument in items:
        if op is sre_constants.LITERAL and chr(argument).isascii():
            run += chr(argument).lower()
            continue
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue  # consumes nothing: the literals on either side are still one run
        consider({run} if run else None)
        run = ""
        if op is sre_constants.BRANCH:
            branches = [needles_of(branch) for branch in argument[1]]
            consider(None if None in branches else set().union(*branches))
        elif op is sre_constants.SUBPATTERN:
            consider(needles_of(argument[-1]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and argument[0] >= 1:
            consider(needles_of(argument[2]))
    consider({run} if run else None)
    return best


# A start key is at most this long: "stroke" and "stromal" share four letters, and a rule tried
# at every "stro" failed often (6 was 15% faster than 4 on synthetic abstracts, 8 no faster).
KEY_LENGTH = 6
# A rule with a shorter key is run on the whole text: a single letter begins most words, and
# trying a rule at each word is slower than one pass over the text.
SHORTEST_KEY = 2
# More keys than this for one rule (character classes multiply them) and it is run on the whole text.
KEYS_KEPT = 1024


def starts_of(items):
    """Of a parsed pattern, the set of (key, at a word start) pairs one of which begins every
    match: key the match's first characters, lowercased, at most KEY_LENGTH of them, and at a
    word start when a \\b precedes them. None when some match may begin with anything.

    `\\brats?\\b|stem cell` -> {("rat", True), ("stem c", False)}. As for needles_of, the
    keys hold for texts that are ASCII."""
    found = leads(items)
    if found is None or any(len(key) < SHORTEST_KEY for key, _, _ in found):
        return None
    found = {(key, bounded) for key, bounded, _ in found}
    # A key that begins with another needs no place of its own: the other one's places hold it.
    return frozenset((key, bounded) for key, bounded in found
                     if not any(key.startswith(other) and other != key and (bounded or not by_word)
                                for other, by_word in found))


def leads(items):
    """(lead, at a word start, whole) triples for a sequence of parsed items: `whole` when the
    lead is all the sequence matched, so what follows may extend it; None past KEYS_KEPT."""
    done, growing = set(), {("", False)}
    for op, argument in items:
        if op is sre_constants.AT and argument is sre_constants.AT_BOUNDARY:
            growing = {(lead, bounded or not lead) for lead, bounded in growing}
            continue
        if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue  # consumes nothing: the match starts where it would without them
        following = item_leads(op, argument)
        if following is None:
            return done | {(lead, bounded, False) for lead, bounded in growing}
        grown = {(lead + more, bounded or (not lead and more_bounded), whole)
                 for lead, bounded in growing for more, more_bounded, whole in following}
        growing = set()
        for lead, bounded, whole in grown:
            if whole and len(lead) < KEY_LENGTH:
                growing.add((lead, bounded))
            else:
                done.add((lead[:KEY_LENGTH], bounded, False))
        if len(done) + len(growing) > KEYS_KEPT:
            return None
    return done | {(lead, bounded, True) for lead, bounded in growing}


def item_leads(op, argument):
    """leads() of one consuming item, or None when it may begin with any character."""
    if op is sre_constants.LITERAL:
        return {(chr(argument).lower(), False, True)} if chr(argument).isascii() else None
    if op is sre_constants.IN:
        chars = set()
        for kind, value in argument:
            if kind is sre_constants.LITERAL and chr(value).isascii():
                chars.add(chr(value).lower())
            elif kind is sre_constants.RANGE and value[1] < 128:
                chars.update(chr(c).lower() for c in range(value[0], value[1] + 1))
            else:
                return None  # negated, a category (\\w), or beyond ASCII
        return {(char, False, True) for char in chars}
    if op is sre_constants.SUBPATTERN:
        return leads(argument[-1])
    if op is sre_constants.BRANCH:
        branches = [leads(branch) for branch in argument[1]]
        return None if None in branches else set().union(*branches)
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        low, high, item = argument
        once = leads(item)
        if once is None:
            return None
        # After one repetition another may follow: only a single one is the whole item.
        found = {(lead, bounded, whole and high == 1) for lead, bounded, whole in once}
        return found | {("", False, True)} if low == 0 else found
    return None


class VocabularyError(ValueError):
    pass


class Vocabulary:
    """Text rules and structured mappings from a vocabulary folder."""

    def __init__(self, folder=DEFAULT_VOCABULARY):
        self.folder = Path(folder)
        self.rules, self.structured = [], {}
        files = sorted(self.folder.glob("*.tsv"))
        if not files:
            raise VocabularyError(f"{self.folder}: no .tsv vocabulary files")
        for path in files:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            for line, row in enumerate(rows, 2):
                name = f"{path.name}:{line}"
                if path.stem == "structured":
                    key = (row["field"].strip(), row["value"].strip().lower())
                    self.structured.setdefault(key, []).append((row["tag"].strip(), row["tag_value"].strip(), name))
                    continue
                try:
                    pattern = re.compile(row["pattern"], re.I)
                except (re.error, TypeError) as error:
                    raise VocabularyError(f"{name}: bad pattern {row.get('pattern')!r}: {error}") from None
                implies = tuple(tuple(pair.split("=", 1)) for pair in (row.get("implies") or "").split(";")
                                if "=" in pair)
                fields = frozenset(f.strip() for f in (row.get("fields") or "").split(",") if f.strip())
                unless = frozenset(v.strip() for v in (row.get("unless") or "").split(";") if v.strip())
                parsed = sre_parser.parse(pattern.pattern)
                self.rules.append(Rule(path.stem, row["value"].strip(), pattern, implies, fields, unless, name,
                                       frozenset(needles_of(parsed) or ()), starts_of(parsed)))
        self.scanner, self.rules_at = start_scanner(self.rules)
        self.unanchored = {index for index, rule in enumerate(self.rules) if rule.starts is None}
        self.redundant = defaultdict(set)  # {(tag, value): the (tag, value) pairs it makes redundant}
        for rule in self.rules:
            for other in rule.unless:
                self.redundant[(rule.tag, other)].add((rule.tag, rule.value))

    def matching(self, text):
        """(rule, its matches in `text` as `rule.pattern.finditer` finds them) for each rule that
        may match, in vocabulary order.

        On an ASCII text, one pass of the scanner finds where some rule's start keys are, and
        a rule is tried only there (`pattern.match` at each such place past its last match,
        which finds what finditer finds: no match of it starts anywhere else); a rule without
        start keys runs over the text when one of its needles is in it. Other texts are
        scanned rule by rule."""
        if not text.isascii():
            return [(rule, rule.pattern.finditer(text)) for rule in self.rules]
        lowered = text.lower()
        keys, places = defaultdict(list), defaultdict(list)
        for hit in self.scanner.finditer(lowered):
            keys[hit.groups()].append(hit.start())
        for key, where in keys.items():
            for index in self.rules_at[key]:
                places[index].extend(where)
        found = []
        for index in sorted(places.keys() | self.unanchored):
            rule = self.rules[index]
            if rule.starts:
                found.append((rule, matches_at(rule.pattern, text, sorted(places[index]))))
            elif rule.may_match(lowered):
                found.append((rule, rule.pattern.finditer(text)))
        return found

    @property
    def tags(self):
        return sorted({rule.tag for rule in self.rules} | {t for v in self.structured.values() for t, _, _ in v})


def start_scanner(rules):
    """A regex that, at each place of a lowercased text where a start key of some rule
    begins, matches empty and captures the longest such key (in its first group at a word
    start, else in its second, of the keys that need no word start), and {the match's
    groups: indexes of the rules one of whose keys is a prefix of that key}: every key that
    begins at a place is a prefix of the longest."""
    owners = defaultdict(set)  # {(key, at a word start): indexes of the rules with that key}
    for index, rule in enumerate(rules):
        for start in rule.starts or ():
            owners[start].add(index)
    keys = {key for key, _ in owners}
    anywhere = {key for key, bounded in owners if not bounded}
    rules_at = {}
    for found, kinds, groups in ((keys, (True, False), lambda key: (key, None)),
                                 (anywhere, (False,), lambda key: (None, key))):
        for key in found:
            rules_at[groups(key)] = sorted(set().union(*(owners.get((key[:end], bounded), ())
                                                         for end in range(1, len(key) + 1) for bounded in kinds)))
    never = "(?!)"
    return re.compile(rf"\b(?=({trie(keys) or never}))|(?=({trie(anywhere) or never}))"), rules_at


def trie(keys):
    """One regex of strings as a trie, matching the longest of them: {"rat", "rats"} -> 'rat(?:s)?'."""
    root = {}
    for key in keys:
        node = root
        for char in key:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node):
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        either = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{either})?" if "" in node else either

    return pattern(root)


def matches_at(pattern, text, places):
    """The matches of `pattern` in `text` that start at one of `places` (ascending), as
    finditer finds them: each after the last one's end."""
    end = 0
    for place in places:
        if place >= end:
            match = pattern.match(text, place)
            if match:
                end = match.end()
                yield match


def plain(text):
    """Accents removed, whitespace collapsed: what text rules match against."""
    if (text or "").isascii():
        return " ".join(text.split()) if text else ""  # nothing to decompose: most abstracts, 4x faster
    decomposed = unicodedata.normalize("NFKD", text or "")
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def text_tags(vocabulary, fields):
    """Tags that text rules find in {field: text}; negated matches are skipped."""
    found = []
    for field, text in fields.items():
        text = plain(text)
        if not text:
            continue
        for rule, matches in vocabulary.matching(text):
            if rule.fields and field not in rule.fields:
                continue
            for match in matches:
                before = text[max(0, match.start() - 40):match.start()]
                if rule.tag not in NEGATION_BLIND and NEGATION.search(before):
                    continue
                if rule.tag == "phase" and EARLIER.search(before):
                    continue
                if rule.tag == "outcome" and field in RUNNING_TEXT and not measured(text, match):
                    continue
                found.append(Tag(rule.tag, rule.value, field, match.group(0), rule.name))
                found.extend(Tag(tag, value, field, match.group(0), f"{rule.name} (implied)")
                             for tag, value in rule.implies)
                break
    return found


def measured(text, match):
    """Whether the sentence of a match measures or reports it, outside a background section."""
    sections = [label.group(1).strip() for label in SECTION.finditer(text, 0, match.start())]
    if sections and sections[-1] in BACKGROUND:
        return False
    start = max(text.rfind(". ", 0, match.start()), text.rfind("; ", 0, match.start())) + 1
    ends = [i for i in (text.find(". ", match.end()), text.find("; ", match.end())) if i >= 0]
    return bool(MEASURED.search(text[start:min(ends) if ends else len(text)]))


def drop_redundant(vocabulary, tags):
    """Without the values a more specific one makes redundant (a rule's `unless` column)."""
    present = {(t.tag, t.value) for t in tags}
    redundant = set().union(*(vocabulary.redundant.get(pair, ()) for pair in present))
    return [t for t in tags if (t.tag, t.value) not in redundant]


def structured_tags(vocabulary, facts):
    """Tags from structured facts: [(field, value), ...] looked up in structured.tsv."""
    found = []
    for field, value in facts:
        for tag, tag_value, name in vocabulary.structured.get((field, str(value).strip().lower()), ()):
            found.append(Tag(tag, tag_value, field, str(value), name))
    return found


def population_size(text):
    """(N, span) of the patients or animals a study reports, or None.

    Counts said to be included, enrolled, randomised or treated come first, then an
    explicit 'n = 24', then the first count of patients; ages, scores, doses and follow-up
    times are not counts of people."""
    text = plain(text)
    candidates = []
    for match in POPULATION.finditer(text):
        if NOT_A_COUNT.search(text[max(0, match.start() - 12):match.start()]):
            continue
        raw = match.group("n").lower()
        n = NUMBER_WORDS.get(raw) if raw in NUMBER_WORDS else int(raw)
        if not n:
            continue
        enrolled = bool(ENROLLED.match(text[match.end():match.end() + 40].split(".")[0]))  # same sentence
        candidates.append((not enrolled, 1, match.start(), n, match.group(0)))
    for match in EXPLICIT_N.finditer(text):
        candidates.append((True, 0, match.start(), int(match.group("n")), match.group(0)))
    if not candidates:
        return None
    _, _, _, n, span = min(candidates)
    return n, span


def safety_finding(text):
    """(value, span) when a text reports on safety: no serious adverse events, adverse events
    reported, or safety assessed; else None."""
    text = plain(text)
    for match in SAFETY_MENTION.finditer(text):
        before = text[max(0, match.start() - 40):match.start()]
        if NEGATION.search(before):
            return "no serious adverse events", (before.split(".")[-1] + match.group(0)).strip()
        after = text[match.end():match.end() + 40]
        if re.match(r"\W*(were|was)?\s*(observed|reported|occurred|noted|seen)", after, re.I):
            return "adverse events reported", match.group(0) + after[:20]
    match = SAFE_WORDS.search(text)
    return ("safety assessed", match.group(0)) if match else None


def phase_value(phases):
    """'1/2' from phases 1 and 2; '2' from 2; 'early 1' (before phase 1) sorts first."""
    numbers = sorted(set(phases), key=lambda p: float(p.split()[-1]) - ("early" in p))
    return "/".join(numbers) if numbers else None


def work_tags(vocabulary, work):
    """Tags of a work: {title, abstract, keywords, mesh, pub_types}, structured first."""
    structured = structured_tags(vocabulary, [("pub_type", p) for p in work["pub_types"]] +
                                 [("mesh", m) for m in work["mesh"]])
    mesh = {m.lower() for m in work["mesh"]}
    if "animals" in mesh and "humans" not in mesh:
        structured.append(Tag("design", "preclinical (animal)", "mesh", "Animals (no Humans)", "MeSH: Animals"))
    text = text_tags(vocabulary, {"title": work["title"], "abstract": work["abstract"],
                                  "keywords": "; ".join(work["keywords"]), "mesh": "; ".join(work["mesh"])})
    tags = drop_redundant(vocabulary, combine(structured, text))
    is_review = any(t.tag == "design" and t.value in ("systematic review", "meta-analysis", "narrative review")
                    for t in tags)
    if not is_review:
        counted = population_size(work["abstract"] or "") or population_size(work["title"] or "")
        if counted:
            tags.append(Tag("n", str(counted[0]), "abstract", counted[1], "population count"))
    safety = safety_finding(" ".join(filter(None, (work["title"], work["abstract"]))))
    if safety:
        tags.append(Tag("safety", safety[0], "abstract", safety[1], "safety wording"))
    return relevance(tags)


def record_on_topic(vocabulary, record):
    """Whether a parsed work record (as a source parser gives it) is about the vocabulary's
    topic: the test a bulk load's --topic-filter applies before anything is written."""
    work = {"title": record["title"], "abstract": record["abstract"], "keywords": record["keywords"],
            "pub_types": record["pub_types"], "mesh": [heading["name"] for heading in record["mesh"]]}
    return any(tag.tag == "relevance" for tag in work_tags(vocabulary, work))


def trial_tags(vocabulary, trial):
    """Tags of a trial from its registry record: structured fields first, then its texts.

    `interventions` holds each intervention's name, description and other names, and each
    arm's label and description (a product code is often explained only there). The phase
    comes from the registry's phase field alone: a title may name an earlier trial's phase."""
    conditions = trial["conditions"] + trial.get("condition_mesh", [])
    facts = [("phase", p) for p in trial["phases"]] + [("condition", c) for c in trial["conditions"]] + [
        ("mesh", m) for m in trial.get("condition_mesh", [])] + [
        ("allocation", trial["allocation"]), ("intervention_model", trial["intervention_model"]),
        ("study_type", trial["study_type"])]
    structured = structured_tags(vocabulary, [(field, value) for field, value in facts if value])
    text = text_tags(vocabulary, {"title": " | ".join(filter(None, (trial["brief_title"], trial["official_title"]))),
                                  "conditions": "; ".join(conditions),
                                  "keywords": "; ".join(trial.get("keywords", [])),
                                  "interventions": "; ".join(trial["interventions"]),
                                  "outcomes": "; ".join(trial["outcomes"]),
                                  "summary": trial["brief_summary"]})
    text = [t for t in text if t.tag != "phase"]
    tags = drop_redundant(vocabulary, combine(structured, text))
    if trial["enrollment"]:
        tags.append(Tag("n", str(trial["enrollment"]), "enrollment", str(trial["enrollment"]),
                        "ClinicalTrials.gov enrollment"))
    return relevance(tags)


def combine(structured, text):
    """Structured tags, plus text tags of the tags structured facts did not set."""
    decided = {tag.tag for tag in structured}
    kept = [t for t in text if t.tag not in decided or (t.tag == "design" and t.value in REFINEMENTS)
            or t.tag in ("topic", "outcome")]
    return dedupe(structured + kept)


def dedupe(tags):
    seen, result = set(), []
    for tag in tags:
        if (tag.tag, tag.value) not in seen:
            seen.add((tag.tag, tag.value))
            result.append(tag)
    return result


def by_precedence(tags):
    """The most controlled of a study's designs (DESIGN_PRECEDENCE), and no stroke subtype
    without the stroke topic (a cardiac trial's "cerebral infarct" outcome is no stroke type)."""
    present = [d for d in DESIGN_PRECEDENCE if any(t.tag == "design" and t.value == d for t in tags)]
    stroke = any(t.tag == "topic" and t.value == "stroke" for t in tags)
    return [t for t in tags if not (t.tag == "design" and t.value in present[1:])
            and (stroke or t.tag != "stroke_type")]


def relevance(tags):
    """Add relevance 'on topic' when a record is about stroke and about stem cells or exosomes."""
    tags = by_precedence(tags)
    topics = {t.value: t for t in tags if t.tag == "topic"}
    if "stroke" in topics and ({"stem cells", "exosomes"} & topics.keys()):
        cells = topics.get("exosomes") or topics["stem cells"]
        tags.append(Tag("relevance", "on topic", "tags", f"{cells.span} + {topics['stroke'].span}",
                        "topic: (stem cells or exosomes) and stroke"))
    return tags
