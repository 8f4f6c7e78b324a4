"""Serving a KB with Datasette, configured by datasette-metadata.json."""

import json
from pathlib import Path

METADATA = Path(__file__).resolve().parent.parent / "datasette-metadata.json"
TEMPLATE_DATABASE = "regenkb"
SETTINGS = {"sql_time_limit_ms": 3000, "default_page_size": 50, "facet_time_limit_ms": 500}


def metadata_for(db_file):
    """The metadata of datasette-metadata.json, applied to this KB whatever its file is called."""
    metadata = json.loads(METADATA.read_text())
    databases = metadata.get("databases", {})
    if TEMPLATE_DATABASE in databases:
        databases[Path(db_file).stem] = databases.pop(TEMPLATE_DATABASE)
    return metadata


def datasette_for(db_file, **kwargs):
    """An in-process Datasette for a KB, as `kb serve` runs it."""
    from datasette.app import Datasette

    return Datasette(files=[str(db_file)], metadata=metadata_for(db_file), settings=SETTINGS, **kwargs)


def serve(db_file, host, port):
    import uvicorn

    datasette = datasette_for(db_file)
    print(f"Serving {db_file} at http://{host}:{port}/{Path(db_file).stem} (Ctrl+C stops)")
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
