"""Every recorded real E-utilities response must load (or fail with a clear error naming it).

The folder comes from $REGENKB_REAL_DATA. When the variable is set and the folder is
missing, these tests fail: CI must never pass by skipping them.
"""

import os
from pathlib import Path

import pytest

from harvest import pubmed
from kb.ingest import LoadError, load_pubmed_file


def real_data():
    root = os.environ.get("REGENKB_REAL_DATA")
    if not root:
        pytest.skip("REGENKB_REAL_DATA is not set")
    path = Path(root)
    assert path.is_dir(), f"REGENKB_REAL_DATA={root} is set but is not a folder"
    return path


def pubmed_files():
    root = os.environ.get("REGENKB_REAL_DATA")
    folder = Path(root) / "pubmed" if root else None
    if folder is None or not folder.is_dir():
        return ["<missing>"]
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def is_error_body(path):
    """Recorded error bodies and header dumps are not E-utilities payloads by design."""
    return "RATE_LIMIT" in path.name or "RESPONSE_HEADERS" in path.name


@pytest.mark.parametrize("name", pubmed_files())
def test_every_recorded_pubmed_file_loads(db, name):
    folder = real_data() / "pubmed"
    assert folder.is_dir(), f"{folder} is missing"
    path = folder / name
    if is_error_body(path):
        with pytest.raises(LoadError, match=rf"{path.name}: not a PubMed E-utilities payload"):
            load_pubmed_file(db, path)
        return
    stats, _ = load_pubmed_file(db, path)
    assert stats.quarantined == 0, stats.errors
    with pubmed.open_payload(path) as handle:
        data = handle.read()
    if pubmed.sniff(data) == "efetch":
        expected = data.count(b"<PubmedArticle>") + data.count(b"<PubmedBookArticle>") + \
            data.count(b"<MedlineCitation ") * (b"<PubmedArticle>" not in data)
        assert stats.added == expected == db["works"].count
        assert db["works"].count == db["records"].count
        assert db.execute("select count(*) from works where title is null or year is null").fetchone()[0] == 0


def load_all(db):
    for path in sorted((real_data() / "pubmed").iterdir()):
        if path.is_file() and not is_error_body(path):
            load_pubmed_file(db, path)


def work(db, pmid):
    return db["works"].get(db.execute("select id from works where pmid = ?", [pmid]).fetchone()[0])


def test_real_facts_survive_loading(db):
    load_all(db)
    nejm = work(db, "29768149")
    assert nejm["journal"] == "The New England journal of medicine" and nejm["year"] == 2018
    assert db.execute("select accession from registry_ids where work_id = ?", [nejm["id"]]).fetchone()[0] \
        == "NCT02149199"
    assert nejm["abstract"].count("\n") >= 2  # structured abstract labels kept, one section per line

    gecko = work(db, "38988993")
    assert gecko["title"] == "Prey size preference in the tokay gecko (Gekko gecko)."
    assert db.execute("select ror from affiliations where name like 'Division of Behavioural Ecology%'"
                      ).fetchone()[0] == "https://ror.org/02k7v4d05"
    assert db.execute("select count(*) from authors where orcid = '0000-0002-3226-8621'").fetchone()[0] == 1

    book = work(db, "20301577")
    assert book["title"] == "CACNA1C-Related Disorders" and book["journal"] == "GeneReviews®"

    erratum = work(db, "38962805")
    assert db.execute("select relation from links where from_work_id = ? and asserted_by = 'pubmed'",
                      [erratum["id"]]).fetchone()[0] == "erratum_for"

    group = db.execute("select a.name, a.is_collective from works w join work_authors wa on wa.work_id = w.id "
                       "join authors a on a.id = wa.author_id where w.pmid = '34843274'").fetchall()
    assert len(group) == 1 and group[0][1] == 1

    german = work(db, "38048813")
    assert german["language"] == "ger" and german["title"].startswith("[")

    ringgold = db.execute("select count(*) from affiliations where ringgold is not null").fetchone()[0]
    assert ringgold >= 1
    multi = db.execute("select max(n) from (select count(*) n from work_author_affiliations "
                       "group by work_id, position)").fetchone()[0]
    assert multi >= 2
    assert db.execute("select count(*) from links where asserted_by = 'pubmed-elink'").fetchone()[0] > 100
