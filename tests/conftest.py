from pathlib import Path

import pytest

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
