import json

from lxml import etree

from kb import demo


def test_corpus_has_at_least_sixty_distinct_real_works():
    pmids = [a.findtext("MedlineCitation/PMID") for path in demo.corpus_files()
             for a in etree.parse(str(path)).getroot().iterchildren("PubmedArticle")]
    assert len(pmids) >= 60
    assert len(pmids) == len(set(pmids)), "a PMID appears twice in the corpus"


def test_corpus_loads_cleanly_and_only_the_seed_has_an_abstract(db):
    stats = demo.build(db)
    assert stats.quarantined == 0 and stats.added == db["works"].count + db["trials"].count
    assert db["works"].count >= 60
    with_abstract = [r[0] for r in db.execute("select pmid from works where abstract is not null")]
    assert with_abstract == ["35281985"]
    assert db.execute("select count(*) from works where title is null or year is null or journal is null"
                      ).fetchone()[0] == 0
    again = demo.build(db)
    assert (again.added, again.updated) == (0, 0)
    # Records name their files as loaded, never by the path of the machine that built the KB.
    origins = {row[0] for row in db.execute("select distinct origin from records")}
    assert origins == {f"demo_corpus/{path.name}" for path in
                       demo.corpus_files() + demo.trial_files() + demo.portal_files()}


def test_every_corpus_file_names_its_sources():
    for path in demo.corpus_files():
        sources = path.with_name("SOURCES-" + path.stem.removeprefix("pubmed_").replace("_", "-") + ".md")
        assert sources.exists(), sources
        text = sources.read_text()
        for article in etree.parse(str(path)).getroot().iterchildren("PubmedArticle"):
            assert article.findtext("MedlineCitation/PMID") in text, (path.name, article.findtext(".//PMID"))


def test_every_demo_trial_names_its_sources_and_the_seed_trial_is_there():
    for path in demo.trial_files():
        studies = json.loads(path.read_text())["studies"]
        ids = [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]
        assert len(ids) == len(set(ids))
        text = path.with_name("SOURCES-" + path.stem.replace("_", "-") + ".md").read_text()
        assert all(nct_id in text for nct_id in ids)
    assert "NCT03384433" in ids
