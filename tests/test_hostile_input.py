"""Hostile input to the loaders: whatever a file holds, memory and time stay bounded.

Each case is generated at test time and loaded by `kb` in a child process whose address
space is capped (resource.setrlimit), so a regression fails instead of swapping; the
timeout only stops a runaway child."""

import random
import resource
import subprocess
import sys

from kb.db import open_db

MEMORY_CAP = 1 << 30  # bytes of address space for the child (Python with lxml and numpy needs ~400 MB)


def capped(memory):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    return limit


def kb(*args, memory=MEMORY_CAP, timeout=120):
    return subprocess.run([sys.executable, "-m", "kb", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=capped(memory))


def consortium_paper(pmid, authors):
    names = random.Random(pmid)
    people = "".join(
        f'<Author ValidYN="Y"><LastName>Member{names.randrange(10 ** 7)}</LastName><ForeName>Alex {i}</ForeName>'
        f'<Initials>A</Initials><AffiliationInfo><Affiliation>Department of Neurology {i % 40}, '
        f'University of Pittsburgh, Pittsburgh, PA, USA.</Affiliation></AffiliationInfo></Author>'
        for i in range(authors))
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><PubDate><Year>2021</Year>'
            f'</PubDate></JournalIssue><Title>Stroke</Title></Journal><ArticleTitle>A consortium trial of '
            f'stem cells after stroke</ArticleTitle><AuthorList CompleteYN="Y">{people}</AuthorList>'
            f'<Language>eng</Language></Article></MedlineCitation><PubmedData><ArticleIdList>'
            f'<ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>')


def test_a_paper_with_thousands_of_authors_loads_and_its_people_are_clustered(tmp_path):
    path = tmp_path / "consortium.xml"
    path.write_text('<?xml version="1.0"?><PubmedArticleSet>' + consortium_paper(39000001, 8000)
                    + consortium_paper(39000002, 12) + "</PubmedArticleSet>")
    result = kb("load", "pubmed", path, "--db", tmp_path / "kb.db")
    assert result.returncode == 0, result.stderr[-2000:]
    db = open_db(str(tmp_path / "kb.db"))
    assert db.execute("select count(*) from work_authors").fetchone()[0] == 8012
    assert db.execute("select count(*) from work_authors where author_id is null").fetchone()[0] == 0
    # A consortium paper gives no coauthor counts; a small paper does.
    small = db.execute("select top_coauthors from authors a join work_authors wa on wa.author_id = a.id "
                       "join works w on w.id = wa.work_id where w.pmid = '39000002' limit 1").fetchone()[0]
    big = db.execute("select top_coauthors from authors a join work_authors wa on wa.author_id = a.id "
                     "join works w on w.id = wa.work_id where w.pmid = '39000001' limit 1").fetchone()[0]
    assert small and "(1)" in small and big is None
