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

Blocks are independent: a refresh of SPLIT_FROM occurrences or more, with a core free,
clusters about half of them (by occurrences, the blocks a curator joined kept together) in
a second process that reads the KB through a read-only connection and sends back its
people rows, while this process clusters the rest and then writes them all; the people
are the same either way. While a block group is clustered its occurrences hold their
coauthors and topics as bits numbered within the group (`number_bits`), so a pair is
scored with ANDs and bit counts.
"""

import contextlib
import functools
import json
import math
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, groupby, takewhile

from .db import file_of, insert_rows, names_indexed, read_only
from .load import now
from .names import parse_name
from .text import fold, respelled, stable_id

THRESHOLD = 2.0
MARGIN = 0.5  # how much better an ambiguous name form must fit one person than the next
# A sub-block (`signatures`) of more occurrences than this (a prolific author's lab) pairs
# each occurrence with its nearest neighbours only, sorted by name form and year: joining
# is single-link, so a chain connects them as well as every pair would, and a block costs
# a few pairs per occurrence, not its square. benchmarks/authors.py at 20,000 works: 5
# and 4 give precision 0.986 and recall 0.904, 10 and 4 gave 0.986 and 0.903 (and 50 and
# 5 on every coauthor 0.984 and 0.908, in five times the time).
ALL_PAIRS_UP_TO = 5
NEIGHBOURS = 4
# Coauthor sub-blocks per occurrence: min-hashes under these (a, b) of (a * x + b) mod
# PRIME, a universal hash family, so two occurrences whose coauthors overlap by half meet
# in one of them with probability 1 - 0.5 ** 4.
COAUTHOR_SEEDS = ((0x9E3779B97F4A7C15, 0x632BE59BD9B4E019), (0xBF58476D1CE4E5B9, 0x94D049BB133111EB),
                  (0x2545F4914F6CDD1D, 0x1B873593CC9E2D51), (0xD6E8FEB86659FD93, 0x85EBCA77C2B2AE63))
PRIME = 2 ** 61 - 1
EVIDENCE_KEPT = 5
# A refresh of at least this many occurrences clusters about half of its blocks in a second
# process when a core is free (kb.bulk.core_free): blocks are independent, and clustering
# is most of a refresh (229,000 occurrences at 20,000 synthetic records). Below it the
# process's start and the pickled results cost more than they save.
SPLIT_FROM = 50_000
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
    year: int | None
    block: str
    form: str | None  # surname|initials, as the work's other authors have it among their coauthors
    # The work's authors, as surname|initials and as surname|first initial: one frozenset a
    # work, shared by its occurrences (`coauthors_in_common` leaves this one out), where a
    # set of coauthors each took 200 MB at 5,000 synthetic works. Empty on a work of more
    # than COAUTHOR_CONTEXT_UP_TO authors.
    work_forms: frozenset = frozenset()
    work_blocks: frozenset = frozenset()
    twin_on_work: bool = False  # another author of the work is written the same way
    namesake_on_work: bool = False  # another author of the work has the same surname and initial
    spelled: bool = False  # every given name spelled out, not only initials
    # One frozenset object for each distinct set (most occurrences of a lab list the same).
    institutions: frozenset = frozenset()
    departments: frozenset = frozenset()
    countries: frozenset = frozenset()
    topics: frozenset = frozenset()  # the work's, shared
    crowded: bool = False  # a department of this occurrence has two people of its block
    # Set by `number_bits` while the occurrence's block group is clustered, 0 otherwise: its
    # coauthors (written the same way; by surname and first initial) and its topics as bits
    # numbered within the group, so two occurrences compare with an AND and a bit count, not
    # by building the intersection of two sets (4.4 million pairs at 20,000 works).
    coauthor_bits: int = 0
    loose_bits: int = 0
    topic_bits: int = 0
    written: str | None = None  # the name as this work spells it (work_authors.written_name)


def resolve(db, everything=False, blocks=None, progress=None):
    """Cluster the occurrences of the blocks that need it (all of them with everything=True)
    and rewrite their people. Returns (occurrences clustered, people written).

    progress(label, items), if given, wraps the blocks as they are clustered."""
    names = name_forms(db)
    wanted = set(blocks or ())
    unassigned = "" if everything else " WHERE author_id IS NULL"
    for (name_id,) in db.execute(f"SELECT DISTINCT name_id FROM work_authors{unassigned}"):
        if name_id in names:
            wanted.add(names[name_id]["block"])
    curations = list(db.query("SELECT * FROM author_curations ORDER BY id"))
    wanted |= curated_blocks(db, names, curations, wanted)
    if not wanted:
        return 0, 0
    from .bulk import collect_less, core_free, fewer_collections

    # Scoring makes millions of short-lived tuples beside a few hundred thousand occurrences
    # that live to the end: at Python's default threshold the collector walked those again
    # and again, a fifth of clustering's time.
    with fewer_collections(), contextlib.ExitStack() as stack:
        elsewhere, path = None, file_of(db)
        # The other process reads the KB as committed, through a connection of its own.
        if path and not db.conn.in_transaction and (split := halves(db, names, wanted, curations)) and core_free():
            wanted, theirs = split
            pool = stack.enter_context(ProcessPoolExecutor(1, initializer=collect_less))
            elsewhere = pool.submit(clustered_in, path, theirs, curations)
        count, rows, assignments = clustered(db, names, wanted, curations, progress)
        if elsewhere:
            more = elsewhere.result()
            count, rows, assignments = count + more[0], rows + more[1], assignments + more[2]
    write(db, rows, assignments)
    return count, len(rows)


def clustered(db, names, wanted, curations, progress=None):
    """(occurrences, people rows, (person, work_id, position) assignments) of these blocks."""
    occurrences = gather(db, names, wanted)
    count, groups = len(occurrences), list(block_groups(occurrences, curations))
    del occurrences  # a group's occurrences are let go as soon as its people are found
    rows, assignments = [], []
    for i, members in enumerate(progress("people: blocks clustered", groups) if progress else groups):
        found, assigned = people(members, cluster(members, curations), names)
        rows += found
        assignments += assigned
        groups[i] = members = None
    return count, rows, assignments


def clustered_in(path, wanted, curations):
    """clustered() in a process of its own, over a read-only connection to the KB at path."""
    db = read_only(path)
    try:
        return clustered(db, name_forms(db), wanted, curations)
    finally:
        db.conn.close()


def halves(db, names, wanted, curations):
    """The wanted blocks in two sets of about as many occurrences each, the blocks that a
    curator's 'same' joins (one group in block_groups) in one set; None below SPLIT_FROM
    occurrences."""
    size = Counter()
    for name_id, count in db.execute("SELECT name_id, count(*) FROM work_authors WHERE name_id IN "
                                     "(SELECT value FROM json_each(?)) GROUP BY name_id", [name_ids_of(names, wanted)]):
        size[names[name_id]["block"]] += count
    if sum(size.values()) < SPLIT_FROM:
        return None
    ends = ((block_at(db, names, (c["work_id"], c["position"])),
             block_at(db, names, (c["other_work_id"], c["other_position"])))
            for c in curations if c["decision"] == "same")
    root = joined((a, b) for a, b in ends if a in wanted and b in wanted)
    units = defaultdict(set)
    for block in sorted(wanted):
        units[root(block)].add(block)
    # The largest first, each to the lighter half: clustering a block costs about its size.
    shares, weights = (set(), set()), [0, 0]
    for unit in sorted(units.values(), key=lambda unit: (-sum(size[block] for block in unit), min(unit))):
        lighter = weights.index(min(weights))
        shares[lighter].update(unit)
        weights[lighter] += sum(size[block] for block in unit)
    return shares if all(shares) else None


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


def curated_blocks(db, names, curations, wanted):
    """Blocks a curator's decision ties to a wanted block (a merge across two surnames)."""
    extra = set()
    for c in curations:
        blocks = {block_at(db, names, (c["work_id"], c["position"])),
                  block_at(db, names, (c["other_work_id"], c["other_position"]))} - {None}
        if blocks & (wanted | extra):
            extra |= blocks
    return extra - wanted


def gather(db, names, wanted):
    """The occurrences of these blocks with their context: coauthors, institutions,
    departments, countries, topics."""
    # Only the works of the wanted blocks are read: a refresh after a small load reads a
    # few rows of a large KB, through the name_id index and the work_id primary keys.
    ids = [json.dumps([work_id for (work_id,) in db.execute(
        "SELECT DISTINCT work_id FROM work_authors WHERE name_id IN (SELECT value FROM json_each(?))",
        [name_ids_of(names, wanted)])])]
    gathered = "(SELECT value FROM json_each(?))"
    topics = defaultdict(set)
    for work_id, name in db.execute("SELECT wm.work_id, m.name FROM work_mesh wm "
                                    f"JOIN mesh_terms m ON m.id = wm.mesh_id WHERE wm.work_id IN {gathered}", ids):
        if name.lower() not in TOPIC_STOP:
            topics[work_id].add(name.lower())
    shared = {}  # one object for each distinct frozenset

    def one(items):
        items = frozenset(items)
        return shared.setdefault(items, items)

    occurrences = {}
    rows = db.execute("SELECT wa.work_id, wa.position, wa.name_id, w.year, w.title, wa.written_name "
                      f"FROM work_authors wa JOIN works w ON w.id = wa.work_id WHERE wa.work_id IN {gathered} "
                      "ORDER BY wa.work_id, wa.position", ids)
    for work_id, members in groupby(rows, key=lambda row: row[0]):
        members = [(position, names.get(name_id), year, title, written)
                   for _, position, name_id, year, title, written in members]
        _, _, year, title, _ = members[0]
        forms = Counter(form["key"] for _, form, _, _, _ in members if form)
        blocks = Counter(form["block"] for _, form, _, _, _ in members if form)
        context = len(members) <= COAUTHOR_CONTEXT_UP_TO
        work_forms, work_blocks = (frozenset(forms), frozenset(blocks)) if context else (frozenset(), frozenset())
        topic = one(topics.pop(work_id, None) or (word for word in fold(title or "").split() if len(word) > 4))
        for position, form, _, _, written in members:
            if form and form["block"] in wanted:
                occurrences[(work_id, position)] = Occurrence(
                    (work_id, position), form["parsed"], form["id"], form["orcid"], year, form["block"], form["key"],
                    work_forms, work_blocks, forms[form["key"]] > 1, blocks[form["block"]] > 1,
                    bool(form["parsed"] and form["parsed"].given and all(form["parsed"].given)), topics=topic,
                    written=written)
    places = db.execute(
        "SELECT waa.work_id, waa.position, af.institution_id, af.department_id, af.country "
        "FROM work_author_affiliations waa JOIN affiliations af ON af.id = waa.affiliation_id "
        f"WHERE waa.work_id IN {gathered} ORDER BY waa.work_id, waa.position", ids)
    for key, rows in groupby(places, key=lambda row: (row[0], row[1])):
        if key in occurrences:
            _, _, institutions, departments, countries = zip(*rows)
            occurrence = occurrences[key]
            occurrence.institutions, occurrence.departments, occurrence.countries = (
                one(filter(None, institutions)), one(filter(None, departments)), one(filter(None, countries)))
    # Where two people of one block write together, their department and coauthors are
    # shared and say nothing about which of them an occurrence is.
    crowded = {(o.block, department) for o in occurrences.values() if o.namesake_on_work
               for department in o.departments}
    for o in occurrences.values():
        o.crowded = any((o.block, department) in crowded for department in o.departments)
    return occurrences


def name_ids_of(names, wanted):
    """The ids of the name forms of these blocks, as a JSON list for json_each."""
    return json.dumps([name_id for name_id, form in names.items() if form["block"] in wanted])


def block_groups(occurrences, curations):
    """Occurrences grouped by block, blocks a curator's 'same' joins being one group."""
    ends = ((occurrences.get((c["work_id"], c["position"])), occurrences.get((c["other_work_id"], c["other_position"])))
            for c in curations if c["decision"] == "same")
    root = joined((a.block, b.block) for a, b in ends if a and b)
    groups = defaultdict(list)
    for occurrence in occurrences.values():
        groups[root(occurrence.block)].append(occurrence)
    return groups.values()


def joined(pairs):
    """root(block) of the groups that these pairs of blocks join (a union-find): blocks a
    curator's 'same' ties must be clustered together, in one process."""
    parent = {}

    def root(block):
        parent.setdefault(block, block)
        while parent[block] != block:
            block = parent[block]
        return block

    for a, b in pairs:
        parent[root(a)] = root(b)
    return root


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
        """Join the clusters of a and b. `reason`: words, or a function that gives them, called
        only when the cluster keeps them (EVIDENCE_KEPT): most joins of a large person have
        no room left, and explaining a pair costs more than scoring it."""
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
        kept = self.evidence[a] + self.evidence.pop(b)
        if len(kept) < EVIDENCE_KEPT:
            kept.append(reason() if callable(reason) else reason)
        self.evidence[a] = kept[:EVIDENCE_KEPT]
        weakest = [w for w in (self.weakest[a], self.weakest.pop(b), confidence) if w is not None]
        self.weakest[a] = min(weakest)


def cluster(members, curations):
    """The Clusters of one block group: who is who among its occurrences."""
    number_bits(members)
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
    # Best score first, pairs that tie in the order of their keys (a's, then b's): a pair is
    # one int of its occurrences' ranks, sorted as ints, then by score alone, a stable sort
    # (reverse=True keeps ties in order). Most pairs of a large block tie on their score with
    # others, and ints and floats sort several times faster than tuples of keys.
    in_order = sorted(members, key=lambda o: o.key)
    rank = {o.key: i for i, o in enumerate(in_order)}
    scores = {(rank[a.key] << 32) | rank[b.key]: score for score, a, b in candidate_pairs(members)
              if score >= THRESHOLD and not (a.orcid and b.orcid and a.orcid != b.orcid)}
    ranked = sorted(scores)
    ranked.sort(key=scores.__getitem__, reverse=True)
    pairs = [(scores[pair], in_order[pair >> 32], in_order[pair & 0xFFFFFFFF]) for pair in ranked]
    # Forms that could be either of two people ('Esposito M' beside 'Esposito MA' and
    # 'Esposito MH') join last, each to the cluster it matches best on average: joining
    # them first, pair by pair, would chain the two people together.
    ambiguous = ambiguous_forms({o.name for o in members if o.name})
    for o in members:
        clusters.anchored[o.key] = o.name not in ambiguous
    unsure = {o.name_id for o in members if o.name in ambiguous}
    # The pairs that may still join after attach: those of an ambiguous form, and those of
    # two clusters not compatible now if a curator's merge across surnames is in the group.
    # Otherwise two clusters not compatible stay so as they grow (their works, ORCIDs and
    # forms only add conflicts), and were a fifth of the pairs at 20,000 synthetic records.
    # A pair of one cluster stays in one cluster, and is most of a block's pairs.
    surnames = len({o.name.surname for o in members if o.name})
    later, root = [], clusters.root
    for pair in pairs:
        score, a, b = pair
        if a.name_id in unsure or b.name_id in unsure:
            later.append(pair)
        elif root(a.key) != root(b.key):
            if clusters.compatible(a.key, b.key, apart):
                clusters.join(a.key, b.key, functools.partial(explain, a, b), confidence_of(score))
            elif surnames > 1:
                later.append(pair)
    attach(clusters, [o for o in members if o.name_id in unsure], later, apart)
    for score, a, b in later:
        if clusters.undecided.isdisjoint((a.key, b.key)) and clusters.separate(a.key, b.key, apart):
            clusters.join(a.key, b.key, functools.partial(explain, a, b), confidence_of(score))
    number_bits(members, clear=True)
    return clusters


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
            clusters.join(occurrence.key, root, functools.partial(explain, occurrence, best), confidence_of(mean))
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
    # A pair is seen as one int (two members' numbers), not a tuple of two tuples, whose
    # hash Python computes anew at every lookup.
    number = {o.key: i for i, o in enumerate(members)}
    seen, fits = set(), {}  # fits: are two name forms compatible, by their ids (a block has a few dozen)
    for posting in index.values():
        if len(posting) < 2:
            continue
        window = len(posting)
        if window > ALL_PAIRS_UP_TO:
            posting.sort(key=lambda o: order[o.key])
            window = NEIGHBOURS
        numbers = [number[o.key] for o in posting]
        works = [o.key[0] for o in posting]
        for i, a in enumerate(posting):
            x, work = numbers[i], works[i]
            for j in range(i + 1, min(i + 1 + window, len(posting))):
                y = numbers[j]
                pair = (x << 32) | y if x < y else (y << 32) | x
                if pair in seen or works[j] == work:
                    continue
                b = posting[j]
                forms = (a.name_id, b.name_id)  # 64-bit ids: a tuple, not one int
                fit = fits.get(forms)
                if fit is None:
                    fit = fits[forms] = a.name.compatible(b.name)
                if fit:
                    seen.add(pair)
                    yield sum([points for points, _ in evidence_between(a, b, words=False)]), a, b


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
    hashed = [block_hashes(block) for block in o.work_blocks if block != o.block or o.namesake_on_work]
    if hashed:
        yield from (("c", a, low) for (a, _), low in zip(COAUTHOR_SEEDS, map(min, zip(*hashed))))
    if all(o.name.given) and o.topics:
        yield "n", o.name.given, o.topics


@functools.lru_cache(maxsize=1 << 16)
def block_hashes(block):
    """A coauthor block's hash under each of COAUTHOR_SEEDS (a block is many works' coauthor)."""
    hashed = zlib.crc32(block.encode())
    return tuple((a * hashed + b) % PRIME for a, b in COAUTHOR_SEEDS)


class Bits:
    """Bit numbers for the items of one block group (coauthor forms, blocks or topics), and
    the mask of each set met: a work's sets are one object shared by its occurrences."""

    def __init__(self):
        self.bits, self.masks = {}, {}  # item: its bit (1 << its number)

    def of(self, items, leaving=None):
        mask = self.masks.get(items)
        if mask is None:
            bits = self.bits
            for item in items:
                if item not in bits:
                    bits[item] = 1 << len(bits)
            mask = self.masks[items] = sum(map(bits.__getitem__, items))
        if leaving in self.bits:
            mask &= ~self.bits[leaving]
        return mask


def number_bits(members, clear=False):
    """Give the occurrences of a block group their bitmasks (Occurrence.coauthor_bits...),
    or take them back (clear=True: a group's masks are held only while it is clustered).
    An occurrence's coauthors are its work's authors but itself, unless another author of
    the work is written the same way."""
    forms, blocks, topics = Bits(), Bits(), Bits()
    for o in members:
        if clear:
            o.coauthor_bits = o.loose_bits = o.topic_bits = 0
        else:
            o.coauthor_bits = forms.of(o.work_forms, leaving=None if o.twin_on_work else o.form)
            o.loose_bits = blocks.of(o.work_blocks, leaving=None if o.namesake_on_work else o.block)
            o.topic_bits = topics.of(o.topics)


def coauthors_in_common(a, b):
    """(written the same way, with the same surname and first initial only): the coauthors
    two occurrences of one block group (`number_bits`) share."""
    same = (a.coauthor_bits & b.coauthor_bits).bit_count()
    return same, (a.loose_bits & b.loose_bits).bit_count() - same


def specific(a, b):
    """Do two name forms pin one person down: the same two or more initials, or given names
    spelled out on both that agree?"""
    return (a.name.initials == b.name.initials and len(a.name.initials) > 1) or (
        all(a.name.given) and all(b.name.given) and a.name.initials == b.name.initials)


def evidence_between(a, b, words=True):
    """(points, words) for each piece of evidence that two compatible occurrences are one
    person (negative points: evidence against). Their sum is the pair's score. With
    words=False the words are left out (False): a block's pairs are scored by the hundred
    thousand, and only the few that join are explained."""
    found = []
    # A coauthor written the same way (surname and all initials) counts more than one who
    # may be another person of the same surname and first initial.
    shared, loosely = coauthors_in_common(a, b)
    if (a.crowded or b.crowded) and not specific(a, b):
        # Two people of this name share the department: only coauthors written the same
        # way, two or more of them, still say which of the two this is.
        if shared >= 2:
            return [(min(3.0, 1.5 * shared),
                     words and f"{shared} coauthors in common, in a department with a namesake")]
        return [(0.0, "two people of this name work in one department")]
    if shared or loosely:
        found.append((min(3.0, 1.5 * shared + 0.75 * loosely), words and f"{shared + loosely} coauthor(s) in common"))
    if not a.departments.isdisjoint(b.departments):
        found.append((2.0, "same department"))
    elif not a.institutions.isdisjoint(b.institutions):
        found.append((1.5, "same institution"))
    elif not a.countries.isdisjoint(b.countries):
        found.append((0.3, "same country"))
    elif a.countries and b.countries:
        found.append((-0.5, "different countries"))
    if a.spelled and b.spelled:
        found.append((0.75, "given names agree"))
    if a.topics and b.topics:
        common = (a.topic_bits & b.topic_bits).bit_count()
        if common:
            overlap = common / (len(a.topics) + len(b.topics) - common)  # Jaccard
            found.append((overlap, words and f"topics overlap {overlap:.2f}"))
    if a.year and b.year and abs(a.year - b.year) > 20:
        # Careers are long; only a gap longer than most weighs against.
        found.append((-0.5, words and f"{abs(a.year - b.year)} years apart"))
    return found


def explain(a, b):
    found = evidence_between(a, b)
    score = sum(points for points, _ in found)
    return f"works {a.key[0]} and {b.key[0]}: " + ", ".join(words for _, words in found) + f" (score {score:.1f})"


def people(members, clusters, names):
    """The authors rows of a clustered block group's people, and (person, work_id, position)
    for their occurrences."""
    found = defaultdict(list)
    for o in members:
        found[clusters.root(o.key)].append(o)
    rows, assignments = [], []
    for root, mine in found.items():
        orcids = sorted({o.orcid for o in mine if o.orcid})
        anchor = "orcid:" + orcids[0] if orcids else "first:%d:%d" % min(o.key for o in mine)
        person = stable_id("person:" + anchor)
        assignments.extend((person, *o.key) for o in mine)
        evidence = clusters.evidence[root][:EVIDENCE_KEPT]
        if root in clusters.undecided:
            evidence = ["this name form fits two people about equally well, so it is left on its own"]
        rows.append(person_row({"id": person, "orcid": orcids[0] if len(orcids) == 1 else None,
                                "confidence": clusters.weakest[root] if clusters.weakest[root] is not None else 1.0,
                                "evidence": json.dumps(evidence, ensure_ascii=False) if evidence else None,
                                "written": Counter((o.name_id, o.written) for o in mine)}, names))
    return rows, assignments


def write(db, rows, assignments):
    """Give each clustered occurrence its person, and rewrite those people's rows."""
    with db.atomic():
        old = {row[0] for row in db.execute("SELECT DISTINCT author_id FROM work_authors WHERE author_id IS NOT NULL")}
        db.conn.executemany("UPDATE work_authors SET author_id = ? WHERE work_id = ? AND position = ?", assignments)
        still = {row[0] for row in db.execute("SELECT DISTINCT author_id FROM work_authors WHERE author_id IS NOT NULL")}
        db.conn.executemany("DELETE FROM authors WHERE id = ?", [(gone,) for gone in old - still])
        insert_rows(db, "authors", rows)
        names_indexed(db, "authors", (old - still) | {row["id"] for row in rows})
        profile(db, {row["id"] for row in rows})


def person_row(row, forms):
    """A person's display name and name forms, in the spellings of the person's own papers
    (`row["written"]`: {(name_id, written name): occurrences}). author_names keeps one
    spelling of a folded name ('Müller' and 'Muller' share a row), maybe another paper's,
    even another person's: the fullest name form they were written with, the most used first,
    gives the name's parts, spelt as their papers most often spelt that form."""
    written = sorted(row.pop("written").items(), key=lambda item: (-item[1], item[0][1] or ""))
    used = Counter()
    for (name_id, _), count in written:
        used[name_id] += count
    best_id = min(used, key=lambda name_id: (-len(forms[name_id]["fore_name"] or ""), -used[name_id]))
    best, spelling = forms[best_id], next(text for (name_id, text), _ in written if name_id == best_id)
    spellings = Counter()
    for (_, text), count in written:
        if text:
            spellings[text] += count
    return {**row, "name": respelled(best["name"], spelling), "last_name": respelled(best["last_name"], spelling),
            "fore_name": respelled(best["fore_name"], spelling), "is_collective": best["is_collective"],
            "works": None, "first_year": None, "last_year": None,
            "name_forms": json.dumps(sorted(spellings, key=lambda text: (-spellings[text], text)), ensure_ascii=False),
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
    # Their coauthors, unless every person is profiled already (a first or full refresh:
    # 1.5 CPU s at 20,000 synthetic records for nothing).
    if db.execute("SELECT 1 FROM authors WHERE id NOT IN (SELECT id FROM profiled) LIMIT 1").fetchone():
        db.execute("INSERT OR IGNORE INTO profiled SELECT DISTINCT b.author_id FROM work_authors a "
                   "JOIN work_authors b ON b.work_id = a.work_id WHERE a.author_id IN (SELECT id FROM profiled) "
                   "AND a.work_id IN (SELECT work_id FROM coauthored) AND b.author_id IS NOT NULL")
        db.execute(coauthored, [COAUTHOR_CONTEXT_UP_TO])  # and those of the coauthors just added
    db.execute("""UPDATE authors SET (works, first_year, last_year) = (
        SELECT count(DISTINCT wa.work_id), min(w.year), max(w.year) FROM work_authors wa
        JOIN works w ON w.id = wa.work_id WHERE wa.author_id = authors.id)
        WHERE id IN (SELECT id FROM profiled)""")
    top = top_coauthors(db)
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


def top_coauthors(db):
    """{person: ["name (works)", ...]}: the five coauthors each profiled person shares most
    works in `coauthored` with, the most first, then by name (NULL first, as SQL sorts).

    Counted here from one read of those works' authors: SQL grouping every pair of
    occurrences on a work took 4.8-5.0 CPU s of a profile of everyone at 20,000 synthetic
    records (8.9 in all), this 1.1, with the same lists."""
    on_work, names = defaultdict(set), {}
    for work_id, person, name in db.execute(
            "SELECT wa.work_id, wa.author_id, p.name FROM work_authors wa JOIN authors p ON p.id = wa.author_id "
            "WHERE wa.work_id IN (SELECT work_id FROM coauthored)"):
        on_work[work_id].add(person)
        names[person] = name
    profiled = {person for (person,) in db.execute("SELECT id FROM profiled")}
    works_of = defaultdict(list)  # {person: the people of each of their works}
    for people in on_work.values():
        for person in people & profiled:
            works_of[person].append(people)
    top = {}
    for person, works in works_of.items():
        counts = Counter(chain.from_iterable(works))
        del counts[person]
        ranked = counts.most_common()
        if len(ranked) > 5:  # only those as frequent as the fifth can be among the five
            fifth = ranked[4][1]
            ranked = list(takewhile(lambda item: item[1] >= fifth, ranked))
        ranked.sort(key=lambda item: (-item[1], names[item[0]] is not None, names[item[0]] or ""))
        top[person] = [f"{names[other]} ({count})" for other, count in ranked[:5]]
    return top


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
    return {block_at(db, names, key) for key in keys} - {None}


def block_at(db, names, key):
    """The block of the occurrence (work_id, position), None if there is none."""
    row = db.execute("SELECT name_id FROM work_authors WHERE work_id = ? AND position = ?", key).fetchone()
    form = row and names.get(row[0])
    return form and form["block"]
