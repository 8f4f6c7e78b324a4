"""The cluster path: PubMed files parsed on a local Dask cluster of 2 workers into Parquet,
then loaded (by one process, or through part KBs loaded by two), give the KB a
single-process load gives."""

import dask.dataframe

from kb import bulk, cluster, parquet
from kb.db import open_db
from kb.ingest import load_pubmed_file

from test_bulk import baseline_file, files
from test_crash_resume import snapshot


def synthetic_baseline(tmp_path):
    first, update = files(tmp_path)
    second = baseline_file(tmp_path / "pubmed25n0002.xml.gz", [str(51_000_000 + i) for i in range(900)], gz=True)
    return [first, second, update]


def test_a_baseline_parsed_on_a_dask_cluster_loads_the_same_kb_as_one_process(tmp_path):
    paths = synthetic_baseline(tmp_path)
    single = open_db(str(tmp_path / "single.db"))
    for path in paths:
        load_pubmed_file(single, path)

    manifests = cluster.parse_to_parquet(paths, tmp_path / "parsed", workers=2)
    assert [m["records"] for m in manifests] == [1200, 900, 40]
    kb = open_db(str(tmp_path / "cluster.db"))
    stats = parquet.load_parquet(kb, tmp_path / "parsed", workers=2)

    assert (stats.added, stats.updated, stats.deleted) == (2100, 40, 10)
    assert snapshot(tmp_path / "cluster.db") == snapshot(tmp_path / "single.db")
    fts = "SELECT rowid, title, abstract, mesh, keywords, authors, journal FROM works_fts ORDER BY rowid"
    assert kb.execute(fts).fetchall() == single.execute(fts).fetchall()


def test_the_parquet_output_reads_in_any_engine_and_a_loaded_file_is_not_loaded_twice(tmp_path):
    paths = synthetic_baseline(tmp_path)[:1]
    cluster.parse_to_parquet(paths, tmp_path / "parsed", workers=2)
    frame = dask.dataframe.read_parquet(str(tmp_path / "parsed" / "*" / "part-*.parquet"))
    records = frame[frame.kind == "record"]
    assert len(records) == 1200 and records.pmid.nunique().compute() == 1200
    kb = open_db(str(tmp_path / "kb.db"))
    assert parquet.load_parquet(kb, tmp_path / "parsed").added == 1200
    notes = []
    parquet.load_parquet(kb, tmp_path / "parsed", progress=lambda origin, stats, note: notes.append(note))
    bulk.load_files(kb, paths, progress=lambda path, stats, note: notes.append(note))
    assert [note.split(" (")[0] for note in notes] == ["already loaded", "already loaded"]
