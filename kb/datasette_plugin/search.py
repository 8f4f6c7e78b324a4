"""The search page (/-/search, also at /-/search-all) and its JSON twin (/-/search.json).

The reader, `search_context`, calls kb.search.find (the one search of `kb search` too) and
adds what a page needs: each hit's own page and its PubMed / DOI / registry links, the
snippet with its hits in <mark> (the same markup in the JSON), the people and institutions
whose names match. A query that is an identifier of one record opens that record's page.
"""

from urllib.parse import urlencode

from datasette.utils.asgi import Response

from .. import search
from .pages import TookTooLong, execute_in_time, identifier_url, json_list, kb_database, snippet_html

FILTER_NAMES = ("year_from", "year_to", *search.TAG_FILTERS, "pub_type", "on_topic", "has_trial", "open_access")
# Labels of the filters the page shows beside the results, in order.
FACET_LABELS = {"year": "Year", "pub_type": "Publication type", "design": "Design", "phase": "Phase",
                "species": "Species", "intervention": "Intervention"}
FLAG_LABELS = {"on_topic": "On topic", "has_trial": "Has a trial", "open_access": "Open access"}
# A search past the server's time limit ({seconds}): as Datasette's table page says of its own, and how to narrow it.
TOO_LONG = ("This search took longer than the server's time limit for SQL ({seconds} s) and was stopped. Narrow it "
            "(more or rarer words, a year range, a filter) and try again; a server that has just started may "
            "answer it in a few seconds, once it has read the KB.")
# An identifier's scheme (kb.search.identifier_of) -> its kind in IDENTIFIER_LINKS, for its record elsewhere.
LINK_KINDS = {"PMID": "pmid", "PMCID": "pmcid", "DOI": "doi", "ORCID": "orcid", "ROR": "ror",
              "ClinicalTrials.gov": "nct_id", "ISRCTN": "isrctn", "EudraCT": "eudract"}


async def search_page(datasette, request):
    name, database = kb_database(datasette)
    as_json = request.url_vars.get("format") == "json"
    query = request.args.get("q", "").strip()
    args = {key: request.args.getlist(key) for key in request.args.keys()}
    problem = None
    try:
        search.check_query(query)
        page = int(request.args.get("page") or 1)
        size = int(request.args.get("size") or 20)
    except search.QueryTooLong as error:
        problem = str(error)
    except ValueError:
        problem = "page and size are whole numbers."
    else:
        try:
            found = await execute_in_time(datasette, database,
                                          lambda conn: search_context(conn, query, args, page, size), TOO_LONG)
        except TookTooLong as error:
            problem = error.message
    if problem:
        if as_json:
            return Response.json({"ok": False, "error": problem}, status=400)
        return Response.html(await datasette.render_template(
            "regenkb_search.html", {"q": query, "problem": problem, "database": name, "found": None},
            request=request), status=400)
    identifier = found["identifier"]
    if not as_json and identifier and len(identifier["records"]) == 1:
        return Response.redirect(datasette.urls.path(identifier["path"]))
    if as_json:
        return Response.json(found)
    return Response.html(await datasette.render_template(
        "regenkb_search.html", {"q": query, "found": found, "problem": None, "database": name,
                                "facet_labels": FACET_LABELS, "flag_labels": FLAG_LABELS,
                                "url_with": url_maker(datasette, args)}, request=request))


def url_maker(datasette, args):
    """url_with(page=2, sort=None): this search's URL with some arguments changed or removed."""
    def url_with(**changes):
        kept = {key: values for key, values in args.items() if key not in changes and key != "page"}
        kept.update({key: [value] for key, value in changes.items() if value not in (None, "")})
        return datasette.urls.path("/-/search") + "?" + urlencode(
            [(key, value) for key, values in kept.items() for value in values])
    return url_with


def search_context(conn, query, args, page=1, size=20):
    """kb.search.find's answer with each hit's page, outside links and snippet as HTML, and the
    people and institutions named like the query."""
    found = search.find(conn, query, kind=(args.get("kind") or ["works"])[0], filters=search.filters_from(args),
                        sort=(args.get("sort") or ["relevance"])[0], page=page, size=size,
                        widen=(args.get("exact") or [""])[0] != "1")
    for hit in found["rows"]:
        hit["snippet"] = str(snippet_html(hit["snippet"]))
        hit["path"] = f"/-/trial/{hit['nct_id']}" if found["kind"] == "trials" else f"/-/work/{hit['id']}"
        hit["links"] = outside_links(hit)
        for column in ("pub_types", "phases"):
            if column in hit:
                hit[column] = json_list(hit[column])
        hit.pop("cited")
    if found["kind"] == "works":
        add_trials(conn, found["rows"])
    if found["identifier"]:
        scheme, value = found["identifier"]["scheme"], found["identifier"]["value"]
        found["identifier"]["elsewhere"] = identifier_url(LINK_KINDS[scheme], value) if scheme in LINK_KINDS else None
    found["filters"] = {key: args[key] for key in FILTER_NAMES if args.get(key)}
    found["pages"] = -(-found["total"] // found["size"])
    found.update(search.named(conn, query) if query and not found["identifier"] else {"people": [], "institutions": []})
    return found


def outside_links(hit):
    """[(label, URL)] of a hit at PubMed, PMC, doi.org or its registry."""
    links = [(label, identifier_url(kind, hit.get(kind))) for label, kind in
             (("PubMed", "pmid"), ("PMC", "pmcid"), ("DOI", "doi"), ("ClinicalTrials.gov", "nct_id"))]
    return [[label, url] for label, url in links if url]


def add_trials(conn, hits):
    """Each work's trials, as kb.search.HAS_TRIAL counts them: [{"id", "path", "relation"}], id
    the registry number, path our trial page when the KB holds the trial."""
    ids = [hit["id"] for hit in hits]
    marks = ", ".join("?" for _ in ids)
    found = {}
    for work_id, accession, nct_id, relation in conn.execute(f"""
            SELECT r.work_id, r.accession, t.nct_id, 'registered_as' FROM registry_ids r
            LEFT JOIN trial_ids i ON i.identifier = r.accession LEFT JOIN trials t ON t.id = i.trial_id
            WHERE r.work_id IN ({marks})
            UNION ALL SELECT coalesce(x.from_work_id, x.to_work_id), t.nct_id, t.nct_id, x.relation FROM links x
            JOIN trials t ON t.id = coalesce(x.to_trial_id, x.from_trial_id)
            WHERE (x.from_work_id IN ({marks}) OR x.to_work_id IN ({marks})) AND {search.TRIAL_LINK}""",
            ids * 3) if ids else []:
        found.setdefault(work_id, {}).setdefault(accession, {"id": accession, "relation": relation,
                                                             "path": f"/-/trial/{nct_id}" if nct_id else None})
    for hit in hits:
        hit["trials"] = list(found.get(hit["id"], {}).values())
