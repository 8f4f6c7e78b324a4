"""A short run of benchmarks/load.py in CI: mixed traffic at 8 connections against a real
`kb serve` while an expensive query hits the SQL time limit; no request goes unanswered,
none is a 5xx, and the expensive one is cut with a clear error."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import load  # noqa: E402

from kb import demo  # noqa: E402
from kb.db import open_db  # noqa: E402


def test_the_server_answers_everyone_while_an_expensive_query_is_cut(tmp_path):
    path = tmp_path / "regenkb.db"
    demo.build(open_db(str(path)))
    results, (status, milliseconds, body), meanwhile = load.run(path, seconds=6)
    outcomes = [outcome for kind in results.values() for outcome in kind]
    assert len(outcomes) > 50
    assert all(status_ == 200 for status_, _ in outcomes), {s for s, _ in outcomes}
    assert status == 400 and "SQL query took too long" in body and milliseconds < 10_000
    assert all(results[kind] for kind in ("search", "facet", "canned", "page"))
    assert len(meanwhile) > 10 and all(status_ == 200 for status_, _ in meanwhile)  # the others were served
