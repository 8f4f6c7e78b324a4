import json

from harvest import http, openalex, pubmed
from kb.expand import expand, missing
from kb.ingest import load_pubmed_file, load_works_file
from kb.load import WorkLoader

from conftest import EFETCH, FIXTURES
from replay import EutilsReplay, OpenAlexReplay, articles_in
from test_harvest_sources import WORK, another

SEED, PISCES, BANG = articles_in(EFETCH)


def clients(tmp_path, eutils, alex):
    def session(name):
        return http.Client(name, rate_per_second=100, cache=tmp_path / f"{name}.sqlite", backoff=0.01,
                           sleep=lambda seconds: None)

    return (pubmed.PubMed(client=session("pubmed"), base_url=eutils.base_url),
            openalex.OpenAlex(client=session("openalex"), base_url=alex.base_url, api_key="k"))


def test_expand_fetches_cited_and_related_works_the_kb_lacks(db, tmp_path):
    load_works_file(db, "openalex", FIXTURES / "merge" / "openalex_W2109415576.json")
    cited_bang = BANG.replace(b"</MedlineJournalInfo></MedlineCitation>",
                              b"</MedlineJournalInfo><CommentsCorrectionsList><CommentsCorrections RefType=\"Cites\">"
                              b"<RefSource>Lancet 2016</RefSource><PMID Version=\"1\">27497862</PMID>"
                              b"</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>")
    path = tmp_path / "bang.xml"
    path.write_bytes(b"<PubmedArticleSet>" + cited_bang + b"</PubmedArticleSet>")
    load_pubmed_file(db, path)
    assert missing(db)["pmid"] == ["27497862"] and len(missing(db)["openalex"]) == 5
    referenced = [another(WORK, n) for n in (1490897467, 1498435248, 3215530055)]
    with EutilsReplay([PISCES]) as eutils, OpenAlexReplay(referenced) as alex:
        stats, left = expand(db, *clients(tmp_path, eutils, alex), depth=1)
        assert eutils.calls("efetch.fcgi")[0]["id"] == "27497862"
    assert stats.added == 4
    assert left == {"openalex": 2}  # OpenAlex did not know two of them: they stay stubs
    pisces = db.execute("select id from works where pmid = '27497862'").fetchone()[0]
    assert db.execute("select to_work_id from links where to_id = '27497862'").fetchone()[0] == pisces


def test_related_articles_come_with_their_scores(db, tmp_path):
    load_pubmed_file(db, EFETCH)
    with EutilsReplay([]) as eutils, OpenAlexReplay([]) as alex:
        eutils.neighbours = {"35281985": [("27497862", 41230), ("30000001", 30000)]}
        client = clients(tmp_path, eutils, alex)[0]
        loader = WorkLoader(db, "pubmed")
        bodies = list(client.neighbours(["15929052", "27497862", "35281985"]))
        count = sum(loader.add_related(pubmed.parse_elink(body)) for body in bodies)
        assert eutils.calls("elink.fcgi")[0]["id"] == ["15929052", "27497862", "35281985"]
    assert count == 2
    row = db.execute("select score, to_work_id is not null from links where relation = 'related' "
                     "and to_id = '27497862'").fetchone()
    assert row == (41230, 1)


def test_expand_fetches_the_institutions_affiliations_name(db, tmp_path):
    load_works_file(db, "openalex", FIXTURES / "merge" / "openalex_W2109415576.json")
    assert db.execute("select openalex_id from affiliations where openalex_id is not null").fetchone()[0] == "I84218800"
    davis = {"id": "https://openalex.org/I84218800", "display_name": "University of California, Davis",
             "ror": "https://ror.org/05rrcem69", "country_code": "US", "type": "education",
             "geo": {"city": "Davis", "latitude": 38.54, "longitude": -121.75}}

    class Institutions(OpenAlexReplay):
        def answer(self, path, params):
            if path.endswith("/institutions"):
                return 200, {}, json.dumps({"meta": {}, "results": [davis]}).encode()
            return super().answer(path, params)

    with EutilsReplay([]) as eutils, Institutions([]) as alex:
        expand(db, *clients(tmp_path, eutils, alex), depth=1)
    row = db.execute("select name, ror, country, latitude from institutions").fetchone()
    assert row == ("University of California, Davis", "https://ror.org/05rrcem69", "US", 38.54)


def test_expand_fetches_the_full_records_of_works_only_a_reference_file_describes(db, tmp_path):
    from kb.expand import library_only
    from kb.ingest import load_library_file

    path = tmp_path / "mine.ris"
    path.write_text("TY  - JOUR\nAU  - Chung, Jong-Won\nTI  - PISCES trial\nPY  - 2016\nAN  - 27497862\n"
                    "UR  - https://pubmed.ncbi.nlm.nih.gov/27497862/\nER  - \n", encoding="utf-8")
    load_library_file(db, path)
    assert library_only(db) == {"pmid": ["27497862"]}
    with EutilsReplay([PISCES]) as eutils, OpenAlexReplay([]) as alex:
        expand(db, *clients(tmp_path, eutils, alex), depth=1)
        assert eutils.calls("efetch.fcgi")[0]["id"] == "27497862"
    sources = [r[0] for r in db.execute("select source from records order by source")]
    assert sources == ["library", "pubmed"] and db["works"].count == 1 and library_only(db) == {}
