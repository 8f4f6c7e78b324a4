"""Hostile input to the loaders: whatever a file holds, memory and time stay bounded.

Each case is generated at test time and loaded by `kb` in a child process whose address
space is capped (resource.setrlimit), so a regression fails instead of swapping; the
timeout only stops a runaway child."""

import gzip
import json
import random
import resource
import subprocess
import sys
import zlib
from pathlib import Path

from harvest import limits
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


def paper(pmid, title="Mesenchymal stem cells after ischemic stroke", extra=""):
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print"><PubDate><Year>2022</Year>'
            f'</PubDate></JournalIssue><Title>Stroke</Title></Journal><ArticleTitle>{title}</ArticleTitle>{extra}'
            f'<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Rahimi</LastName><ForeName>Sara</ForeName>'
            f'<Initials>S</Initials></Author></AuthorList><Language>eng</Language></Article></MedlineCitation>'
            f'<PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList>'
            f'</PubmedData></PubmedArticle>')


def gzipped(path, *parts):
    """A .gz written piece by piece: a part is bytes, or (byte, count) for a long run of one byte."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        for part in parts:
            if isinstance(part, tuple):
                byte, count = part
                piece = byte * (16 << 20)
                for _ in range(count // len(piece)):
                    out.write(piece)
            else:
                out.write(part)
    return path


def pmids(db_path):
    return [row[0] for row in open_db(str(db_path)).execute("select pmid from works order by pmid")]


def test_a_gzip_bomb_and_dev_zero_are_refused_from_their_first_bytes(tmp_path):
    bomb = gzipped(tmp_path / "pubmed25n0001.xml.gz", (b"\0", 1 << 30))
    assert bomb.stat().st_size < 8 << 20
    for path in (bomb, "/dev/zero"):
        result = kb("load", "pubmed", path, "--db", tmp_path / "kb.db", timeout=60)
        assert result.returncode == 1 and f"{path}: not a PubMed E-utilities payload" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_gigabyte_of_whitespace_between_two_records_is_streamed_past(tmp_path):
    path = gzipped(tmp_path / "spaced.xml.gz", b'<?xml version="1.0"?>\n<PubmedArticleSet>' + paper(1).encode(),
                   (b" ", 1 << 30), paper(2).encode() + b"</PubmedArticleSet>")
    result = kb("load", "pubmed", path, "--db", tmp_path / "kb.db")
    assert result.returncode == 0, result.stderr[-2000:]
    assert pmids(tmp_path / "kb.db") == ["1", "2"]


def test_a_record_past_the_record_limit_is_set_aside_and_the_next_one_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("REGENKB_MAX_RECORD_MB", "8")
    huge = paper(7, extra="<Abstract><AbstractText>" + "stroke " * (3 << 20) + "</AbstractText></Abstract>")
    path = tmp_path / "huge.xml"
    path.write_text(f'<PubmedArticleSet>{paper(6)}{huge}{paper(8)}</PubmedArticleSet>')
    result = kb("load", "pubmed", path, "--db", tmp_path / "kb.db")
    assert result.returncode == 0, result.stderr[-2000:]
    db = open_db(str(tmp_path / "kb.db"))
    assert pmids(tmp_path / "kb.db") == ["6", "8"]
    record_id, error = db.execute("select record_id, error from quarantine").fetchone()
    assert record_id == "7" and "longer than 8 MB, the limit for one record (REGENKB_MAX_RECORD_MB" in error


def test_a_huge_title_is_indexed_cut_and_kept_whole_in_the_raw_record(tmp_path):
    title = "Exosomes " * ((20 << 20) // 9)  # 20 MB
    path = tmp_path / "title.xml"
    path.write_text(f"<PubmedArticleSet>{paper(11, title=title)}{paper(12)}</PubmedArticleSet>")
    result = kb("load", "pubmed", path, "--db", tmp_path / "kb.db", memory=MEMORY_CAP)
    assert result.returncode == 0, result.stderr[-2000:]
    db = open_db(str(tmp_path / "kb.db"))
    stored = db.execute("select title from works where pmid = '11'").fetchone()[0]
    assert len(stored) == limits.TITLE_CHARS and stored.endswith(limits.TRUNCATED)
    raw = zlib.decompress(db.execute("select raw from records where source_id = '11'").fetchone()[0])
    assert raw.count(b"Exosomes ") == title.count("Exosomes ")


def test_one_odd_record_costs_only_itself_in_every_load_mode(tmp_path):
    deep = "<i>" * 3000 + "deep" + "</i>" * 3000  # past libxml2's nesting limit even with huge_tree
    doctype = '<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY trade "(TM)">]>\n'
    body = (paper(21) + paper(22, title="Neural stem cells &trade; in stroke") + paper(23, title=deep)
            + paper(24, title="Undeclared &nobody; entity") + paper(25))
    path = tmp_path / "odd.xml"
    path.write_text(doctype + f"<PubmedArticleSet>{body}</PubmedArticleSet>")
    for mode in ([], ["--workers", "2"]):
        db_path = tmp_path / f"kb{len(mode)}.db"
        result = kb("load", "pubmed", path, *mode, "--db", db_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert pmids(db_path) == ["21", "22", "25"]
        quarantined = open_db(str(db_path)).execute("select record_id from quarantine order by record_id")
        assert [row[0] for row in quarantined] == ["23", "24"]
    from kb.ingest import load_pubmed_file
    db = open_db(str(tmp_path / "one.db"))
    load_pubmed_file(db, path)
    assert [r[0] for r in db.execute("select pmid from works order by pmid")] == ["21", "22", "25"]


EVERY_LOADER = """
import sys
from kb.db import open_db
from kb.ingest import LoadError, load_ctgov_file, load_works_file
db = open_db(sys.argv[1])
for path in sys.argv[2:]:
    for load in [lambda p, s=s: load_works_file(db, s, p) for s in ("openalex", "crossref", "europepmc")] + [
            lambda p: load_ctgov_file(db, p)]:
        try:
            load(path)
        except LoadError as error:
            print(error)
"""


def test_every_loader_refuses_zeros_from_their_first_bytes(tmp_path):
    bomb = gzipped(tmp_path / "part_000.gz", (b"\0", 1 << 30))
    result = subprocess.run([sys.executable, "-c", EVERY_LOADER, tmp_path / "kb.db", bomb, "/dev/zero"],
                            capture_output=True, text=True, timeout=120, preexec_fn=capped(MEMORY_CAP))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f"{path}: binary data (NUL bytes in its first 8 KB), not a payload of "
                                          "any source" for path in (bomb, "/dev/zero") for _ in range(4)]


def test_a_snapshot_line_past_the_record_limit_is_set_aside_and_the_next_lines_load(tmp_path, monkeypatch):
    monkeypatch.setenv("REGENKB_MAX_RECORD_MB", "2")
    work = '{"id": "https://openalex.org/W%d", "title": "Exosomes after stroke %d", "publication_year": 2021}\n'
    huge = '{"id": "https://openalex.org/W2", "title": "' + "x" * (3 << 20) + '"}\n'
    path = gzipped(tmp_path / "part_001.gz", (work % (1, 1)).encode(), huge.encode(), (work % (3, 3)).encode())
    result = kb("load", "openalex", path, "--db", tmp_path / "kb.db")
    assert result.returncode == 0, result.stderr[-2000:]
    db = open_db(str(tmp_path / "kb.db"))
    assert [r[0] for r in db.execute("select openalex_id from works order by 1")] == ["W1", "W3"]
    record_id, error = db.execute("select record_id, error from quarantine").fetchone()
    assert record_id == "line 2" and "longer than 2 MB, the limit for one record" in error


# `kb` in a child that reports its peak resident memory when it exits: VmHWM of its own
# image (ru_maxrss would count the forked test process's memory too).
MEASURED = ("import atexit, re, sys; atexit.register(lambda: print('peak', int(re.search(r'VmHWM:\\s+(\\d+)', "
            "open('/proc/self/status').read()).group(1)) >> 10, file=sys.stderr)); "
            "from kb.cli import cli; cli(prog_name='kb')")


def peak_of(*args, timeout=120):
    """(result, peak resident MB) of `kb args` in a memory-capped child."""
    result = subprocess.run([sys.executable, "-c", MEASURED, *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, preexec_fn=capped(MEMORY_CAP))
    peak = [int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("peak ")]
    return result, peak[-1]


def test_a_huge_trial_title_is_indexed_cut_and_linking_it_stays_small(tmp_path):
    title = "Mesenchymal stem cells after ischemic stroke " * ((20 << 20) // 45)  # 20 MB
    abstract = "Twelve patients received mesenchymal stem cells. " * ((20 << 20) // 50)  # 20 MB
    (tmp_path / "work.xml").write_text(
        f"<PubmedArticleSet>{paper(31, extra=f'<Abstract><AbstractText>{abstract}</AbstractText></Abstract>')}"
        "</PubmedArticleSet>")
    study = {"protocolSection": {
        "identificationModule": {"nctId": "NCT04000001", "briefTitle": title},
        "statusModule": {"overallStatus": "COMPLETED", "startDateStruct": {"date": "2019-01"}},
        "contactsLocationsModule": {"overallOfficials": [{"name": "Sara Rahimi", "role": "PRINCIPAL_INVESTIGATOR"}]}}}
    (tmp_path / "trial.json").write_text(json.dumps(study))
    assert kb("load", "pubmed", tmp_path / "work.xml", "--db", tmp_path / "kb.db").returncode == 0
    _, interpreter = peak_of("--help")
    result, peak = peak_of("load", "ctgov", tmp_path / "trial.json", "--db", tmp_path / "kb.db")
    assert result.returncode == 0, result.stderr[-2000:]
    # The load ends in link_studies, which compares the trial's title with the work's.
    assert "1 probably_same_study link(s)" in result.stderr
    assert peak - interpreter < 10 * 20, f"{peak} MB at peak, {interpreter} MB for the interpreter alone"
    db = open_db(str(tmp_path / "kb.db"))
    stored = db.execute("select brief_title from trials").fetchone()[0]
    assert len(stored) == limits.TITLE_CHARS and stored.endswith(limits.TRUNCATED)
    raw = zlib.decompress(db.execute("select raw from records where source = 'ctgov'").fetchone()[0])
    assert json.loads(raw)["protocolSection"]["identificationModule"]["briefTitle"] == title


def test_a_csv_row_of_the_wrong_width_or_cut_short_is_quarantined_with_its_line(tmp_path):
    header = '"NCT Number","Title","Phases","Enrollment"\n'
    row = '"NCT0400000{}","Exosomes after stroke","Phase 1|Phase 2","{}"\n'
    malformed = tmp_path / "malformed.csv"
    malformed.write_text(header + row.format(1, 20) + row.format(2, 30).replace(',"30"', ',"30","extra"')
                         + row.format(3, 40))
    cut = tmp_path / "cut.csv"
    cut.write_text(header + row.format(4, 50) + row.format(5, 60)[:48])  # ends in '"Phase 1|P'
    result = kb("load", "ctgov", malformed, cut, "--db", tmp_path / "kb.db")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "malformed.csv record line 3: 5 fields where the header has 4: a malformed row" in result.stderr
    assert "cut.csv record line 3: unreadable (unexpected end of data): the file is cut short" in result.stderr
    db = open_db(str(tmp_path / "kb.db"))
    trials = db.execute("select nct_id, phases, enrollment from trials order by nct_id").fetchall()
    assert trials == [("NCT04000001", '["PHASE1", "PHASE2"]', 20), ("NCT04000003", '["PHASE1", "PHASE2"]', 40),
                      ("NCT04000004", '["PHASE1", "PHASE2"]', 50)]
    quarantined = db.execute("select origin, record_id from quarantine order by origin").fetchall()
    assert [(Path(origin).name, record_id) for origin, record_id in quarantined] == [
        ("cut.csv", "line 3"), ("malformed.csv", "line 3")]


def test_a_europe_pmc_result_with_a_comment_or_an_undeclared_entity_costs_at_most_itself(tmp_path):
    def result(pmid, title):
        return (f"<result><id>{pmid}</id><source>MED</source><pmid>{pmid}</pmid><!-- indexed 2024 -->"
                f"<title>{title}</title><pubYear>2023</pubYear></result>")
    path = tmp_path / "search.xml"
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><responseWrapper><hitCount>3</hitCount><resultList>'
                    + result(41, "Exosomes<!-- sic --> after stroke") + result(42, "Stem cells &nobody; in stroke")
                    + result(43, "Neural stem cells &amp; stroke") + "</resultList></responseWrapper>")
    result = kb("load", "europepmc", path, "--db", tmp_path / "kb.db")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "search.xml record 42: cannot parse <result>: Entity 'nobody' not defined" in result.stderr
    db = open_db(str(tmp_path / "kb.db"))
    assert db.execute("select pmid, title from works order by pmid").fetchall() == [
        ("41", "Exosomes after stroke"), ("43", "Neural stem cells & stroke")]
    assert db.execute("select record_id from quarantine").fetchall() == [("42",)]


def test_a_portal_page_too_deep_or_too_big_is_refused_by_name_and_the_next_page_loads(tmp_path):
    def page(body):
        return ('<html><head><meta name="citation_title" content="Exosomes from stem cells after stroke">'
                f'<meta name="citation_author" content="Rahimi, Sara"></head><body>{body}</body></html>')
    (tmp_path / "huge.html").write_text(page("<div>" * 100_000 + "deep" + "</div>" * 100_000))
    (tmp_path / "deep.html").write_text(page("<div>" * 300 + "deep" + "</div>" * 300))
    (tmp_path / "good.html").write_text(page("<div><div>Abstract</div><p>Twelve patients.</p></div>"))
    result = kb("load", "portal", *(tmp_path / name for name in ("huge.html", "deep.html", "good.html")),
                "--db", tmp_path / "kb.db", timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "huge.html: 100,005 tags, more than the 20,000 a page may hold (REGENKB_MAX_PAGE_TAGS" in result.stderr
    assert "deep.html: elements nested 302 deep, past the 256 levels a page may have (REGENKB_MAX" in result.stderr
    db = open_db(str(tmp_path / "kb.db"))
    assert db.execute("select title from works").fetchall() == [("Exosomes from stem cells after stroke",)]
    assert db.execute("select count(*) from quarantine").fetchone()[0] == 2
