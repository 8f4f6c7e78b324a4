import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from kb import demo, doctor
from kb.cli import cli
from kb.db import open_db
from kb.ingest import HarvestBusy, start_run
from kb.search import search


@pytest.fixture
def demo_kb(tmp_path):
    path = str(tmp_path / "regenkb.db")
    demo.build(open_db(path))
    return path


def test_a_freshly_built_kb_is_healthy(demo_kb):
    assert doctor.check(open_db(demo_kb)) == []
    result = CliRunner().invoke(cli, ["doctor", "--db", demo_kb])
    assert result.exit_code == 0 and "healthy (65 works, 30 trials)" in result.output


def test_doctor_names_each_problem_and_fix_rebuilds_from_the_stored_records(demo_kb):
    db = open_db(demo_kb)
    seed = db.execute("select id, title from works where pmid = '35281985'").fetchone()
    before = {table: db[table].count for table in ("works", "trials", "work_authors", "links", "records")}
    db.execute("delete from works_fts where rowid = ?", [seed[0]])
    db.execute("delete from works where id = ?", [seed[0]])
    db.execute("delete from works_fts where rowid in (select id from works where pmid != '35281985' limit 2)")
    db.execute("delete from trials_fts where rowid in (select id from trials limit 2)")
    db.execute("update work_authors set author_id = 42 where rowid = (select min(rowid) from work_authors)")
    db.conn.commit()
    problems = [finding.problem for finding in doctor.check(db)]
    assert any("works_fts is out of step with works" in p for p in problems)
    assert any("trials_fts is out of step with trials: 2 row(s) missing" in p for p in problems)
    assert any("of records point at works (work_id) that do not exist" in p for p in problems)
    assert any("of work_authors point at authors (author_id)" in p for p in problems)
    result = CliRunner().invoke(cli, ["doctor", "--db", demo_kb])
    assert result.exit_code == 1 and "problem: the full-text index works_fts" in result.output
    fixed = CliRunner().invoke(cli, ["doctor", "--fix", "--db", demo_kb])
    assert fixed.exit_code == 0, fixed.output
    db = open_db(demo_kb)
    assert {table: db[table].count for table in before} == before
    assert db.execute("select title from works where pmid = '35281985'").fetchone()[0] == seed[1]
    assert search(db, "placenta exosome craniectomy")[0]["pmid"] == "35281985"
    assert doctor.check(db) == []


def test_two_loads_into_one_kb_at_once_both_land(tmp_path):
    path = str(tmp_path / "shared.db")
    open_db(path)
    files = [str(f) for f in demo.corpus_files()]
    halves = [files[::2], files[1::2]]
    processes = [subprocess.Popen([sys.executable, "-m", "kb", "load", "pubmed", *half, "--db", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for half in halves]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    alone = open_db(str(tmp_path / "alone.db"))
    for path_ in files:
        from kb.ingest import load_pubmed_file
        load_pubmed_file(alone, path_)
    db = open_db(path)
    assert db["works"].count == alone["works"].count and db["records"].count == alone["records"].count
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert [f.problem for f in doctor.check(db) if "evidence tags" not in f.problem] == []


def test_a_harvest_held_by_a_live_process_is_refused_and_a_dead_ones_is_resumed(db):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        db["harvest_runs"].insert({"source": "pubmed", "query": "stroke", "started_at": "2026-11-26T01:00:00",
                                   "status": "running", "state": '{"retstart": 500}', "pages": 1,
                                   "records_loaded": 500, "pid": sleeper.pid, "host": socket.gethostname()})
        with pytest.raises(HarvestBusy, match=r"another harvest of pubmed 'stroke' is running \(process \d+"):
            start_run(db, "pubmed", "stroke")
    finally:
        sleeper.kill()
        sleeper.wait()
    run_id, state, _ = start_run(db, "pubmed", "stroke")
    assert state == {"retstart": 500} and db["harvest_runs"].count == 1
