"""Who is who, in its parts: what two occurrences share, computed from the KB as clustering sees it."""

import json
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from itertools import combinations

from kb import authors, bulk
from kb.db import open_db
from kb.load import WorkLoader

from test_identity import SBMU, hard_cases, person, work  # noqa: F401 (fixtures)

# Two authors written "Wang M" on work 72, and a "Wang MH" beside a "Wang M" on work 73.
AUTHOR_LISTS = {
    "71": [("Wang", "M"), ("Li", "J"), ("Chen", "X")],
    "72": [("Wang", "M"), ("Li", "J"), ("Li", "JH"), ("Wang", "M")],
    "73": [("Wang", "MH"), ("Wang", "M"), ("Chen", "X"), ("Li", "JH")],
    "74": [("Zhao", "Y"), ("Wang", "M"), ("Chen", "XY")],
}


def test_an_author_is_not_their_own_coauthor_but_a_namesake_on_the_work_is(tmp_path):
    db = open_db(str(tmp_path / "kb.db"))
    WorkLoader(db, "pubmed").write_batch([
        work(pmid, 2020, f"Study {pmid}", [(last, None, initials, SBMU, None) for last, initials in people])
        for pmid, people in AUTHOR_LISTS.items()], "hand-built")
    pmid_of = dict(db.execute("SELECT id, pmid FROM works"))
    occurrences = authors.gather(db, authors.name_forms(db), {"wang|m"})
    authors.number_bits(occurrences.values())  # as cluster() numbers a block group's coauthors

    def coauthors(key):
        """Surname|initials and surname|first initial of the other authors of the work."""
        others = [person for position, person in enumerate(AUTHOR_LISTS[pmid_of[key[0]]], 1) if position != key[1]]
        return ({f"{last.lower()}|{initials.lower()}" for last, initials in others},
                {f"{last.lower()}|{initials[0].lower()}" for last, initials in others})

    assert len(occurrences) == 6  # the Wang Ms and the Wang MH
    for a, b in combinations(occurrences.values(), 2):
        if a.key[0] != b.key[0]:
            (forms_a, blocks_a), (forms_b, blocks_b) = coauthors(a.key), coauthors(b.key)
            same = len(forms_a & forms_b)
            assert authors.coauthors_in_common(a, b) == (same, len(blocks_a & blocks_b) - same), (a.key, b.key)


SENT = []  # the blocks sent to a RecordedPool


class RecordedPool(ProcessPoolExecutor):
    """A process pool that keeps the blocks sent to it."""

    def submit(self, function, path, blocks, curations):
        SENT.append(blocks)
        return super().submit(function, path, blocks, curations)


def test_blocks_clustered_in_a_second_process_give_the_people_one_process_gives(hard_cases, monkeypatch):  # noqa: F811
    db = hard_cases
    # A curator's merge across two blocks: their occurrences must be clustered together.
    authors.merge_people(db, person(db, "3", 2), person(db, "5", 2))  # Zali A and Karimi A

    def people():
        return (db.execute("SELECT work_id, position, author_id FROM work_authors ORDER BY 1, 2").fetchall(),
                db.execute("SELECT * FROM authors ORDER BY id").fetchall())

    assert authors.resolve(db, everything=True)[0] == db["work_authors"].count
    alone = people()
    monkeypatch.setattr(authors, "SPLIT_FROM", 1)
    monkeypatch.setattr(bulk, "core_free", lambda: True)
    monkeypatch.setattr(authors, "ProcessPoolExecutor", RecordedPool)
    assert authors.resolve(db, everything=True)[0] == db["work_authors"].count
    assert people() == alone
    elsewhere, = SENT
    everything = {form["block"] for form in authors.name_forms(db).values()}
    assert elsewhere and elsewhere < everything and ({"zali|a", "karimi|a"} <= elsewhere
                                                     or not {"zali|a", "karimi|a"} & elsewhere)


def test_a_persons_top_coauthors_are_the_five_they_share_most_works_with_ties_by_name(demo_site):
    db, _ = demo_site
    names = dict(db.execute("SELECT id, name FROM authors"))
    listed = Counter(work_id for (work_id,) in db.execute("SELECT work_id FROM work_authors"))
    people_on = defaultdict(set)
    for work_id, person in db.execute("SELECT work_id, author_id FROM work_authors WHERE author_id IS NOT NULL"):
        if listed[work_id] <= authors.COAUTHOR_CONTEXT_UP_TO:
            people_on[work_id].add(person)
    shared = defaultdict(Counter)
    for people in people_on.values():
        for person in people:
            shared[person].update(people - {person})
    tied = 0
    for person, top in db.execute("SELECT id, top_coauthors FROM authors"):
        ranked = sorted(shared[person].items(), key=lambda item: (-item[1], names[item[0]]))
        assert json.loads(top or "[]") == [f"{names[other]} ({count})" for other, count in ranked[:5]], person
        tied += len(ranked) > 5 and ranked[4][1] == ranked[5][1]
    assert tied  # the order among equally frequent coauthors is tested, and some count more than one work
    assert any(count > 1 for counts in shared.values() for count in counts.values())
