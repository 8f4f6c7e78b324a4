"""A harvest killed with SIGKILL at random points, then run again, ends with the same KB as
an uninterrupted run: state lives in the KB, in the same transaction as the page it covers.
CI kills at 5 seeded points; `REGENKB_KILL_SEEDS=20` (or more) runs the full variant."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from kb.db import open_db

from conftest import EFETCH
from replay import EutilsReplay, articles_in, with_pmid

HERE = Path(__file__).resolve().parent
CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from harvest import http, pubmed
from kb.db import open_db
from kb.ingest import harvest_pubmed
db = open_db(sys.argv[1])
session = http.Client("pubmed", rate_per_second=1000, cache=sys.argv[3], uncached=(r"/esearch\\.fcgi",),
                      backoff=0.01, timeout=(5, 5))
client = pubmed.PubMed(client=session, base_url=sys.argv[2], batch_size=3)
harvest_pubmed(db, "stroke", client, progress=lambda stats, page: time.sleep(0.03))
"""
# The tables a harvest writes, and the columns that differ between runs by design (times).
COMPARED = {"works": (), "records": ("retrieved_at",), "work_authors": (), "work_author_affiliations": (),
            "author_names": (), "affiliations": (), "work_mesh": (), "mesh_terms": (), "registry_ids": (),
            "links": ("id",), "merges": ("id", "merged_at"), "quarantine": ("id", "quarantined_at"),
            "work_references": ()}


def corpus():
    base = articles_in(EFETCH)
    return [with_pmid(base[i % len(base)], str(40_000_000 + i), revised="2024/01/%02d" % (1 + i % 28))
            for i in range(36)]


def table_rows(path, compared):
    """{table: its rows, sorted} of a KB file, without the columns `compared` ignores."""
    db = open_db(str(path))
    return {table: sorted(db.execute(
        f"SELECT {', '.join(c for c in db[table].columns_dict if c not in ignored)} FROM {table}").fetchall(),
        key=repr) for table, ignored in compared.items()}


def snapshot(path):
    # A kill that lands after the run finished leaves a second, incremental run: both done.
    statuses = {row[0] for row in open_db(str(path)).execute("SELECT status FROM harvest_runs")}
    return table_rows(path, COMPARED), statuses


def harvest(path, replay, tmp_path, kill_at=None):
    """Run the harvest in a child process; with kill_at=(pages, seconds), SIGKILL it that long
    after the run has stored that many pages (anywhere in the next page's fetch or write)."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(HERE.parent)))
    process = subprocess.Popen([sys.executable, str(script), str(path), replay.base_url,
                                str(tmp_path / "cache.sqlite")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if kill_at is not None:
        pages, seconds = kill_at
        while process.poll() is None and stored_pages(path) < pages:
            time.sleep(0.005)
        time.sleep(seconds)
        process.send_signal(signal.SIGKILL)
    output = process.communicate(timeout=60)[0]
    return process.returncode, output.decode(errors="replace")


def stored_pages(path):
    if not Path(path).exists():
        return -1
    try:  # read-only: watching must not write to the child's KB
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT max(pages) FROM harvest_runs WHERE status = 'running'").fetchone()
    except sqlite3.Error:  # the child may be creating the schema right now
        return -1
    return row[0] if row and row[0] is not None else -1


def test_a_harvest_killed_anywhere_resumes_to_the_same_kb(tmp_path):
    articles = corpus()
    with EutilsReplay(articles) as replay:
        clean = tmp_path / "clean.db"
        code, output = harvest(clean, replay, tmp_path)
        assert code == 0, output
        expected = snapshot(clean)
        assert len(expected[0]["works"]) == 36 and expected[1] == {"done"}
        rng = random.Random(2026)
        seeds, cut_short = int(os.environ.get("REGENKB_KILL_SEEDS", "5")), 0
        for seed in range(seeds):
            path = tmp_path / f"killed-{seed}.db"
            kills = 0
            for _ in range(3):  # killed up to three times, then left to finish
                code, _ = harvest(path, replay, tmp_path, kill_at=(rng.randrange(0, 12), rng.uniform(0, 0.04)))
                kills += code == -signal.SIGKILL
            cut_short += open_db(str(path)).execute(
                "SELECT count(*) FROM harvest_runs WHERE status = 'running'").fetchone()[0]
            code, output = harvest(path, replay, tmp_path)
            assert code == 0, output
            assert snapshot(path) == expected, f"seed {seed} ({kills} kill(s)) differs from the clean run"
        assert cut_short >= seeds // 2  # most seeds really left a run half done
