"""The person page, /-/author/{id}, and its JSON twin: a person's works, output per year,
name forms, institutions and co-authorship ego network."""

from collections import Counter

from ..search import rows
from .json_lists import with_lists
from .network import EGO_NEIGHBOURS, ego_network
from .pages import by_year, entity_page


async def author_page(datasette, request):
    return await entity_page(datasette, request, "author", int(request.url_vars["author_id"]), author_context)


def author_context(conn, author_id):
    found = rows(conn, "SELECT * FROM authors WHERE id = ?", [author_id])
    if not found:
        return None
    works = rows(conn, """
        SELECT w.id, w.year, w.title, w.journal, wa.written_name FROM work_authors wa JOIN works w ON w.id = wa.work_id
        WHERE wa.author_id = ? ORDER BY w.year DESC, w.id""", [author_id])
    partners = rows(conn, f"""
        SELECT b.author_id AS id, p.name AS label, count(DISTINCT a.work_id) AS weight
        FROM work_authors a JOIN work_authors b ON b.work_id = a.work_id AND b.author_id != a.author_id
        JOIN authors p ON p.id = b.author_id WHERE a.author_id = ?
        GROUP BY b.author_id ORDER BY weight DESC, p.name LIMIT {EGO_NEIGHBOURS}""", [author_id])
    between = rows(conn, f"""
        SELECT a.author_id AS source, b.author_id AS target, count(DISTINCT a.work_id) AS weight
        FROM work_authors a JOIN work_authors b ON b.work_id = a.work_id AND a.author_id < b.author_id
        WHERE a.author_id IN ({",".join("?" * (len(partners) + 1))}) AND b.author_id IN ({",".join("?" * (len(partners) + 1))})
        GROUP BY a.author_id, b.author_id""", [author_id, *[p["id"] for p in partners]] * 2)
    entity = with_lists(found[0], "authors")
    return {"entity": entity, "works": works, "by_year": by_year(works), "partners": partners,
            "network": ego_network(conn, "coauthorship", "author", entity, partners, between),
            "places": entity["institutions"], "forms": written_forms(works)}


def written_forms(works):
    """The spellings the person's papers used, the most used first. Not authors.name_forms:
    it holds one spelling per folded name ('Müller' and 'Muller' share an author_names row),
    which may be another paper's, even another person's."""
    return [name for name, _ in Counter(work["written_name"] for work in works if work["written_name"]).most_common()]
