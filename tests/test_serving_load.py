"""A short run of benchmarks/load.py in CI: mixed traffic at 8 connections against a real
`kb serve` while an expensive query hits the SQL time limit; no request goes unanswered,
none is a 5xx, and the expensive one is cut with a clear error."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import load  # noqa: E402

from kb import demo  # noqa: E402
from kb.db import open_db  # noqa: E402


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("serving") / "regenkb.db"
    demo.build(open_db(str(path)))
    return path


def test_the_server_answers_everyone_while_an_expensive_query_is_cut(demo_path):
    results, (status, milliseconds, body), meanwhile = load.run(demo_path, seconds=6)
    outcomes = [outcome for kind in results.values() for outcome in kind]
    assert len(outcomes) > 50
    assert all(status_ == 200 for status_, _ in outcomes), {s for s, _ in outcomes}
    assert status == 400 and "SQL query took too long" in body and milliseconds < 10_000
    assert all(results[kind] for kind in ("search", "facet", "canned", "page"))
    assert len(meanwhile) > 10 and all(status_ == 200 for status_, _ in meanwhile)  # the others were served


def test_two_server_processes_share_the_clients(demo_path):
    process, base = load.start_server(demo_path, "--workers", "2")
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        workers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        statuses = [load.get(base + path.format(db="regenkb"))[0] for _, path in load.TRAFFIC * 5]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert len(workers) == 2
    assert statuses == [200] * len(statuses)
