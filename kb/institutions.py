"""Affiliations mapped to institutions and departments.

An affiliation goes to an institution by, in order: the ROR id its source gave; the
OpenAlex institution its source gave; else its parsed institution name, normalised
(`affiliations.institution_key`) within its country. A name that some affiliation or a
fetched OpenAlex institution ties to a ROR id takes every affiliation with that name to
the ROR institution; names left over merge when they differ by a typo (rapidfuzz
token-sort ratio of at least 95, within one country). Departments are rows of their own
under their institution.
"""

import json
from collections import Counter, defaultdict

from rapidfuzz import fuzz, process

from .affiliations import institution_key, type_of
from .db import insert_rows
from .text import stable_id

FUZZY_RATIO = 95
FUZZY_MIN_LENGTH = 12  # short names ("ucl hospital") are too close to each other to fuzz
NAME_FORMS_KEPT = 10


def institution_id(ror=None, openalex_id=None, country=None, key=None):
    """The same id for the same institution in every KB: by ROR, else OpenAlex id, else name."""
    if ror:
        return stable_id("ror:" + ror)
    if openalex_id:
        return stable_id("openalex:" + openalex_id)
    return stable_id(f"name:{country or ''}|{key}")


def resolve(db):
    """Assign every affiliation its institution and department, and rebuild both tables'
    derived rows with their counts. Returns the number of institutions."""
    fetched = {row["openalex_id"]: row for row in db.query("SELECT * FROM institutions WHERE fetched_from = 'openalex'")}
    fetched_by_id = {row["id"]: row for row in fetched.values()}
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
        entry["names"][aff["institution_name"] or aff["name"]] += 1
        if aff["city"]:
            entry["cities"][aff["city"]] += 1
        department_id = None
        if aff["department"]:
            department_id = stable_id(f"department:{iid}|{institution_key(aff['department'])}")
        assigned[aff["id"]] = (iid, department_id, aff["department"])
    rows = [institution_row(iid, entry, fetched_by_id.get(iid)) for iid, entry in institutions.items()]
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
        db.execute("DELETE FROM departments")
        insert_rows(db, "departments", [{"id": department_id, "institution_id": iid, "name": names.most_common(1)[0][0],
                                         "works": None} for (department_id, iid), names in departments.items()])
        count_works(db)
    return len(rows)


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
        if aff["institution_name"] and (ror or known):
            key = (aff["country"], institution_key(aff["institution_name"]))
            votes[key][(ror, known and known["openalex_id"])] += 1
    for row in fetched.values():
        votes[(row["country"], institution_key(row["name"]))][(row["ror"], row["openalex_id"])] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in votes.items()}


def fuzzy_merges(keys, preferred=frozenset()):
    """{(country, key): (country, canonical key)} for name keys a typo apart within a country;
    a group's canonical key is a preferred one (a ROR-vouched name) when it holds one."""
    by_country = defaultdict(list)
    for country, key in keys:
        by_country[country].append(key)
    merged = {}
    for country, names in by_country.items():
        names = sorted(name for name in names if len(name) >= FUZZY_MIN_LENGTH)
        if len(names) < 2:
            continue
        scores = process.cdist(names, names, scorer=fuzz.ratio, score_cutoff=FUZZY_RATIO)
        parent = list(range(len(names)))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in zip(*scores.nonzero()):
            if i < j:
                parent[root(j)] = root(i)
        groups = defaultdict(list)
        for i, name in enumerate(names):
            groups[root(i)].append(name)
        for group in groups.values():
            if len(group) > 1:
                canonical = min(group, key=lambda name: ((country, name) not in preferred, name))
                merged.update({(country, name): (country, canonical) for name in group if name != canonical})
    return merged


def target_of(aff, fetched, by_name, merged):
    """(institution id, matched_by, ror, openalex id, country) of one affiliation, or None."""
    known = fetched.get(aff["openalex_id"])
    if aff["ror"] or known:
        ror = aff["ror"] or known["ror"]
        openalex_id = known and known["openalex_id"]
        return (institution_id(ror, openalex_id), "ror" if aff["ror"] else "openalex", ror, openalex_id,
                aff["country"] or (known or {}).get("country"))
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


def institution_row(iid, entry, known):
    name = known["name"] if known else entry["names"].most_common(1)[0][0]
    return {"id": iid, "name": name, "ror": entry["ror"], "openalex_id": entry["openalex_id"],
            "type": (known or {}).get("type") or type_of(name),
            "city": (known or {}).get("city") or (entry["cities"].most_common(1)[0][0] if entry["cities"] else None),
            "country": entry["country"], "latitude": (known or {}).get("latitude"),
            "longitude": (known or {}).get("longitude"), "works": None, "authors": None, "first_year": None,
            "last_year": None, "name_forms": json.dumps([n for n, _ in entry["names"].most_common(NAME_FORMS_KEPT)],
                                                        ensure_ascii=False),
            "matched_by": entry["matched_by"], "fetched_from": known and "openalex"}


def count_works(db):
    """Works, people and years of each institution, and works of each department."""
    db.execute("""UPDATE institutions SET (works, authors, first_year, last_year) = (
        SELECT count(DISTINCT waa.work_id), count(DISTINCT wa.author_id), min(w.year), max(w.year)
        FROM affiliations af JOIN work_author_affiliations waa ON waa.affiliation_id = af.id
        JOIN works w ON w.id = waa.work_id
        LEFT JOIN work_authors wa ON wa.work_id = waa.work_id AND wa.position = waa.position
        WHERE af.institution_id = institutions.id)""")
    db.execute("""UPDATE departments SET works = (
        SELECT count(DISTINCT waa.work_id) FROM affiliations af
        JOIN work_author_affiliations waa ON waa.affiliation_id = af.id WHERE af.department_id = departments.id)""")
