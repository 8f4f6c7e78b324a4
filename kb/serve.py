"""Serving a KB with Datasette, configured by datasette-metadata.json."""

import json
import os
from pathlib import Path

METADATA = Path(__file__).resolve().parent.parent / "datasette-metadata.json"
TEMPLATE_DATABASE = "regenkb"
# No facet suggestions: Datasette tries every column of a table on every table page and
# JSON request (250 ms a request on the evidence table); the useful facets are configured.
SETTINGS = {"sql_time_limit_ms": 3000, "default_page_size": 50, "facet_time_limit_ms": 500,
            "suggest_facets": False}


def metadata_for(db_file):
    """The metadata of datasette-metadata.json, applied to this KB whatever its file is called."""
    metadata = json.loads(METADATA.read_text())
    databases = metadata.get("databases", {})
    stem = Path(db_file).stem
    if TEMPLATE_DATABASE in databases:
        databases[stem] = databases.pop(TEMPLATE_DATABASE)
    # The front page's links name the template database; point them at this one.
    metadata["description_html"] = metadata.get("description_html", "").replace(f"/{TEMPLATE_DATABASE}/", f"/{stem}/")
    return metadata


def datasette_for(db_file, immutable=False, cors=False):
    """An in-process Datasette for a KB, as `kb serve` runs it: read-only (Datasette opens
    the file in read-only mode; immutable when asked), SQL cut at 3 s, CORS off unless asked."""
    from datasette.app import Datasette

    files = {"immutables" if immutable else "files": [str(db_file)]}
    return Datasette(**files, metadata=metadata_for(db_file), settings=SETTINGS, cors=cors)


# uvicorn's worker processes build the app by its import name; this carries serve()'s options to them.
OPTIONS_VARIABLE = "REGENKB_SERVE_OPTIONS"


def app_from_environment():
    return datasette_for(**json.loads(os.environ[OPTIONS_VARIABLE])).app()


def serve(db_file, host, port, immutable=False, cors=False, workers=1):
    import uvicorn

    os.environ[OPTIONS_VARIABLE] = json.dumps({"db_file": str(db_file), "immutable": immutable, "cors": cors})
    print(f"Serving {db_file} at http://{host}:{port}/{Path(db_file).stem} (Ctrl+C stops)")
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level="warning")
