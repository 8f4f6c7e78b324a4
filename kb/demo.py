"""The bundled offline demo corpus: real works and trials on the topic, in the exact API formats,
and the seed record page."""

import contextlib
from pathlib import Path

from .ingest import load_ctgov_file, load_portal_page, load_pubmed_file, refresh
from .load import LoadStats

CORPUS = Path(__file__).parent / "demo_corpus"


def corpus_files():
    return sorted(CORPUS.glob("pubmed_*.xml"))


def trial_files():
    return sorted(CORPUS.glob("ctgov_*.json"))


def portal_files():
    return sorted(CORPUS.glob("portal_*.html"))


def build(db):
    """Load every corpus file into db through the same loaders as live data, then resolve
    institutions and authors and link studies. Records name their files as `demo_corpus/...`:
    a KB never holds the path of the machine that built it."""
    stats = LoadStats()
    with contextlib.chdir(CORPUS.parent):
        for path in corpus_files():
            stats += load_pubmed_file(db, relative(path))[0]
        for path in trial_files():
            stats += load_ctgov_file(db, relative(path))
        for path in portal_files():
            stats += load_portal_page(db, path.read_bytes(), str(relative(path)))[0]
    refresh(db)
    return stats


def relative(path):
    return path.relative_to(CORPUS.parent)
