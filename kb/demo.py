"""The bundled offline demo corpus: real works on the topic, in the exact E-utilities format."""

from pathlib import Path

from .ingest import load_pubmed_file
from .load import LoadStats

CORPUS = Path(__file__).parent / "demo_corpus"


def corpus_files():
    return sorted(CORPUS.glob("pubmed_*.xml"))


def build(db):
    """Load every corpus file into db through the same loader as live data."""
    stats = LoadStats()
    for path in corpus_files():
        stats += load_pubmed_file(db, path)[0]
    return stats
