import asyncio
from pathlib import Path

import pytest

from kb import demo, serve
from kb.db import open_db

FIXTURES = Path(__file__).parent / "fixtures"
EFETCH = FIXTURES / "pubmed" / "efetch_msc_stroke.xml"


@pytest.fixture
def db(tmp_path):
    return open_db(str(tmp_path / "kb.db"))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's HTTP cache."""
    monkeypatch.setenv("REGENKB_CACHE", str(tmp_path / "http-cache.sqlite"))


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    """The demo KB, built once for every test that only reads it, and the Datasette `kb
    serve` makes of it: (db, datasette)."""
    path = tmp_path_factory.mktemp("demo") / "regenkb.db"
    db = open_db(str(path))
    demo.build(db)
    datasette = serve.datasette_for(path)
    asyncio.run(datasette.invoke_startup())
    return db, datasette


def get(datasette, url):
    """A page of the in-process Datasette."""
    return asyncio.run(datasette.client.get(url))
