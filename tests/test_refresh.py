"""The refresh after a load: incremental, the same as a full one, with progress on a terminal."""

import contextlib
import io
import subprocess
import sys

from kb import authors, evidence, institutions
from kb.cli import progress_on_stderr
from kb.db import open_db
from kb.demo import corpus_files, trial_files
from kb.ingest import load_ctgov_file, load_pubmed_file, refresh
from kb.load import WorkLoader

from test_identity import SBMU, STROKE, person, work

NEUROLOGY = f"Department of Neurology, {SBMU}, Tehran, Iran"
ALIAS = "Department of Neurology, Shahid Beheshti Medical University, Tehran, Iran"
TABRIZ = "Department of Surgery, Tabriz University of Medical Sciences, Tabriz, Iran"
TABLES = {
    "work_authors": "select w.pmid, wa.position, wa.author_id from work_authors wa join works w on w.id = wa.work_id",
    "authors": "select * from authors",
    "affiliations": "select id, institution_id, department_id from affiliations",
    "institutions": "select * from institutions",
    "departments": "select * from departments",
    "links": "select from_scheme, from_id, relation, to_scheme, to_id, score, evidence, asserted_by from links",
    "tags": "select * from tags",
    "evidence": "select * from evidence",
    "related_trials": "select * from related_trials",
}


def first_load(db):
    """The first half of the demo corpus, a neurologist written at two names of one
    university that nothing says are one yet, so she is two people, and a surgeon."""
    for path in corpus_files()[:2]:
        load_pubmed_file(db, path)
    WorkLoader(db, "pubmed").write_batch([
        work("91", 2019, "Exosomes after stroke", [("Quillfeather", "Ann", "A", NEUROLOGY, None)], STROKE),
        work("92", 2021, "Stroke units", [("Quillfeather", "Ann", "A", ALIAS, None)], ("Stroke",)),
        work("95", 2018, "Stroke surgery", [("Brightwater", "Omid", "O", TABRIZ, None)], ("Stroke",))], "hand-built")


def second_load(db):
    """The rest of the demo corpus and its trials, and a work naming both of her university's
    names with its ROR, which makes her one person though her block gets nothing new; two
    affiliations spell Tabriz University in capitals, which renames it on the profile of the
    surgeon, whose block gets nothing new either."""
    for path in corpus_files()[2:]:
        load_pubmed_file(db, path)
    for path in trial_files():
        load_ctgov_file(db, path)
    shouting = TABRIZ.replace("Tabriz University", "TABRIZ University")
    ror = work("93", 2022, "Placental exosomes", [("Zzyzx", "Bea", "B", NEUROLOGY, None),
                                                  ("Yarrow", "Cy", "C", ALIAS, None),
                                                  ("Vantablack", "Di", "D", shouting.replace("Surgery", "Radiology"),
                                                   None)], STROKE)
    for author in ror["authors"][:2]:
        author["affiliations"][0]["identifiers"] = {"ror": "https://ror.org/034m2b326"}
    again = work("94", 2023, "Stroke rehabilitation", [("Vantablack", "Di", "D", shouting.replace("Surgery", "Anatomy"),
                                                        None)], ("Stroke",))
    WorkLoader(db, "pubmed").write_batch([ror, again], "hand-built")


def contents(db):
    return {table: sorted(map(tuple, db.execute(sql).fetchall()), key=repr) for table, sql in TABLES.items()}


def test_a_refresh_after_each_load_ends_where_one_full_refresh_after_both_does(tmp_path):
    step = open_db(str(tmp_path / "step.db"))
    first_load(step)
    refresh(step)
    assert person(step, "91", 1) != person(step, "92", 1)
    second_load(step)
    summary = refresh(step)
    whole = open_db(str(tmp_path / "whole.db"))
    first_load(whole)
    second_load(whole)
    refresh(whole, everything=True)

    occurrences = whole["work_authors"].count
    clustered = int(summary.split(" author occurrence(s) clustered")[0].rsplit("; ", 1)[1])
    assert clustered < occurrences  # only the blocks the second load touched
    assert person(step, "91", 1) == person(step, "92", 1)
    assert "TABRIZ University of Medical Sciences (1)" in step["authors"].get(person(step, "95", 1))["institutions"]
    ours, theirs = contents(step), contents(whole)
    for table in TABLES:
        assert ours[table] == theirs[table], table
    assert len(ours["links"]) and len(ours["evidence"]) > 50 and len({row[2] for row in ours["work_authors"]}) > 100


def test_a_refresh_with_nothing_new_tags_nothing_again_and_a_full_one_tags_everything(db):
    load_pubmed_file(db, corpus_files()[0])
    refresh(db)
    works = db["works"].count
    assert evidence.classify(db)["tagged"] == 0
    assert evidence.classify(db, everything=True)["tagged"] == works
    assert authors.resolve(db) == (0, 0)


def test_the_first_refresh_by_other_code_than_the_last_ones_computes_everything_again(db):
    load_pubmed_file(db, corpus_files()[0])
    refresh(db)

    tagged = "evidence: works and trials tagged"
    assert steps_counted(db)[tagged] == 0
    db.execute("update refresh_inputs set digest = 'older code' where step = 'refresh' and item = 'code'")
    db.conn.commit()
    assert steps_counted(db)[tagged] == db["works"].count
    assert steps_counted(db)[tagged] == 0


def test_a_work_whose_abstract_changed_is_the_only_one_tagged_again(db):
    load_pubmed_file(db, corpus_files()[0])
    refresh(db)
    work_id, abstract = db.execute("select id, abstract from works order by id limit 1").fetchone()
    db.execute("update works set abstract = ? where id = ?", [abstract + " Patients received exosomes.", work_id])
    db.conn.commit()
    assert evidence.classify(db)["tagged"] == 1
    assert ("work", work_id) in {(row[0], row[1]) for row in db.execute("select subject, subject_id from tags")}


def test_institution_changes_name_affiliations_resolved_elsewhere_and_renamed_institutions_not_new_ones():
    before = ({1: (10, None), 2: (20, 21)}, {10: "Tehran Univ", 20: "Isfahan University"})
    after = ({1: (30, None), 2: (20, 21), 3: (40, None)}, {30: "SBMU", 20: "Isfahan Univ.", 40: "New"})
    assert institutions.changed(before, after) == ({1}, {20})


def test_refresh_reports_each_long_step_through_progress(tmp_path):
    db = open_db(str(tmp_path / "kb.db"))
    first_load(db)
    second_load(db)
    seen = steps_counted(db)
    assert seen["people: blocks clustered"] > 100
    assert seen["same-study links: trials compared"] == db["trials"].count
    assert seen["evidence: works and trials tagged"] == db["works"].count + db["trials"].count


def steps_counted(db):
    """{label: items} of each step of one refresh of db that reports its progress."""
    seen = {}

    def progress(label, items):
        seen[label] = 0
        for item in items:
            seen[label] += 1
            yield item

    refresh(db, progress=progress)
    return seen


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_with_counts_and_a_rate_on_a_terminal_and_quiet_elsewhere(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert list(progress_on_stderr("people: blocks clustered", iter(range(3)))) == [0, 1, 2]
    drawn = sys.stderr.getvalue()
    assert "people: blocks clustered" in drawn and "3/3" in drawn and "/s" in drawn
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert list(progress_on_stderr("people: blocks clustered", iter(range(3)))) == [0, 1, 2]
    assert quiet.getvalue() == "" and out.getvalue() == ""


def test_a_refresh_imports_neither_statsmodels_nor_pandas_nor_scipy_stats(tmp_path):
    # They were 2.5 s and 125 MB of every refresh; only a figure to give imports scipy.special.
    script = ("import sys; from kb.db import open_db; from kb.demo import corpus_files;"
              "from kb.ingest import load_pubmed_file, refresh;"
              f"db = open_db({str(tmp_path / 'kb.db')!r}); load_pubmed_file(db, corpus_files()[0]);"
              "print(refresh(db)); print(sorted({'statsmodels', 'pandas', 'scipy.stats'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "studies classified" in out and out.splitlines()[-1] == "[]"


DERIVED = {**TABLES, **{table: f"select * from {table}" for table in (
    "gap_map", "synthesis_safety", "synthesis_meta", "synthesis_meta_studies", "synthesis_excluded")}}


def test_a_refresh_writes_again_only_the_studies_a_load_changed_and_ends_as_a_full_one_does(tmp_path, monkeypatch):
    classified = []
    classify = evidence.classify
    monkeypatch.setattr(evidence, "classify", lambda *args, **kwargs: classified.append(
        classify(*args, **kwargs)) or classified[-1])
    step = open_db(str(tmp_path / "step.db"))
    first_load(step)
    refresh(step)
    second_load(step)
    refresh(step)
    whole = open_db(str(tmp_path / "whole.db"))
    first_load(whole)
    second_load(whole)
    refresh(whole, everything=True)

    _, after_second, full = classified
    assert 0 < after_second["studies_written"] < after_second["studies"] == full["studies_written"]
    ours, theirs = (
        {table: sorted(map(tuple, db.execute(sql).fetchall()), key=repr) for table, sql in DERIVED.items()}
        for db in (step, whole))
    for table in DERIVED:
        assert ours[table] == theirs[table], table
    assert ours["related_trials"] and ours["gap_map"] and ours["synthesis_excluded"]


def test_a_refresh_with_nothing_new_writes_no_study_no_related_trial_and_no_table_again(db):
    load_pubmed_file(db, corpus_files()[0])
    for path in trial_files()[:3]:
        load_ctgov_file(db, path)
    refresh(db)
    steps = {step for (step,) in db.execute("select step from refresh_inputs")}
    assert steps == {"evidence", "related_trials", "gap_map", "synthesis", "probably_same_study", "refresh"}
    # Columns neither the gap map nor the synthesis read: a table written again loses the edit.
    with db.atomic():
        db.execute("update evidence set pmids = 'edited by hand'")
        db.execute("update gap_map set studies = -1")
        db.execute("update synthesis_excluded set reason = 'edited by hand'")
    summary = evidence.classify(db)
    assert (summary["tagged"], summary["studies_written"], summary["works_ranked"]) == (0, 0, 0)
    assert db.execute("select count(*) from evidence where pmids != 'edited by hand'").fetchone() == (0,)
    with db.atomic():  # the rows of their studies show these links' reasons: those are written again
        db.execute("update links set evidence = 'edited by hand' where relation = 'probably_same_study'")
    refresh(db)
    assert db.execute("select count(*) from gap_map where studies != -1").fetchone() == (0,)
    assert db.execute("select count(*) from synthesis_excluded where reason != 'edited by hand'").fetchone() == (0,)
    links, edited = db.execute("select count(*), sum(evidence = 'edited by hand') from links "
                               "where relation = 'probably_same_study'").fetchone()
    assert links and edited == links and db["synthesis_excluded"].count and db["gap_map"].count


def test_a_work_whose_abstract_changed_is_the_only_study_written_again(db):
    load_pubmed_file(db, corpus_files()[0])
    refresh(db)
    work_id, abstract, pmid = db.execute("select id, abstract, pmid from works order by id limit 1").fetchone()
    db.execute("update works set abstract = ? where id = ?", [abstract + " Patients received exosomes.", work_id])
    db.conn.commit()
    summary = evidence.classify(db)
    assert (summary["tagged"], summary["studies_written"]) == (1, 1)
    assert db.execute("select count(*) from refresh_inputs where step = 'evidence'").fetchone() == (summary["studies"],)
    assert db["evidence"].get(f"PMID:{pmid}")["work_id"] == work_id


def test_refresh_reports_the_studies_it_writes_and_the_works_whose_trials_it_ranks(tmp_path):
    db = open_db(str(tmp_path / "kb.db"))
    first_load(db)
    second_load(db)
    seen = steps_counted(db)
    ranked = db.execute("select count(*) from refresh_inputs where step = 'related_trials'").fetchone()[0]
    assert seen["evidence: studies written"] == db["evidence"].count
    assert seen["evidence: works' trials ranked"] == ranked > 0
    again = steps_counted(db)
    assert again["evidence: studies written"] == again["evidence: works' trials ranked"] == 0


def test_a_refresh_with_nothing_new_counts_no_institution_again_and_one_after_a_withdrawn_work_counts_it_out(db):
    first_load(db)
    refresh(db)
    tabriz = "select works, authors from institutions where name like 'Tabriz University%'"
    assert db.execute(tabriz).fetchone() == (1, 1)
    written = db.conn.total_changes
    institutions.count_works(db)
    assert db.conn.total_changes == written
    with db.atomic():
        WorkLoader(db, "pubmed").delete("95")  # the surgeon's only work
    refresh(db)
    counts = [db.execute(sql).fetchall() for sql in ("select * from institutions", "select * from departments")]
    assert db.execute(tabriz).fetchone() in (None, (0, 0))
    institutions.count_works(db, everything=True)
    assert [db.execute(sql).fetchall() for sql in ("select * from institutions", "select * from departments")] == counts
