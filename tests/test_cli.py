import json
import subprocess
import sys

from click.testing import CliRunner

from kb.cli import cli

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
