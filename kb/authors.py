"""Who is who: every author occurrence (a `work_authors` row) assigned to a person.

Occurrences are blocked by surname and first initial (`names.Name.block`), and a block by
sub-blocks (`signatures`: an institution, a department, a min-hash of the coauthors), so
the work grows with the block, not with its square ("Wang Y" holds thousands). Inside a
block:

1. a curator's decisions come first (`author_curations`: 'same' joins two occurrences,
   'different' keeps them apart for good);
2. the same ORCID is the same person; different ORCIDs are never one person;
3. pairs that share a sub-block are scored (shared coauthors, shared institution, department or country, given names
   that agree, overlapping MeSH terms or title words, distant years count against) and
   joined from the best score down while the score reaches THRESHOLD, as long as the two
   clusters stay compatible: names that can be one person's, no two ORCIDs, no curator's
   'different' between them.

Each person keeps the evidence of the joins that made it and a confidence (the weakest
join's). People are recomputed only in blocks with unassigned occurrences (new or
reloaded works) or that a curator touched, so a rerun leaves everything else alone.
"""

import json
import math
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .db import insert_rows
from .load import now
from .names import parse_name
from .text import fold, stable_id

THRESHOLD = 2.0
MARGIN = 0.5  # how much better an ambiguous name form must fit one person than the next
# A sub-block (`signatures`) of more occurrences than this (a prolific author's lab) pairs
# each occurrence with its nearest neighbours only, sorted by name form and year: joining
# is single-link, so a chain connects them as well as every pair would, and a block costs
# a few pairs per occurrence, not its square. benchmarks/authors.py at 20,000 works: 10
# and 4 give precision 0.986 and recall 0.903, where 50 and 5 on every coauthor gave 0.984
# and 0.908; on the 5,000-record synthetic file clustering takes a fifth of the time.
ALL_PAIRS_UP_TO = 10
NEIGHBOURS = 4
# Coauthor sub-blocks per occurrence: min-hashes under these (a, b) of (a * x + b) mod
# PRIME, a universal hash family, so two occurrences whose coauthors overlap by half meet
# in one of them with probability 1 - 0.5 ** 4.
COAUTHOR_SEEDS = ((0x9E3779B97F4A7C15, 0x632BE59BD9B4E019), (0xBF58476D1CE4E5B9, 0x94D049BB133111EB),
                  (0x2545F4914F6CDD1D, 0x1B873593CC9E2D51), (0xD6E8FEB86659FD93, 0x85EBCA77C2B2AE63))
PRIME = 2 ** 61 - 1
EVIDENCE_KEPT = 5
# Coauthors say who someone is on a paper of a few dozen authors, not on a consortium paper
# of thousands, where every pair of authors would cost time and memory (N squared) for
# nothing: a work with more authors than this gives no coauthor evidence and no coauthor
# counts, while its authors are still clustered on their names, places and topics.
COAUTHOR_CONTEXT_UP_TO = 100
TOPIC_STOP = {"humans", "animals", "male", "female", "adult", "middle aged", "aged", "mice", "rats"}


@dataclass(slots=True)
class Occurrence:
    key: tuple  # (work_id, position)
    name: object  # names.Name
    name_id: int
    orcid: str | None
    written: str | None
    year: int | None
    block: str
    coauthors: set = field(default_factory=set)  # surname|initials of the work's other authors
    coauthor_blocks: set = field(default_factory=set)  # surname|first initial of the same
    institutions: set = field(default_factory=set)
    departments: set = field(default_factory=set)
    countries: set = field(default_factory=set)
    topics: set = field(default_factory=set)
    namesake_on_work: bool = False  # another author of the work has the same surname and initial
    crowded: bool = False  # a department of this occurrence has two people of its block


def resolve(db, everything=False, blocks=None, progress=None):
    """Cluster the occurrences of the blocks that need it (all of them with everything=True)
    and rewrite their people. Returns (occurrences clustered, people written).

    progress(label, items), if given, wraps the blocks as they are clustered."""
    names = name_forms(db)
    block_of = {}
    for work_id, position, name_id, author_id in db.execute(
            "SELECT work_id, position, name_id, author_id FROM work_authors"):
        form = names.get(name_id)
        if form:
            block_of[(work_id, position)] = (form["block"], author_id)
    wanted = set(blocks or ())
    if everything:
        wanted |= {block for block, _ in block_of.values()}
    else:
        wanted |= {block for block, author_id in block_of.values() if author_id is None}
    curations = list(db.query("SELECT * FROM author_curations ORDER BY id"))
    wanted |= curated_blocks(curations, block_of, wanted)
    if not wanted:
        return 0, 0
    occurrences = gather(db, names, {key for key, (block, _) in block_of.items() if block in wanted}, block_of)
    groups = block_groups(occurrences, curations)
    people = {}
    for members in progress("people: blocks clustered", groups) if progress else groups:
        people.update(cluster(members, curations))
    write(db, occurrences, people)
    return len(occurrences), len({pid for pid, _ in people.values()})


def name_forms(db):
    forms = {}
    for row in db.query("SELECT id, last_name, fore_name, initials, orcid, is_collective, name FROM author_names"):
        if row["is_collective"]:
            block = "group:" + fold(row["name"])
            forms[row["id"]] = {**row, "parsed": None, "block": block, "key": block}
            continue
        parsed = parse_name(row["last_name"], row["fore_name"], row["initials"])
        block = parsed.block if parsed.surname else f"unnamed:{row['id']}"
        forms[row["id"]] = {**row, "parsed": parsed, "block": block,
                            "key": f"{parsed.surname}|{parsed.initials}" if parsed.surname else block}
    return forms


def curated_blocks(curations, block_of, wanted):
    """Blocks a curator's decision ties to a wanted block (a merge across two surnames)."""
    extra = set()
    for c in curations:
        ends = [block_of.get((c["work_id"], c["position"])), block_of.get((c["other_work_id"], c["other_position"]))]
        blocks = {end[0] for end in ends if end}
        if blocks & (wanted | extra):
            extra |= blocks
    return extra - wanted


def gather(db, names, keys, block_of):
    """Occurrences with their context: coauthors, institutions, departments, countries, topics."""
    works = {work_id for work_id, _ in keys}
    # Only the works of the wanted blocks are read: a refresh after a small load reads a
    # few rows of a large KB, through the work_id primary keys.
    gathered = "(SELECT value FROM json_each(?))"
    ids = [json.dumps(sorted(works))]
    year = dict(db.execute(f"SELECT id, year FROM works WHERE id IN {gathered}", ids))
    occurrences = {}
    by_work = defaultdict(list)
    for work_id, position, name_id, written in db.execute(
            f"SELECT work_id, position, name_id, written_name FROM work_authors WHERE work_id IN {gathered}", ids):
        form = names.get(name_id)
        by_work[work_id].append(((work_id, position), form and form["key"], form and form["block"]))
        if (work_id, position) in keys and form:
            occurrences[(work_id, position)] = Occurrence((work_id, position), form["parsed"], name_id,
                                                          form["orcid"], written, year.get(work_id), form["block"])
    for work_id, members in by_work.items():
        blocks = Counter(block for _, _, block in members)
        context = len(members) <= COAUTHOR_CONTEXT_UP_TO
        for key, _, block in members:
            if key in occurrences:
                occurrences[key].namesake_on_work = blocks[block] > 1
                if context:
                    occurrences[key].coauthors = {name for other, name, _ in members if other != key and name}
                    occurrences[key].coauthor_blocks = {b for other, _, b in members if other != key and b}
    for work_id, position, institution_id, department_id, country in db.execute(
            "SELECT waa.work_id, waa.position, af.institution_id, af.department_id, af.country "
            "FROM work_author_affiliations waa JOIN affiliations af ON af.id = waa.affiliation_id "
            f"WHERE waa.work_id IN {gathered}", ids):
        occurrence = occurrences.get((work_id, position))
        if occurrence:
            occurrence.institutions.discard(None)
            if institution_id:
                occurrence.institutions.add(institution_id)
            if department_id:
                occurrence.departments.add(department_id)
            if country:
                occurrence.countries.add(country)
    topics = defaultdict(set)
    for work_id, name in db.execute("SELECT wm.work_id, m.name FROM work_mesh wm JOIN mesh_terms m ON m.id = wm.mesh_id "
                                    f"WHERE wm.work_id IN {gathered}", ids):
        if name.lower() not in TOPIC_STOP:
            topics[work_id].add(name.lower())
    for work_id, title in db.execute(f"SELECT id, title FROM works WHERE id IN {gathered}", ids):
        if not topics[work_id]:
            topics[work_id] = {word for word in fold(title or "").split() if len(word) > 4}
    for occurrence in occurrences.values():
        occurrence.topics = topics[occurrence.key[0]]
    # Where two people of one block write together, their department and coauthors are
    # shared and say nothing about which of them an occurrence is.
    crowded = {(o.block, department) for o in occurrences.values() if o.namesake_on_work
               for department in o.departments}
    for o in occurrences.values():
        o.crowded = any((o.block, department) in crowded for department in o.departments)
    return occurrences


def block_groups(occurrences, curations):
    """Occurrences grouped by block, blocks a curator's 'same' joins being one group."""
    parent = {}

    def root(block):
        parent.setdefault(block, block)
        while parent[block] != block:
            block = parent[block]
        return block

    for c in curations:
        a = occurrences.get((c["work_id"], c["position"]))
        b = occurrences.get((c["other_work_id"], c["other_position"]))
        if c["decision"] == "same" and a and b:
            parent[root(a.block)] = root(b.block)
    groups = defaultdict(list)
    for occurrence in occurrences.values():
        groups[root(occurrence.block)].append(occurrence)
    return groups.values()


class Clusters:
    """Union-find over occurrences, with what each cluster must stay compatible with."""

    def __init__(self, members):
        self.parent = {o.key: o.key for o in members}
        self.forms = {o.key: {o.name} for o in members}
        self.orcids = {o.key: {o.orcid} - {None} for o in members}
        self.works = {o.key: {o.key[0]} for o in members}
        self.evidence = {o.key: [] for o in members}
        self.weakest = {o.key: None for o in members}
        self.undecided = set()  # ambiguous occurrences that fit two people equally well
        self.anchored = {o.key: False for o in members}  # holds a name form that is not ambiguous

    def root(self, key):
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def compatible(self, a, b, apart):
        a, b = self.root(a), self.root(b)
        if a == b:
            return True
        if self.orcids[a] and self.orcids[b] and self.orcids[a] != self.orcids[b]:
            return False
        if not self.works[a].isdisjoint(self.works[b]):
            return False  # two authors of one work are two people
        if self.kept_apart(a, b, apart):
            return False
        forms_a, forms_b = self.forms[a], self.forms[b]
        if None in forms_a or None in forms_b:
            return True  # a collective name's block holds one name
        same_surname = [(x, y) for x in forms_a for y in forms_b if x.surname == y.surname]
        return bool(same_surname) and all(x.compatible(y) for x, y in same_surname)

    def separate(self, a, b, apart):
        """Are a and b in two clusters that may be joined? (Most pairs of a person are found
        joined already, and need no explanation built.)"""
        return self.root(a) != self.root(b) and self.compatible(a, b, apart)

    def kept_apart(self, a, b, apart):
        """Does a curator's 'different' stand between the clusters of a and b?"""
        a, b = self.root(a), self.root(b)
        return any((self.root(x) == a and self.root(y) == b) or (self.root(x) == b and self.root(y) == a)
                   for x, y in apart)

    def join(self, a, b, reason, confidence):
        a, b = self.root(a), self.root(b)
        if a == b:
            return
        if len(self.works[a]) < len(self.works[b]):
            a, b = b, a  # the smaller cluster's sets are merged into the larger's
        self.parent[b] = a
        self.forms[a] |= self.forms.pop(b)
        self.orcids[a] |= self.orcids.pop(b)
        self.works[a] |= self.works.pop(b)
        self.anchored[a] = self.anchored[a] or self.anchored.pop(b)
        self.evidence[a] = (self.evidence[a] + self.evidence.pop(b) + [reason])[:EVIDENCE_KEPT]
        weakest = [w for w in (self.weakest[a], self.weakest.pop(b), confidence) if w is not None]
        self.weakest[a] = min(weakest)


def cluster(members, curations):
    """{occurrence key: (person id, cluster root)} for one block group."""
    clusters = Clusters(members)
    present = {o.key for o in members}
    apart = [((c["work_id"], c["position"]), (c["other_work_id"], c["other_position"])) for c in curations
             if c["decision"] == "different"]
    apart = [(x, y) for x, y in apart if x in present and y in present]
    for c in curations:
        x, y = (c["work_id"], c["position"]), (c["other_work_id"], c["other_position"])
        # A curator's 'different' wins over a 'same' it contradicts (a split after a merge).
        if c["decision"] == "same" and x in present and y in present and not clusters.kept_apart(x, y, apart):
            clusters.join(x, y, f"a curator joined works {x[0]} and {y[0]}", 1.0)
    groups = [o for o in members if o.name is None]
    for o in groups[1:]:
        clusters.join(groups[0].key, o.key, "same group name", 1.0)
    by_orcid = defaultdict(list)
    for o in members:
        if o.orcid:
            by_orcid[o.orcid].append(o.key)
    for orcid, keys in by_orcid.items():
        for other in keys[1:]:
            if clusters.compatible(keys[0], other, apart):
                clusters.join(keys[0], other, f"same ORCID {orcid}", 1.0)
    pairs = [p for p in sorted(candidate_pairs(members), key=lambda p: (-p[0], p[1].key, p[2].key))
             if p[0] >= THRESHOLD and not (p[1].orcid and p[2].orcid and p[1].orcid != p[2].orcid)]
    # Forms that could be either of two people ('Esposito M' beside 'Esposito MA' and
    # 'Esposito MH') join last, each to the cluster it matches best on average: joining
    # them first, pair by pair, would chain the two people together.
    ambiguous = ambiguous_forms({o.name for o in members if o.name})
    for o in members:
        clusters.anchored[o.key] = o.name not in ambiguous
    for score, a, b in pairs:
        if a.name not in ambiguous and b.name not in ambiguous and clusters.separate(a.key, b.key, apart):
            clusters.join(a.key, b.key, explain(a, b), confidence_of(score))
    attach(clusters, [o for o in members if o.name in ambiguous], pairs, apart)
    for score, a, b in pairs:
        if clusters.undecided.isdisjoint((a.key, b.key)) and clusters.separate(a.key, b.key, apart):
            clusters.join(a.key, b.key, explain(a, b), confidence_of(score))
    result = {}
    for o in members:
        root = clusters.root(o.key)
        result[o.key] = (root, clusters)
    return result


def confidence_of(score):
    return round(1 - math.exp(-score / 1.5), 3)


def ambiguous_forms(forms):
    """Name forms compatible with two forms that are not compatible with each other."""
    ambiguous = set()
    for form in forms:
        fits = [other for other in forms if other != form and form.compatible(other)]
        if any(not x.compatible(y) for i, x in enumerate(fits) for y in fits[i + 1:]):
            ambiguous.add(form)
    return ambiguous


def attach(clusters, ambiguous, pairs, apart):
    """Join each ambiguous occurrence to the person whose occurrences it scores best with on
    average (at least THRESHOLD): among the compatible clusters that hold an unambiguous
    form, and by a clear margin over the next; otherwise it stays undecided."""
    if not ambiguous:
        return
    wanted = {o.key for o in ambiguous}
    scored = defaultdict(list)  # the pairs of each ambiguous occurrence, found once
    for score, a, b in pairs:
        if a.key in wanted:
            scored[a.key].append((score, b))
        if b.key in wanted:
            scored[b.key].append((score, a))
    for occurrence in sorted(ambiguous, key=lambda o: o.key):
        by_cluster = defaultdict(list)
        for score, other in scored[occurrence.key]:
            by_cluster[clusters.root(other.key)].append((score, other))
        ranked = sorted(((sum(s for s, _ in found) / len(found), root, max(found, key=lambda f: f[0])[1])
                         for root, found in by_cluster.items()
                         if root != clusters.root(occurrence.key) and clusters.anchored[root]),
                        key=lambda r: (-r[0], r[1]))
        fitting = [(mean, root, best) for mean, root, best in ranked
                   if mean >= THRESHOLD and clusters.compatible(occurrence.key, root, apart)]
        # Two clusters that fit about as well are two people it could be: it joins neither.
        if fitting and (len(fitting) == 1 or fitting[0][0] - fitting[1][0] >= MARGIN):
            mean, root, best = fitting[0]
            clusters.join(occurrence.key, root, explain(occurrence, best), confidence_of(mean))
        else:
            clusters.undecided.add(occurrence.key)


def candidate_pairs(members):
    """(score, a, b) for the pairs of a block that share a sub-block (`signatures`): all pairs
    of a small sub-block, each occurrence's nearest NEIGHBOURS in a large one."""
    index = defaultdict(list)
    for o in members:
        if o.name is not None:
            for key in signatures(o):
                index[key].append(o)
    order = {o.key: (o.name.initials, o.name.given, o.year or 0, o.key) for o in members if o.name is not None}
    seen, pairs = set(), []
    for posting in index.values():
        if len(posting) < 2:
            continue
        window = len(posting)
        if window > ALL_PAIRS_UP_TO:
            posting.sort(key=lambda o: order[o.key])
            window = NEIGHBOURS
        for i, a in enumerate(posting):
            for b in posting[i + 1:i + 1 + window]:
                pair = (a.key, b.key) if a.key < b.key else (b.key, a.key)
                if pair in seen or a.key[0] == b.key[0] or not a.name.compatible(b.name):
                    continue
                seen.add(pair)
                pairs.append((sum(points for points, _ in evidence_between(a, b)), a, b))
    return pairs


def signatures(o):
    """The sub-blocks of an occurrence: its institutions, its departments, COAUTHOR_SIGNATURES
    min-hashes of its coauthors, and its spelled-out given names with its topics.

    A pair reaches THRESHOLD only with a coauthor, institution or department in common, or
    with given names that agree (0.75), one country (0.3) and the same topics (1.0). Two
    occurrences share a coauthor min-hash with the Jaccard similarity of their coauthors,
    so one person's works with a steady team meet, while 10 random coauthors of a common
    name (a few hundred occurrences sharing one of them each) are not each a sub-block."""
    yield from (("i", iid) for iid in o.institutions)
    yield from (("d", did) for did in o.departments)
    if o.coauthor_blocks:
        hashed = [zlib.crc32(block.encode()) for block in o.coauthor_blocks]
        yield from (("c", a, min((a * h + b) % PRIME for h in hashed)) for a, b in COAUTHOR_SEEDS)
    if all(o.name.given) and o.topics:
        yield "n", o.name.given, frozenset(o.topics)


def specific(a, b):
    """Do two name forms pin one person down: the same two or more initials, or given names
    spelled out on both that agree?"""
    return (a.name.initials == b.name.initials and len(a.name.initials) > 1) or (
        all(a.name.given) and all(b.name.given) and a.name.initials == b.name.initials)


def evidence_between(a, b):
    """(points, words) for each piece of evidence that two compatible occurrences are one
    person (negative points: evidence against). Their sum is the pair's score."""
    found = []
    # A coauthor written the same way (surname and all initials) counts more than one who
    # may be another person of the same surname and first initial.
    shared = len(a.coauthors & b.coauthors)
    loosely = len(a.coauthor_blocks & b.coauthor_blocks) - shared
    if (a.crowded or b.crowded) and not specific(a, b):
        # Two people of this name share the department: only coauthors written the same
        # way, two or more of them, still say which of the two this is.
        if shared >= 2:
            return [(min(3.0, 1.5 * shared), f"{shared} coauthors in common, in a department with a namesake")]
        return [(0.0, "two people of this name work in one department")]
    if shared or loosely:
        found.append((min(3.0, 1.5 * shared + 0.75 * loosely), f"{shared + loosely} coauthor(s) in common"))
    if a.departments & b.departments:
        found.append((2.0, "same department"))
    elif a.institutions & b.institutions:
        found.append((1.5, "same institution"))
    elif a.countries & b.countries:
        found.append((0.3, "same country"))
    elif a.countries and b.countries:
        found.append((-0.5, "different countries"))
    if all(a.name.given) and all(b.name.given) and a.name.given[0] and b.name.given[0]:
        found.append((0.75, "given names agree"))
    if a.topics and b.topics:
        overlap = len(a.topics & b.topics) / len(a.topics | b.topics)
        if overlap:
            found.append((overlap, f"topics overlap {overlap:.2f}"))
    if a.year and b.year and abs(a.year - b.year) > 20:
        # Careers are long; only a gap longer than most weighs against.
        found.append((-0.5, f"{abs(a.year - b.year)} years apart"))
    return found


def explain(a, b):
    found = evidence_between(a, b)
    score = sum(points for points, _ in found)
    return f"works {a.key[0]} and {b.key[0]}: " + ", ".join(words for _, words in found) + f" (score {score:.1f})"


def write(db, occurrences, people):
    """Give each clustered occurrence its person, and rewrite those people's rows."""
    roots = defaultdict(list)
    for key, (root, clusters) in people.items():
        roots[(root, id(clusters))].append(key)
    assignments, rows = [], []
    for (root, _), keys in roots.items():
        clusters = people[keys[0]][1]
        members = [occurrences[key] for key in keys]
        orcids = sorted({o.orcid for o in members if o.orcid})
        anchor = "orcid:" + orcids[0] if orcids else "first:%d:%d" % min(keys)
        person = stable_id("person:" + anchor)
        assignments.extend((person, work_id, position) for work_id, position in keys)
        evidence = clusters.evidence[root][:EVIDENCE_KEPT]
        if root in clusters.undecided:
            evidence = ["this name form fits two people about equally well, so it is left on its own"]
        rows.append({"id": person, "orcid": orcids[0] if len(orcids) == 1 else None,
                     "confidence": clusters.weakest[root] if clusters.weakest[root] is not None else 1.0,
                     "evidence": json.dumps(evidence, ensure_ascii=False) if evidence else None,
                     "name_ids": Counter(o.name_id for o in members)})
    with db.atomic():
        old = {row[0] for row in db.execute("SELECT DISTINCT author_id FROM work_authors WHERE author_id IS NOT NULL")}
        db.conn.executemany("UPDATE work_authors SET author_id = ? WHERE work_id = ? AND position = ?", assignments)
        still = {row[0] for row in db.execute("SELECT DISTINCT author_id FROM work_authors WHERE author_id IS NOT NULL")}
        db.conn.executemany("DELETE FROM authors WHERE id = ?", [(gone,) for gone in old - still])
        forms = {row["id"]: row for row in db.query("SELECT * FROM author_names")}
        insert_rows(db, "authors", [person_row(row, forms) for row in rows])
        profile(db, {row["id"] for row in rows})


def person_row(row, forms):
    """A person's display name: the fullest name form they were written with, the most used first."""
    used = sorted(row.pop("name_ids").items(), key=lambda item: (-len(forms[item[0]]["fore_name"] or ""), -item[1]))
    best = forms[used[0][0]]
    return {**row, "name": best["name"], "last_name": best["last_name"], "fore_name": best["fore_name"],
            "is_collective": best["is_collective"], "works": None, "first_year": None, "last_year": None,
            "name_forms": json.dumps(sorted({forms[name_id]["name"] for name_id, _ in used}), ensure_ascii=False),
            "institutions": None, "top_coauthors": None}


def profile(db, people):
    """Works, years, institutions and top coauthors of the given people (and of their coauthors,
    whose lists name them)."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS profiled (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS coauthored (work_id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM profiled")
    db.execute("DELETE FROM coauthored")
    db.conn.executemany("INSERT OR IGNORE INTO profiled VALUES (?)", [(p,) for p in people])
    coauthored = """INSERT OR IGNORE INTO coauthored SELECT work_id FROM work_authors WHERE work_id IN (
        SELECT work_id FROM work_authors WHERE author_id IN (SELECT id FROM profiled))
        GROUP BY work_id HAVING count(*) <= ?"""
    # The works that count for coauthors: a consortium paper would pair thousands of people.
    db.execute(coauthored, [COAUTHOR_CONTEXT_UP_TO])
    db.execute("INSERT OR IGNORE INTO profiled SELECT DISTINCT b.author_id FROM work_authors a "
               "JOIN work_authors b ON b.work_id = a.work_id WHERE a.author_id IN (SELECT id FROM profiled) "
               "AND a.work_id IN (SELECT work_id FROM coauthored) AND b.author_id IS NOT NULL")
    db.execute(coauthored, [COAUTHOR_CONTEXT_UP_TO])  # and those of the coauthors just added
    db.execute("""UPDATE authors SET (works, first_year, last_year) = (
        SELECT count(DISTINCT wa.work_id), min(w.year), max(w.year) FROM work_authors wa
        JOIN works w ON w.id = wa.work_id WHERE wa.author_id = authors.id)
        WHERE id IN (SELECT id FROM profiled)""")
    top = defaultdict(list)
    for person, name, count in db.execute("""
            SELECT a.author_id, p.name, count(DISTINCT a.work_id) AS n FROM work_authors a
            JOIN work_authors b ON b.work_id = a.work_id AND b.author_id != a.author_id
            JOIN authors p ON p.id = b.author_id
            WHERE a.author_id IN (SELECT id FROM profiled) AND a.work_id IN (SELECT work_id FROM coauthored)
            GROUP BY a.author_id, b.author_id ORDER BY a.author_id, n DESC, p.name"""):
        if len(top[person]) < 5:
            top[person].append(f"{name} ({count})")
    places = defaultdict(list)
    for person, name, count in db.execute("""
            SELECT wa.author_id, i.name, count(DISTINCT wa.work_id) AS n FROM work_authors wa
            JOIN work_author_affiliations waa ON waa.work_id = wa.work_id AND waa.position = wa.position
            JOIN affiliations af ON af.id = waa.affiliation_id JOIN institutions i ON i.id = af.institution_id
            WHERE wa.author_id IN (SELECT id FROM profiled)
            GROUP BY wa.author_id, i.id ORDER BY wa.author_id, n DESC, i.name"""):
        if len(places[person]) < 5:
            places[person].append(f"{name} ({count})")
    db.conn.executemany("UPDATE authors SET top_coauthors = ?, institutions = ? WHERE id = ?",
                        [(json.dumps(top.get(p), ensure_ascii=False) if top.get(p) else None,
                          json.dumps(places.get(p), ensure_ascii=False) if places.get(p) else None, p)
                         for (p,) in db.execute("SELECT id FROM profiled")])


def curate(db, decision, pairs, note=None):
    """Store a curator's 'same' or 'different' decisions between occurrence pairs."""
    insert_rows(db, "author_curations", [
        {"id": None, "decision": decision, "work_id": a[0], "position": a[1], "other_work_id": b[0],
         "other_position": b[1], "note": note, "created_at": now()} for a, b in pairs])


def occurrences_of(db, person):
    return [tuple(row) for row in db.execute(
        "SELECT work_id, position FROM work_authors WHERE author_id = ? ORDER BY work_id, position", [person])]


def merge_people(db, a, b, note=None):
    """A curator's 'A and B are one person'; survives every rerun. Returns the person's id."""
    of_a, of_b = occurrences_of(db, a), occurrences_of(db, b)
    if not of_a or not of_b:
        raise ValueError(f"no author {a if not of_a else b} in the KB")
    both = sorted({work for work, _ in of_a} & {work for work, _ in of_b})
    if both:
        raise ValueError(f"authors {a} and {b} both wrote work {both[0]}: two authors of one work are two people")
    first_a, first_b = of_a[:1], of_b[:1]
    with db.atomic():
        curate(db, "same", [(first_a[0], first_b[0])], note)
    resolve(db, blocks=blocks_of(db, first_a + first_b))
    return db.execute("SELECT author_id FROM work_authors WHERE work_id = ? AND position = ?",
                      first_a[0]).fetchone()[0]


def split_person(db, person, work_ids, note=None):
    """A curator's 'the occurrences of PERSON on these works are someone else'. Returns the
    new person's id."""
    mine = occurrences_of(db, person)
    moved = [key for key in mine if key[0] in set(work_ids)]
    kept = [key for key in mine if key[0] not in set(work_ids)]
    if not moved or not kept:
        raise ValueError(f"author {person} has {len(mine)} work(s); name some of them, not none or all")
    with db.atomic():
        curate(db, "same", [(moved[0], key) for key in moved[1:]], note)
        curate(db, "different", [(moved[0], key) for key in kept], note)
    resolve(db, blocks=blocks_of(db, mine))
    return db.execute("SELECT author_id FROM work_authors WHERE work_id = ? AND position = ?",
                      moved[0]).fetchone()[0]


def blocks_at(db, affiliation_ids):
    """The blocks of the occurrences listing these affiliations: an affiliation resolved to
    another institution or department changes the evidence between their occurrences."""
    keys = set()
    for affiliation_id in affiliation_ids:
        keys.update(db.execute("SELECT work_id, position FROM work_author_affiliations WHERE affiliation_id = ?",
                               [affiliation_id]).fetchall())
    return blocks_of(db, keys) if keys else set()


def people_at(db, institution_ids):
    """The people with an occurrence at one of these institutions."""
    return {person for iid in institution_ids for (person,) in db.execute(
        "SELECT DISTINCT wa.author_id FROM affiliations af "
        "JOIN work_author_affiliations waa ON waa.affiliation_id = af.id "
        "JOIN work_authors wa ON wa.work_id = waa.work_id AND wa.position = waa.position "
        "WHERE af.institution_id = ? AND wa.author_id IS NOT NULL", [iid])}


def blocks_of(db, keys):
    names = name_forms(db)
    blocks = set()
    for work_id, position in keys:
        (name_id,) = db.execute("SELECT name_id FROM work_authors WHERE work_id = ? AND position = ?",
                                [work_id, position]).fetchone()
        blocks.add(names[name_id]["block"])
    return blocks
