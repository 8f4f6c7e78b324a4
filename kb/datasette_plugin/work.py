"""The work page, /-/work/{id}, and its JSON twin: the record with its numbered authors and
affiliations, tags and the rules behind them, related documents in the portal's order,
references and citing works, the trials linked to it and the source records it came from."""

from ..search import rows
from ..text import respelled
from .json_lists import with_lists
from .pages import MAX_ID, execute_in_time, kb_database, missing_page, page_or_json


async def work_page(datasette, request):
    name, database = kb_database(datasette)
    work_id = int(request.url_vars["work_id"])
    context = (await execute_in_time(datasette, database, lambda conn: work_context(conn, work_id))
               if work_id <= MAX_ID else None)
    if context is None:
        return await missing_page(datasette, request, f"work {work_id}", name)
    return await page_or_json(datasette, request, "regenkb_work.html", context, database=name)


def work_context(conn, work_id):
    """Everything the work page shows, read in one go."""
    found = rows(conn, "SELECT * FROM works WHERE id = ?", [work_id])
    if not found:
        return None
    work = with_lists(found[0], "works")
    authors = rows(conn, """
        SELECT wa.position, wa.written_name, n.name AS full_name, wa.author_id, p.name AS person,
          (SELECT group_concat(number, ', ') FROM (SELECT DISTINCT number FROM work_author_affiliations waa
             WHERE waa.work_id = wa.work_id AND waa.position = wa.position ORDER BY number)) AS numbers
        FROM work_authors wa LEFT JOIN authors p ON p.id = wa.author_id LEFT JOIN author_names n ON n.id = wa.name_id
        WHERE wa.work_id = ? ORDER BY wa.position""", [work_id])
    for author in authors:
        # The full name as this paper spells it: author_names keeps one spelling of a folded
        # name, and the person's name may be spelt as their other papers spell it.
        author["full_name"] = respelled(author["full_name"], author["written_name"])
    affiliations = rows(conn, """
        SELECT DISTINCT waa.number, af.name, af.institution_id, i.name AS institution
        FROM work_author_affiliations waa JOIN affiliations af ON af.id = waa.affiliation_id
        LEFT JOIN institutions i ON i.id = af.institution_id WHERE waa.work_id = ? ORDER BY waa.number""", [work_id])
    tags = rows(conn, "SELECT tag, value, field, span, rule FROM tags WHERE subject = 'work' AND subject_id = ? "
                      "ORDER BY tag, value", [work_id])
    links = rows(conn, """
        SELECT l.relation, l.from_work_id, l.to_work_id, l.to_scheme, l.to_id, l.from_scheme, l.from_id,
          l.score, l.evidence, l.asserted_by, fw.title AS from_title, tw.title AS to_title
        FROM links l LEFT JOIN works fw ON fw.id = l.from_work_id LEFT JOIN works tw ON tw.id = l.to_work_id
        WHERE (l.from_work_id = ? OR l.to_work_id = ?) AND l.from_trial_id IS NULL AND l.to_trial_id IS NULL
        ORDER BY l.relation, coalesce(tw.year, fw.year) DESC""", [work_id, work_id])
    trials = rows(conn, """
        SELECT r.rank, r.score, r.reasons, t.id AS trial_id, t.nct_id, t.brief_title, t.phases, t.enrollment
        FROM related_trials r JOIN trials t ON t.id = r.trial_id WHERE r.work_id = ? ORDER BY r.rank""", [work_id])
    records = rows(conn, "SELECT source, source_id, version, retrieved_at, origin FROM records WHERE work_id = ? "
                         "ORDER BY source", [work_id])
    related = [link for link in links if link["relation"] == "related"]
    references = [link for link in links if link["relation"] == "cites" and link["from_work_id"] == work_id]
    cited_by = [link for link in links if link["relation"] == "cites" and link["to_work_id"] == work_id]
    other = [link for link in links if link["relation"] not in ("related", "cites")]
    return {"work": work, "authors": authors, "affiliations": affiliations, "tags": tags, "related": related,
            "references": references, "cited_by": cited_by, "other_links": other, "trials": trials,
            "records": records, "pub_types": work["pub_types"], "keywords": work["keywords"]}
