"""The institution page, /-/institution/{id}, and its JSON twin: its works and output per
year, departments, people, the trials it sponsors or hosts and its ego network."""

from ..search import rows
from .json_lists import with_lists
from .network import EGO_NEIGHBOURS, ego_network
from .pages import by_year, entity_page
from .trial import institution_trials


async def institution_page(datasette, request):
    return await entity_page(datasette, request, "institution", int(request.url_vars["institution_id"]),
                             institution_context)


def institution_context(conn, institution_id):
    found = rows(conn, "SELECT * FROM institutions WHERE id = ?", [institution_id])
    if not found:
        return None
    memberships = """SELECT DISTINCT waa.work_id, af.institution_id FROM work_author_affiliations waa
                     JOIN affiliations af ON af.id = waa.affiliation_id WHERE af.institution_id IS NOT NULL"""
    works = rows(conn, f"""
        SELECT w.id, w.year, w.title, w.journal FROM works w WHERE w.id IN (
          SELECT work_id FROM ({memberships}) WHERE institution_id = ?) ORDER BY w.year DESC, w.id""", [institution_id])
    partners = rows(conn, f"""
        SELECT b.institution_id AS id, i.name AS label, count(DISTINCT a.work_id) AS weight
        FROM ({memberships}) a JOIN ({memberships}) b ON b.work_id = a.work_id AND b.institution_id != a.institution_id
        JOIN institutions i ON i.id = b.institution_id WHERE a.institution_id = ?
        GROUP BY b.institution_id ORDER BY weight DESC, i.name LIMIT {EGO_NEIGHBOURS}""", [institution_id])
    members = [institution_id, *[p["id"] for p in partners]]
    marks = ",".join("?" * len(members))
    between = rows(conn, f"""
        SELECT a.institution_id AS source, b.institution_id AS target, count(DISTINCT a.work_id) AS weight
        FROM ({memberships}) a JOIN ({memberships}) b ON b.work_id = a.work_id AND a.institution_id < b.institution_id
        WHERE a.institution_id IN ({marks}) AND b.institution_id IN ({marks})
        GROUP BY a.institution_id, b.institution_id""", members * 2)
    people = rows(conn, """
        SELECT p.id, p.name, count(DISTINCT wa.work_id) AS works_here FROM affiliations af
        JOIN work_author_affiliations waa ON waa.affiliation_id = af.id
        JOIN work_authors wa ON wa.work_id = waa.work_id AND wa.position = waa.position
        JOIN authors p ON p.id = wa.author_id WHERE af.institution_id = ?
        GROUP BY p.id ORDER BY works_here DESC, p.name LIMIT 50""", [institution_id])
    departments = rows(conn, "SELECT id, name, works FROM departments WHERE institution_id = ? "
                             "ORDER BY works DESC, name", [institution_id])
    entity = with_lists(found[0], "institutions")
    return {"entity": entity, "works": works, "by_year": by_year(works), "partners": partners, "people": people,
            "departments": departments, "forms": entity["name_forms"], "trials": institution_trials(conn, entity),
            "network": ego_network(conn, "institutions", "institution", entity, partners, between)}
