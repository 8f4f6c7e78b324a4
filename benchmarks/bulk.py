"""Bulk load benchmark: synthetic baseline files of real size (30,000 records each) loaded
as `kb load pubmed --workers 1` and `--workers 2` load them (kb.bulk), and as the cluster
path loads them (`kb parse pubmed` on a local Dask cluster of 2 workers, then `kb load
parquet --workers 2`), each into a fresh KB.

    python benchmarks/bulk.py [FILES] [--fast]        (default 4 files)

Four files (120,000 records, a 2 GB KB) is the default because a one-process load slows
as its KB grows and part KBs do not: two files understate what a baseline load sees.

Prints records/s for 1 and 2 processes and their ratio (target: 2 processes at least
1.7x), the rate of one process loading parts into part KBs and of the writer alone
copying them in (what bounds a load however many cores load parts), peak RSS, DB bytes
per record, and the projection for the full baseline (about 38 million records) on this
2-core machine and on a 32-core one (target under 3 h).
"""

import contextlib
import functools
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import synth  # noqa: E402

from kb import bulk as kb_bulk  # noqa: E402
from kb.db import open_db  # noqa: E402

RECORDS_PER_FILE = 30_000
BASELINE = 38_000_000


def run(files, workers, fast, tmp):
    """Load the files into a fresh KB with `workers` parsing processes: (seconds, DB bytes).
    Only the load is timed; the refresh after it (people, institutions, evidence) is the
    same whatever the number of workers."""
    path = Path(tmp) / f"bulk-{workers}.db"
    db = open_db(str(path))
    started = time.perf_counter()
    with kb_bulk.fast_load(db) if fast else contextlib.nullcontext():
        kb_bulk.load_files(db, files, workers=workers)
    seconds = time.perf_counter() - started
    db.conn.close()
    size = sum(p.stat().st_size for p in Path(tmp).glob(f"bulk-{workers}.db*"))
    return seconds, size


def part_and_writer_rates(path, fast, tmp):
    """(records/s of one process loading a file's parts into part KBs, records/s of the one
    writer alone cutting the file into chunks and copying those parts in, with the index
    builds at the end under --fast). The first is what each added core brings, the second
    what bounds a load however many cores load parts."""
    from kb import parts
    from kb.load import WorkLoader

    batches_of = functools.partial(kb_bulk.chunk_batches, origin=str(path), topic=None)
    started = time.perf_counter()
    with kb_bulk.fewer_collections():
        loaded = [kb_bulk.load_part((batches_of, group, str(path), str(Path(tmp) / f"part-{number}.db")))
                  for number, group in enumerate(kb_bulk.in_groups(kb_bulk.chunks(path), kb_bulk.PART))]
    part_rate = RECORDS_PER_FILE / (time.perf_counter() - started)
    db = open_db(str(Path(tmp) / "writer.db"))
    loader = WorkLoader(db, "pubmed")
    started = time.perf_counter()
    with kb_bulk.fast_load(db) if fast else contextlib.nullcontext(), kb_bulk.fewer_collections():
        for _ in kb_bulk.chunks(path):
            pass
        copied = [parts.copy_part(db, loader, Path(tmp) / f"part-{number}.db") for number in range(len(loaded))]
    assert all(copied)
    return part_rate, RECORDS_PER_FILE / (time.perf_counter() - started)


def cluster_run(files, fast, tmp):
    """(seconds to parse on a local 2-worker Dask cluster into Parquet, seconds to load it
    with 2 processes loading part KBs)."""
    from kb import cluster, parquet

    started = time.perf_counter()
    cluster.parse_to_parquet(files, Path(tmp) / "parsed", workers=2)
    parsed = time.perf_counter()
    db = open_db(str(Path(tmp) / "cluster.db"))
    with kb_bulk.fast_load(db) if fast else contextlib.nullcontext():
        parquet.load_parquet(db, Path(tmp) / "parsed", workers=2)
    return parsed - started, time.perf_counter() - parsed


def main(count, fast):
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for number in range(count):
            path = Path(tmp) / f"pubmed25n{number + 1:04d}.xml.gz"
            synth.write(RECORDS_PER_FILE, path, seed=number + 1, first_pmid=50_000_000 + number * RECORDS_PER_FILE)
            files.append(path)
        records = count * RECORDS_PER_FILE
        results = {workers: run(files, workers, fast, tmp) for workers in (1, 2)}
        # The loads' peak, before the runs below.
        peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
        part_rate, writer = part_and_writer_rates(files[0], fast, tmp)
        parse_seconds, load_seconds = cluster_run(files, fast, tmp)
    rates = {workers: records / seconds for workers, (seconds, _) in results.items()}
    print(f"{count} synthetic baseline file(s) of {RECORDS_PER_FILE:,} records{' (--fast)' if fast else ''}")
    for workers, (seconds, size) in results.items():
        print(f"  --workers {workers}: {seconds:.0f} s, {rates[workers]:,.0f} records/s, "
              f"{size / records / 1024:.1f} KB of DB per record")
    print(f"  2 processes / 1: {rates[2] / rates[1]:.2f}x (target >= 1.7x); peak RSS of a load: {peak:.0f} MB")
    print(f"  one process loading parts into part KBs: {part_rate:,.0f} records/s; the writer alone, "
          f"cutting chunks and copying those parts in: {writer:,.0f} records/s")
    print(f"  cluster path: parse on 2 Dask workers into Parquet {parse_seconds:.0f} s "
          f"({records / parse_seconds:,.0f} records/s), load the Parquet {load_seconds:.0f} s "
          f"({records / load_seconds:,.0f} records/s)")
    # On 32 cores, 31 processes load parts beside the writer, which copies them in: the load
    # goes at the slower of the two rates.
    here = BASELINE / rates[2] / 3600
    many = BASELINE / min(writer, 31 * part_rate) / 3600
    print(f"  full baseline ({BASELINE:,} records): {here:.1f} h on this machine; on 32 cores "
          f"{many:.1f} h, the writer's ceiling (target under 3 h)")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 4, "--fast" in sys.argv)
