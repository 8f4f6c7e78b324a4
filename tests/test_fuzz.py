"""Parsers under fuzzing: mutated and truncated payloads (our fixtures, and every recorded
real response when $REGENKB_REAL_DATA is set), random bytes, deep nesting, huge values
and XML entity tricks. Only our own error types may escape, naming the source."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvest import crossref, ctgov, europepmc, openalex, portal
from harvest.errors import ParseError
from kb.db import open_db
from kb.ingest import LoadError, load_pubmed_file

FIXTURES = Path(__file__).parent / "fixtures"
PARSERS = {"ctgov": ctgov.parse_payload, "openalex": openalex.parse_payload, "europepmc": europepmc.parse_payload,
           "crossref": crossref.parse_payload, "portal": portal.parse_payload}
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])


def samples(source):
    files = [p for p in (FIXTURES / ("merge" if source in ("openalex", "europepmc", "crossref") else source)).iterdir()
             if p.is_file() and (source not in ("openalex", "europepmc", "crossref") or p.name.startswith(source))]
    real = os.environ.get("REGENKB_REAL_DATA")
    folder = Path(real) / ("portal_html" if source == "portal" else source) if real else None
    if folder and folder.is_dir():
        files += [p for p in folder.iterdir() if p.is_file()]
    return [p.read_bytes() for p in sorted(files)]


def mutated(source):
    """A payload of the source, cut short, with bytes overwritten, inserted or repeated."""
    return st.tuples(st.sampled_from(samples(source)), st.integers(0, 2**32), st.sampled_from(
        ["cut", "flip", "insert", "repeat"]), st.binary(min_size=1, max_size=40)).map(mutate)


def mutate(case):
    data, seed, how, noise = case
    at = seed % (len(data) + 1)
    if how == "cut":
        return data[:at]
    if how == "flip":
        return data[:at] + noise + data[at + len(noise):]
    if how == "insert":
        return data[:at] + noise + data[at:]
    return data[:at] + data[at // 2:at] + data[at:]


def only_our_errors(source, data):
    """Parse `data` as the source would; anything but a result or our own error fails."""
    try:
        if source == "pubmed":
            return
        items, _ = PARSERS[source](data, f"fuzz-{source}")
    except ParseError as error:
        assert error.source, error
        return
    for item in items:
        assert isinstance(item, (dict, ParseError)), item
        if isinstance(item, ParseError):
            assert item.source == (source if source != "portal" else item.source) and str(item)


@pytest.mark.parametrize("source", sorted(PARSERS))
def test_mutated_payloads_give_records_or_parse_errors(source):
    @FUZZ
    @given(mutated(source))
    def run(data):
        only_our_errors(source, data)

    run()


@pytest.mark.parametrize("source", sorted(PARSERS))
def test_random_bytes_give_parse_errors(source):
    @FUZZ
    @given(st.binary(max_size=2000))
    def run(data):
        only_our_errors(source, data)

    run()


@FUZZ
@given(mutated("pubmed"))
def test_mutated_pubmed_files_load_or_fail_with_a_load_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "payload.xml"
    path.write_bytes(data)
    db = open_db(str(path.with_suffix(".db")))
    try:
        load_pubmed_file(db, path)
    except LoadError as error:
        assert "payload.xml" in str(error) or str(error)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">1</PMID>
<Article><ArticleTitle>&lol9;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd"><!ENTITY remote SYSTEM "http://127.0.0.1:9/x">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">2</PMID>
<Article><ArticleTitle>title &secret; &remote;</ArticleTitle></Article></MedlineCitation></PubmedArticle>
</PubmedArticleSet>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entities_are_never_expanded_nor_fetched(tmp_path, payload):
    path = tmp_path / "entities.xml"
    path.write_bytes(payload)
    db = open_db(str(tmp_path / "kb.db"))
    try:
        load_pubmed_file(db, path)
    except LoadError:
        pass
    titles = [row[0] or "" for row in db.execute("select title from works")]
    assert all(len(title) < 1000 and "root:" not in title for title in titles)


@pytest.mark.parametrize("source,payload", [
    ("openalex", b"[" * 100_000 + b"]" * 100_000),
    ("crossref", b'{"message": ' * 50_000 + b"1" + b"}" * 50_000),
    ("ctgov", b'{"studies": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"),
    ("europepmc", b"<a>" * 100_000 + b"</a>" * 100_000),
    ("ctgov", b'{"protocolSection": {"identificationModule": {"nctId": "NCT00000001", "briefTitle": "'
              + b"x" * 5_000_000 + b'"}}}'),
])
def test_deep_nesting_and_huge_values_give_parse_errors_or_records(source, payload):
    only_our_errors(source, payload)
