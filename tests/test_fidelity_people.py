"""People and their names against a real recorded answer: a person's name and name forms, and
each author's full name on the work page, are spelt as the person's own papers spell them.

author_names keeps one row per folded name ('Jiménez M' and 'Jimenez M' share one), spelt as
one of its papers spells it; the real Europe PMC answer below holds both spellings, on papers
of two different people. The expected spellings are read from the file with json alone.
"""

import asyncio
import json
import re
import unicodedata

import pytest
from bs4 import BeautifulSoup

from kb import authors, serve
from kb.db import open_db
from kb.ingest import load_works_file

from test_conformance_real import real_data

ANSWER = "pyepmc__cursor_10pages_wrapper.json"
WORD = re.compile(r"[^\W\d_]+")


def folded(word):
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).casefold()


def source_names():
    """{'MED:40527197' (source:id): the authors as the answer's authorString writes them, in order}."""
    pages = json.loads((real_data() / "europepmc" / ANSWER).read_bytes())
    return {f"{result['source']}:{result['id']}": [name.strip() for name in result["authorString"].rstrip(".").split(", ")]
            for page in pages for result in page["resultList"]["result"] if result.get("authorString")}


def misspelt(text, spellings):
    """The words of `text` that the spellings hold in other letters (accents aside): 'Jimenez'
    where the papers write 'Jiménez'. Case is no spelling."""
    written = {word.casefold() for spelling in spellings for word in WORD.findall(spelling)}
    by_fold = {folded(word) for word in written}
    return [word for word in WORD.findall(text or "") if folded(word) in by_fold and word.casefold() not in written]


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("people") / "kb.db"
    db = open_db(str(path))
    load_works_file(db, "europepmc", real_data() / "europepmc" / ANSWER)
    authors.resolve(db, everything=True)
    return path, db


def occurrences(db):
    """(record's source:id, position, person, author_names' spelling) of every author occurrence."""
    return db.execute("SELECT r.source_id, wa.position, wa.author_id, n.name FROM work_authors wa "
                      "JOIN records r ON r.work_id = wa.work_id JOIN author_names n ON n.id = wa.name_id "
                      "ORDER BY wa.work_id, wa.position").fetchall()


def test_the_answer_holds_a_name_two_papers_spell_two_ways(kb):
    _, db = kb
    names = source_names()
    shared = [(key, position) for key, position, _, row_name in occurrences(db)
              if misspelt(row_name, [names[key][position - 1]])]
    assert shared, "no name form spelt otherwise than its row: the file no longer tests spellings"


def test_every_persons_name_and_name_forms_are_spelt_as_their_own_papers_spell_them(kb):
    _, db = kb
    names = source_names()
    spellings = {}
    for key, position, person, _ in occurrences(db):
        spellings.setdefault(person, []).append(names[key][position - 1])
    checked = 0
    for person, name, forms in db.execute("SELECT id, name, name_forms FROM authors"):
        assert set(json.loads(forms)) == set(spellings[person]), (person, name)
        assert misspelt(name, spellings[person]) == [], (person, name, spellings[person])
        checked += 1
    assert checked == len(spellings) > 1000


def test_each_authors_full_name_on_the_work_page_is_spelt_as_that_paper_spells_it(kb):
    path, db = kb
    names = source_names()
    datasette = serve.datasette_for(path)
    shared = {key for key, position, _, row_name in occurrences(db) if misspelt(row_name, [names[key][position - 1]])}
    assert shared
    for key in sorted(shared):
        work_id = db.execute("SELECT work_id FROM records WHERE source_id = ?", [key]).fetchone()[0]
        page = BeautifulSoup(asyncio.run(datasette.client.get(f"/-/work/{work_id}")).text, "html.parser")
        links = page.select("p.authors a")
        assert [link.text for link in links] == names[key]
        for link, written in zip(links, names[key]):
            assert link["title"] and misspelt(link["title"], [written]) == [], (key, link["title"], written)
