"""Parsing PubMed files on a Dask cluster into Parquet, for a KB past one machine's parsing.

`dask.bag` maps the files over the cluster's workers, one task a file; each worker cuts
its file into chunks and parses them with the same code as `kb load pubmed --workers N`
(`bulk.chunks`, `bulk.chunk_batches`, the topic filter included) and writes the file's
Parquet partition folder (`kb.parquet`). Workers read the files and write the output by
path, so both must be on storage every worker sees (a shared or network filesystem, or
one machine's disk for a local cluster). The KB then loads the folder with `kb load
parquet` (through part KBs with `--workers N`, and its one writer).
"""

import shutil
from pathlib import Path

from . import bulk, parquet


def parse_file(task, output, topic):
    """On a worker: parse one file into its partition folder; its manifest."""
    index, path = task
    batches = bulk.chunk_batches(bulk.chunks(path), path, topic)
    with bulk.fewer_collections():
        return parquet.write_file(output, index, path, batches, topic)


def parse_to_parquet(paths, output, scheduler=None, workers=2, topic=None):
    """Parse `paths` (in load order) on the Dask cluster at `scheduler`, or on a local
    cluster of `workers` processes, into Parquet under `output`. Returns the manifests."""
    import dask.bag
    from dask.distributed import Client, LocalCluster

    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    files = [(index, str(Path(path).resolve())) for index, path in enumerate(paths)]
    planned = {parquet.file_folder(output, index, path).name for index, path in files}
    for folder in output.iterdir():  # folders of an earlier run's other files would load too
        if folder.is_dir() and folder.name not in planned and (folder / parquet.MANIFEST).exists():
            shutil.rmtree(folder)
    topic = topic and str(Path(topic).resolve())
    bag = dask.bag.from_sequence(files, npartitions=max(1, len(files))).map(parse_file, str(output), topic)
    if scheduler:
        with Client(scheduler) as client:
            return client.compute(bag).result()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        return client.compute(bag).result()
