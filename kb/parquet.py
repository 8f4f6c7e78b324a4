"""Parsed PubMed records as Parquet: what the cluster path writes and the KB loads.

A parsed file becomes a folder `NNNNN-<file name>/` (NNNNN: the file's place in the load
order) of `part-CCCCCC.parquet` partitions, one per chunk, and a `_manifest.json` written
last, so a folder without one is a parse that did not finish. A partition holds one row per
item of its chunk, in file order:

- `kind = 'record'`: the record's scalar fields as typed columns (pmid, doi, title, year,
  ...), its lists and mappings (authors with affiliations, MeSH, keywords, links, ...) as
  JSON text, and its raw XML as bytes: any engine (pyarrow, DuckDB, Spark, dask.dataframe)
  reads it without regenkb. What the workers prepared for the writer rides along
  (`kb.load.prepare`: parsed affiliation rows inside `authors`, `registry_found`, and
  `sha1` and `raw_zlib`, the digest and compressed bytes the records table keeps), so the
  one writer does not do it again.
- `kind = 'deletion'`: the PMIDs an update file's <DeleteCitation> removes (`deleted`).
- `kind = 'error'`: a record or file that could not be parsed (`error`, `record_id`,
  `fatal`, raw bytes), which the KB keeps in its quarantine table as a direct load would.
"""

import functools
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harvest import pubmed
from harvest.errors import ParseError
from harvest.records import new_work

from .bulk import FileToLoad, loaded_in_turn, total_of
from .load import raw_compressed, raw_digest, work_registry_ids

TEMPLATE = new_work()
NESTED = [name for name, value in TEMPLATE.items() if isinstance(value, (list, dict))]
TYPES = {"year": pa.int64(), "cited_by_count": pa.int64(), "completeness": pa.int64(),
         "is_retracted": pa.bool_(), "is_preprint": pa.bool_()}
SCALARS = [name for name in TEMPLATE if name not in NESTED]
SCHEMA = pa.schema(
    [("kind", pa.string()), ("origin", pa.string())]
    + [(name, TYPES.get(name, pa.string())) for name in SCALARS]
    + [(name, pa.string()) for name in NESTED]
    + [("raw", pa.binary()), ("registry_found", pa.string()), ("sha1", pa.string()), ("raw_zlib", pa.binary()),
       ("deleted", pa.list_(pa.string())), ("error", pa.string()),
       ("record_id", pa.string()), ("fatal", pa.bool_())])
MANIFEST = "_manifest.json"


def to_table(items, origin):
    """A chunk's records, Deletions and ParseErrors -> an Arrow table of SCHEMA."""
    rows = []
    for item in items:
        row = dict.fromkeys(SCHEMA.names)
        row["origin"] = origin
        if isinstance(item, pubmed.Deletion):
            row.update(kind="deletion", deleted=item.pmids)
        elif isinstance(item, ParseError):
            row.update(kind="error", error=str(item), record_id=item.record_id, raw=item.raw, fatal=item.fatal)
        else:
            row.update({name: item[name] for name in SCALARS}, kind="record", raw=item["raw"], sha1=raw_digest(item),
                       raw_zlib=raw_compressed(item),
                       registry_found=json.dumps(work_registry_ids(item), ensure_ascii=False))
            row.update({name: json.dumps(item[name], ensure_ascii=False) for name in NESTED})
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def from_table(table):
    """An Arrow table of SCHEMA -> the records, Deletions and ParseErrors it holds, in order."""
    items = []
    for row in table.to_pylist():
        if row["kind"] == "deletion":
            items.append(pubmed.Deletion(row["deleted"]))
        elif row["kind"] == "error":
            items.append(ParseError(row["error"], source=pubmed.SOURCE, origin=row["origin"],
                                    record_id=row["record_id"], raw=row["raw"] or b"", fatal=row["fatal"]))
        else:
            record = {name: row[name] for name in SCALARS}
            record.update({name: json.loads(row[name]) for name in NESTED}, raw=row["raw"],
                          registry_found=json.loads(row["registry_found"]), sha1=row["sha1"], raw_zlib=row["raw_zlib"])
            items.append(record)
    return items


def file_folder(output, index, path):
    return Path(output) / f"{index:05d}-{Path(path).name}"


def write_file(output, index, path, batches, topic=None):
    """Write one parsed file's (items, off-topic count) batches as its partition folder;
    returns its manifest."""
    folder = file_folder(output, index, path)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        stale.unlink()
    records = off_topic = parts = 0
    for parts, (items, dropped) in enumerate(batches, 1):
        pq.write_table(to_table(items, str(path)), folder / f"part-{parts:06d}.parquet")
        records += sum(1 for item in items if isinstance(item, dict))
        off_topic += dropped
    stat = os.stat(path)
    manifest = {"origin": str(path), "size": stat.st_size, "mtime": int(stat.st_mtime), "parts": parts,
                "records": records, "off_topic": off_topic, "topic": topic}
    (folder / (MANIFEST + ".tmp")).write_text(json.dumps(manifest))
    (folder / (MANIFEST + ".tmp")).rename(folder / MANIFEST)
    return manifest


def parsed_files(output):
    """(folder, manifest) of every finished file folder under `output`, in load order."""
    for folder in sorted(Path(output).iterdir()):
        if (folder / MANIFEST).is_file():
            yield folder, json.loads((folder / MANIFEST).read_text())


def partition_batches(numbers, folder, off_topic):
    """The (items, off-topic count) batch of each of a parsed file's partitions in
    `numbers`; the records the parse's topic filter left out count with the first."""
    return ((from_table(pq.read_table(Path(folder) / f"part-{number:06d}.parquet")), off_topic if number == 1 else 0)
            for number in numbers)


def load_parquet(db, output, again=False, progress=lambda origin, stats, note: None, workers=1):
    """Load the parsed files under `output` into the KB in order, as `kb load pubmed` would
    load the files themselves: the same writer (with `workers` processes loading part KBs),
    the same loaded_files record (so a file loaded either way is skipped by both). Calls
    progress(origin, stats, note) for each file; returns the total LoadStats."""
    files = [FileToLoad(manifest["origin"], manifest["size"], manifest["mtime"], manifest["topic"],
                        range(1, manifest["parts"] + 1),
                        functools.partial(partition_batches, folder=str(folder), off_topic=manifest["off_topic"]))
             for folder, manifest in parsed_files(output)]
    return total_of(loaded_in_turn(db, files, workers, again), progress)
