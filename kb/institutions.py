"""Affiliations mapped to institutions and departments.

An affiliation goes to an institution by, in order: the ROR id its source gave; the
OpenAlex institution its source gave; else its parsed institution name, normalised
(`affiliations.institution_key`) within its country. A name that some affiliation or a
fetched OpenAlex institution ties to a ROR id takes every affiliation with that name to
the ROR institution; names that differ by a typo in one word merge (within one
country; see `fuzzy_merges`). Departments are rows of their own
under their institution.
"""

import json
from collections import Counter, defaultdict

from rapidfuzz.distance import Levenshtein

from harvest import places

from .affiliations import institution_key, type_of
from .db import inputs_kept, inputs_of, insert_rows, names_indexed, rows_digest
from .text import stable_id

NAME_FORMS_KEPT = 10
# What count_works reads, and what it writes: in order, so a digest of their rows says
# whether counting again could change anything.
COUNTED_FROM = ("SELECT id, institution_id, department_id FROM affiliations ORDER BY id",
                "SELECT work_id, position, affiliation_id FROM work_author_affiliations "
                "ORDER BY work_id, position, affiliation_id",
                "SELECT id, year FROM works ORDER BY id",
                "SELECT work_id, position, author_id FROM work_authors ORDER BY work_id, position")
COUNTS = ("SELECT id, works, authors, first_year, last_year FROM institutions ORDER BY id",
          "SELECT id, works FROM departments ORDER BY id")


def institution_id(ror=None, openalex_id=None, country=None, key=None):
    """The same id for the same institution in every KB: by ROR, else OpenAlex id, else name."""
    if ror:
        return stable_id("ror:" + ror)
    if openalex_id:
        return stable_id("openalex:" + openalex_id)
    return stable_id(f"name:{country or ''}|{key}")


def resolve(db, count=True):
    """Assign every affiliation its institution and department, and rebuild both tables'
    derived rows with their counts (count=False leaves counting to a caller that clusters
    people first: the counts hold people, and meanwhile are those of the last count).
    Returns the number of institutions."""
    fetched = {row["openalex_id"]: row for row in db.query("SELECT * FROM institutions WHERE fetched_from = 'openalex'")}
    fetched_by_id = {row["id"]: row for row in fetched.values()}
    counted = {row[0]: row[1:] for row in db.execute(COUNTS[0])}
    department_works = dict(db.execute(COUNTS[1]))
    affiliations = list(db.query("SELECT id, name, ror, openalex_id, institution_name, department, city, country "
                                 "FROM affiliations"))
    by_name = name_targets(affiliations, fetched)
    merged = fuzzy_merges(set(name_keys(affiliations)) | set(by_name), preferred=set(by_name))
    institutions, assigned = {}, {}
    for aff in affiliations:
        target = target_of(aff, fetched, by_name, merged)
        if target is None:
            continue
        iid, matched_by, ror, openalex_id, country = target
        entry = institutions.setdefault(iid, {"names": Counter(), "cities": Counter(), "ror": ror,
                                              "openalex_id": openalex_id, "country": country,
                                              "matched_by": matched_by})
        entry["openalex_id"] = entry["openalex_id"] or openalex_id
        entry["names"][aff["institution_name"] or aff["name"]] += 1
        if aff["city"]:
            entry["cities"][aff["city"]] += 1
        department_id = None
        if aff["department"]:
            department_id = stable_id(f"department:{iid}|{institution_key(aff['department'])}")
        assigned[aff["id"]] = (iid, department_id, aff["department"])
    rows = [institution_row(iid, entry, fetched_by_id.get(iid), counted.get(iid, (None,) * 4))
            for iid, entry in institutions.items()]
    departments = defaultdict(Counter)
    for iid, department_id, name in assigned.values():
        if department_id:
            departments[(department_id, iid)][name] += 1
    with db.atomic():
        db.execute("UPDATE affiliations SET institution_id = NULL, department_id = NULL")
        db.conn.executemany("UPDATE affiliations SET institution_id = ?, department_id = ? WHERE id = ?",
                            [(iid, department_id, aff_id) for aff_id, (iid, department_id, _) in assigned.items()])
        db.execute("DELETE FROM institutions WHERE fetched_from IS NULL")
        insert_rows(db, "institutions", rows)
        names_indexed(db, "institutions")
        # Fetched institutions no affiliation names keep OpenAlex's coordinates.
        db.execute("UPDATE institutions SET geo_source = 'openalex' WHERE geo_source IS NULL AND latitude IS NOT NULL")
        db.execute("DELETE FROM departments")
        insert_rows(db, "departments", [{"id": department_id, "institution_id": iid, "name": names.most_common(1)[0][0],
                                         "works": department_works.get(department_id)}
                                        for (department_id, iid), names in departments.items()])
        if count:
            count_works(db)
    return len(rows)


def snapshot(db):
    """What people's clustering and profiles read of institutions: {affiliation id:
    (institution id, department id)} and {institution id: name}. Two snapshots around
    `resolve` tell a refresh which people it changed."""
    return (dict((aff_id, (iid, did)) for aff_id, iid, did in
                 db.execute("SELECT id, institution_id, department_id FROM affiliations")),
            dict(db.execute("SELECT id, name FROM institutions")))


def changed(before, after):
    """(affiliations that were resolved before and now resolve elsewhere, institutions whose
    name changed) between two snapshots."""
    moved = {aff_id for aff_id, where in after[0].items() if aff_id in before[0] and before[0][aff_id] != where}
    renamed = {iid for iid, name in after[1].items() if iid in before[1] and before[1][iid] != name}
    return moved, renamed


def name_keys(affiliations):
    for aff in affiliations:
        if aff["institution_name"]:
            yield (aff["country"], institution_key(aff["institution_name"]))


def name_targets(affiliations, fetched):
    """{(country, name key): (ror, openalex id)} for names a ROR-bearing source vouches for."""
    votes = defaultdict(Counter)
    for aff in affiliations:
        known = fetched.get(aff["openalex_id"])
        ror = aff["ror"] or (known or {}).get("ror")
        if aff["institution_name"] and (ror or aff["openalex_id"]):
            key = (aff["country"], institution_key(aff["institution_name"]))
            votes[key][(ror, aff["openalex_id"])] += 1
    for row in fetched.values():
        votes[(row["country"], institution_key(row["name"]))][(row["ror"], row["openalex_id"])] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in votes.items()}


def fuzzy_merges(keys, preferred=frozenset()):
    """{(country, key): (country, canonical key)} for name keys one typo apart within a country:
    the same words but one, and those two words of five letters or more, no digits, one edit
    apart ('behesti' ~ 'beheshti'; never 'bonn' ~ 'bern' or 'campus 2' ~ 'campus 3').

    Keys are found by their one-word-deleted neighbourhoods, so no two keys are compared
    unless they already share all their other words."""
    parent = {key: key for key in keys}

    def root(key):
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    neighbourhood = defaultdict(list)
    for country, name in keys:
        words = name.split()
        for i, word in enumerate(words):
            if len(word) >= 5 and not any(c.isdigit() for c in word):
                neighbourhood[(country, " ".join(words[:i] + words[i + 1:]))].append((word, (country, name)))
    for variants in neighbourhood.values():
        for i, (word, key) in enumerate(variants):
            for other_word, other in variants[i + 1:]:
                if Levenshtein.distance(word, other_word) <= 1:
                    parent[root(other)] = root(key)
    groups = defaultdict(list)
    for key in keys:
        groups[root(key)].append(key)
    merged = {}
    for group in groups.values():
        if len(group) > 1:
            canonical = min(group, key=lambda key: (key not in preferred, key[1]))
            merged.update({key: canonical for key in group if key != canonical})
    return merged


def target_of(aff, fetched, by_name, merged):
    """(institution id, matched_by, ror, openalex id, country) of one affiliation, or None."""
    known = fetched.get(aff["openalex_id"])
    if aff["ror"] or aff["openalex_id"]:
        ror = aff["ror"] or (known or {}).get("ror")
        return (institution_id(ror, aff["openalex_id"]), "ror" if aff["ror"] else "openalex", ror,
                aff["openalex_id"], aff["country"] or (known or {}).get("country"))
    if not aff["institution_name"]:
        return None
    key = (aff["country"], institution_key(aff["institution_name"]))
    canonical = merged.get(key, key)
    typo = "~typo" if key in merged else ""
    if canonical in by_name:
        ror, openalex_id = by_name[canonical]
        return institution_id(ror, openalex_id), f"name{typo} to ror", ror, openalex_id, aff["country"]
    country, name_key = canonical
    return institution_id(country=country, key=name_key), f"name{typo}", None, None, country


def institution_row(iid, entry, known, counts):
    """An institution's row, with its (works, authors, first_year, last_year) as last counted."""
    name = known["name"] if known else entry["names"].most_common(1)[0][0]
    city = (known or {}).get("city") or (entry["cities"].most_common(1)[0][0] if entry["cities"] else None)
    return {"id": iid, "name": name, "ror": entry["ror"], "openalex_id": entry["openalex_id"],
            "type": (known or {}).get("type") or type_of(name), "city": city,
            "country": entry["country"], **coordinates(known, city, entry["country"]),
            **dict(zip(("works", "authors", "first_year", "last_year"), counts)),
            "name_forms": json.dumps([n for n, _ in entry["names"].most_common(NAME_FORMS_KEPT)], ensure_ascii=False),
            "matched_by": entry["matched_by"], "fetched_from": known and "openalex"}


def coordinates(known, city, country):
    """OpenAlex's coordinates of the institution, else its city's (city-level, from the
    gazetteer), else none."""
    if known and known.get("latitude") is not None:
        return {"latitude": known["latitude"], "longitude": known["longitude"], "geo_source": "openalex"}
    found = city and country and places.city(city, country)
    if found:
        return {"latitude": found.latitude, "longitude": found.longitude, "geo_source": places.GEO_SOURCE}
    return {"latitude": None, "longitude": None, "geo_source": None}


def count_works(db, everything=False):
    """Works, people and years of each institution, and works of each department: aggregated
    once and joined in (UPDATE ... FROM), not a correlated subquery per row.

    Unless everything, nothing is counted when neither what it counts from nor the counts
    changed since it last counted (digests in refresh_inputs, step 'refresh'): a refresh with nothing new
    reads those rows, about half the time counting takes, and writes nothing."""
    # Kept among the refresh's own items: these counts are no table of their own.
    inputs = {"institutions counted from": rows_digest(*(db.execute(sql) for sql in COUNTED_FROM)),
              "institution counts": rows_digest(*(db.execute(sql) for sql in COUNTS))}
    kept = inputs_of(db, "refresh")
    if not everything and {item: kept.get(item) for item in inputs} == inputs:
        return
    with db.atomic():
        db.execute("UPDATE institutions SET works = 0, authors = 0, first_year = NULL, last_year = NULL")
        db.execute("""UPDATE institutions SET works = s.works, authors = s.authors, first_year = s.first_year,
            last_year = s.last_year
            FROM (SELECT af.institution_id AS id, count(DISTINCT waa.work_id) AS works,
                         count(DISTINCT wa.author_id) AS authors, min(w.year) AS first_year, max(w.year) AS last_year
                  FROM affiliations af JOIN work_author_affiliations waa ON waa.affiliation_id = af.id
                  JOIN works w ON w.id = waa.work_id
                  LEFT JOIN work_authors wa ON wa.work_id = waa.work_id AND wa.position = waa.position
                  WHERE af.institution_id IS NOT NULL GROUP BY af.institution_id) AS s
            WHERE s.id = institutions.id""")
        db.execute("""UPDATE departments SET works = s.works
            FROM (SELECT af.department_id AS id, count(DISTINCT waa.work_id) AS works FROM affiliations af
                  JOIN work_author_affiliations waa ON waa.affiliation_id = af.id
                  WHERE af.department_id IS NOT NULL GROUP BY af.department_id) AS s
            WHERE s.id = departments.id""")
        inputs_kept(db, "refresh", {**inputs, "institution counts": rows_digest(*(db.execute(sql) for sql in COUNTS))})
