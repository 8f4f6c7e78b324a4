import json
import re
import subprocess
import sys
from pathlib import Path

import click

from click.testing import CliRunner

from kb.cli import cli
from kb.db import open_db

from conftest import EFETCH


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_demo_builds_the_kb_without_serving_and_search_ranks_the_seed_first(tmp_path):
    db = str(tmp_path / "regenkb.db")
    result = run("demo", "--no-serve", "--db", db)
    assert result.exit_code == 0, result.output
    assert "works and" in result.output and "trials in all" in result.output
    again = run("demo", "--no-serve", "--db", db)
    assert " 0 added, 0 updated" in again.output
    hits = json.loads(run("search", "placenta exosome craniectomy", "--db", db, "--json").output)
    assert hits[0]["pmid"] == "35281985"
    assert "<mark>" in hits[0]["snippet"]
    text = run("search", "placenta exosome craniectomy", "--db", db).output
    assert text.startswith("1. Safety of Intraparenchymal Injection") and "[Exosome]" in text


def test_db_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("REGENKB_DB", str(tmp_path / "env.db"))
    assert run("load", "pubmed", str(EFETCH)).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_load_reports_each_file_and_fails_on_a_bad_one(tmp_path):
    bad = tmp_path / "error.json"
    bad.write_bytes(b'{"error":"API rate limit exceeded","count":"4","limit":"3"}')
    result = CliRunner().invoke(cli, ["load", "pubmed", str(EFETCH), str(bad), "--db", str(tmp_path / "kb.db")])
    assert result.exit_code == 1
    assert "efetch_msc_stroke.xml: 3 added" in result.output
    assert "error.json: not a PubMed E-utilities payload: API rate limit exceeded" in result.output
    assert "1 of 2 file(s) could not be loaded fully" in result.output


def test_load_pubmed_with_two_workers_reports_what_one_process_reports(tmp_path):
    from kb import demo

    files = [str(path) for path in sorted(demo.CORPUS.glob("pubmed_*.xml"))]
    one = run("load", "pubmed", *files, "--db", str(tmp_path / "one.db"))
    two = run("load", "pubmed", *files, "--workers", "2", "--fast", "--db", str(tmp_path / "two.db"))
    assert two.exit_code == 0, two.output
    reports = [line for line in two.output.splitlines() if line.startswith(tuple(files))]
    assert reports == [line for line in one.output.splitlines() if line.startswith(tuple(files))]
    assert len(reports) == len(files) and all(" added" in line for line in reports)
    assert not list(tmp_path.glob("kb-parts-*"))


def test_search_on_a_missing_kb_says_how_to_build_one(tmp_path):
    result = CliRunner().invoke(cli, ["search", "exosome", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "kb demo --no-serve" in result.output


def test_python_dash_m_kb_is_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "kb", "--help"], capture_output=True, text=True, check=True)
    assert "harvest" in result.stdout and "demo" in result.stdout


def test_search_trials_ranks_the_seed_trial_first(tmp_path):
    db = str(tmp_path / "regenkb.db")
    run("demo", "--no-serve", "--db", db)
    hits = json.loads(run("search", "--trials", "exosome ischemic stroke", "--db", db, "--json").output)
    assert hits[0]["nct_id"] == "NCT03384433"
    text = run("search", "--trials", "exosome ischemic stroke", "--db", db).output
    assert "NCT03384433" in text and "RECRUITING, PHASE1, PHASE2" in text


def test_authors_commands_resolve_merge_and_split_people(tmp_path):
    db_file = str(tmp_path / "kb.db")
    run("load", "pubmed", str(EFETCH), "--db", db_file)
    result = run("authors", "resolve", "--all", "--db", db_file)
    assert "institution(s)" in result.output and "clustered into" in result.output
    db = open_db(db_file)
    firsts = db.execute("select wa.author_id, wa.work_id from work_authors wa join works w on w.id = wa.work_id "
                        "where wa.position = 1 order by w.pmid").fetchall()
    (a, work_a), (b, work_b) = firsts[:2]
    result = run("authors", "merge", str(a), str(b), "--note", "same lab page", "--db", db_file)
    assert result.exit_code == 0, result.output
    person = db.execute("select author_id from work_authors where work_id = ? and position = 1", [work_b]).fetchone()[0]
    assert person == db.execute("select author_id from work_authors where work_id = ? and position = 1",
                                [work_a]).fetchone()[0]
    result = run("authors", "split", str(person), "--works", str(work_b), "--db", db_file)
    assert "now belong to author" in result.output
    assert db.execute("select count(distinct author_id) from work_authors where position = 1 and work_id in (?, ?)",
                      [work_a, work_b]).fetchone()[0] == 2
    coauthor = db.execute("select author_id from work_authors where work_id = ? and position = 2", [work_a]).fetchone()[0]
    refused = CliRunner().invoke(cli, ["authors", "merge", str(a), str(coauthor), "--db", db_file])
    assert refused.exit_code == 1 and "two authors of one work are two people" in refused.output
    unknown = CliRunner().invoke(cli, ["authors", "merge", "1", str(a), "--db", db_file])
    assert "no author 1 in the KB" in unknown.output


def test_parse_on_a_local_cluster_then_load_parquet_reports_each_file(tmp_path):
    from kb import demo

    files = [str(path) for path in sorted(demo.CORPUS.glob("pubmed_*.xml"))[:2]]
    vocabulary = str(demo.CORPUS.parent / "vocabularies" / "stem_cell_stroke")
    parsed = run("parse", "pubmed", *files, "--output", str(tmp_path / "parsed"), "--workers", "2",
                 "--topic-filter", vocabulary)
    assert parsed.output.splitlines() == [f"{files[0]}: 22 record(s) in 1 partition(s)",
                                          f"{files[1]}: 11 record(s) in 1 partition(s)"]
    loaded = run("load", "parquet", str(tmp_path / "parsed"), "--workers", "2", "--fast", "--db", str(tmp_path / "kb.db"))
    assert "33 added" in loaded.output
    indexes = {row[0] for row in open_db(str(tmp_path / "kb.db")).execute("select name from sqlite_master")}
    assert "idx_works_year" in indexes  # --fast built it again at the end
    again = run("load", "pubmed", *files, "--topic-filter", vocabulary, "--db", str(tmp_path / "kb.db"))
    assert again.output.count("already loaded") == 2


def commands_of(command, path=("kb",)):
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands_of(sub, (*path, name))
    else:
        yield " ".join(path)


def test_every_command_is_shown_in_the_readme():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = [name for name in commands_of(cli) if not re.search(re.escape(name) + r"\b", readme)]
    assert missing == []

