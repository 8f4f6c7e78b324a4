"""Works as citations for reference managers: BibTeX, RIS and CSL-JSON. Pure functions
from work dicts (the `works` columns plus an `authors` list of (last name, fore name)
pairs, or a group name with no fore name) to text."""

import json
import re

PUB_TYPES = {"Review": ("review", "JOUR"), "Preprint": ("article", "JOUR")}


def citation_key(work):
    if work.get("pmid"):
        return f"pmid{work['pmid']}"
    if work.get("doi"):
        return "doi" + re.sub(r"\W+", "_", work["doi"]).strip("_")
    return f"work{work['id']}"


def pages_of(work):
    """(first, last) page from '7' or '123-9' (last page written short, as PubMed does)."""
    pages = (work.get("pages") or "").strip()
    if not pages:
        return None, None
    first, _, last = pages.partition("-")
    if last and len(last) < len(first) and last.isdigit() and first.isdigit():
        last = first[:len(first) - len(last)] + last
    return first or None, last or None


def bibtex_escape(text):
    """Braces and backslashes that would end a BibTeX field are escaped; Unicode is kept
    (BibLaTeX, Zotero and JabRef read UTF-8)."""
    return re.sub(r"([{}\\%&$#_])", r"\\\1", str(text))


def to_bibtex(works):
    entries = []
    for work in works:
        first, last = pages_of(work)
        fields = [("title", work.get("title")),
                  ("author", " and ".join(f"{bibtex_escape(l)}, {bibtex_escape(f)}" if f else f"{{{bibtex_escape(l)}}}"
                                          for l, f in work["authors"]) or None),
                  ("journal", work.get("journal")), ("year", work.get("year")), ("volume", work.get("volume")),
                  ("number", work.get("issue")), ("pages", f"{first}--{last}" if last else first),
                  ("doi", work.get("doi")), ("pmid", work.get("pmid")), ("pmcid", work.get("pmcid")),
                  ("abstract", work.get("abstract"))]
        body = ",\n".join(f"  {name} = {{{value if name == 'author' else bibtex_escape(value)}}}"
                           for name, value in fields if value)
        entries.append(f"@article{{{citation_key(work)},\n{body}\n}}\n")
    return "\n".join(entries)


def to_ris(works):
    lines = []
    for work in works:
        first, last = pages_of(work)
        lines.append("TY  - JOUR")
        for tag, value in [("TI", work.get("title")), *[("AU", f"{l}, {f}" if f else l) for l, f in work["authors"]],
                           ("PY", work.get("year")), ("JO", work.get("journal")), ("VL", work.get("volume")),
                           ("IS", work.get("issue")), ("SP", first), ("EP", last), ("DO", work.get("doi")),
                           ("AN", work.get("pmid")), ("AB", work.get("abstract")),
                           ("UR", f"https://pubmed.ncbi.nlm.nih.gov/{work['pmid']}/" if work.get("pmid") else None)]:
            if value:
                lines.append(f"{tag}  - {' '.join(str(value).split())}")
        lines.append("ER  - ")
        lines.append("")
    return "\r\n".join(lines)


def to_csl_json(works):
    items = []
    for work in works:
        first, last = pages_of(work)
        item = {"id": citation_key(work), "type": "article-journal", "title": work.get("title"),
                "author": [{"family": l, "given": f} if f else {"literal": l} for l, f in work["authors"]],
                "issued": {"date-parts": [[work["year"]]]} if work.get("year") else None,
                "container-title": work.get("journal"), "volume": work.get("volume"), "issue": work.get("issue"),
                "page": f"{first}-{last}" if last else first, "DOI": work.get("doi"), "PMID": work.get("pmid"),
                "PMCID": work.get("pmcid"), "abstract": work.get("abstract")}
        items.append({key: value for key, value in item.items() if value})
    return json.dumps(items, ensure_ascii=False, indent=1)


FORMATS = {"bibtex": (to_bibtex, "application/x-bibtex; charset=utf-8"),
           "ris": (to_ris, "application/x-research-info-systems; charset=utf-8"),
           "csljson": (to_csl_json, "application/vnd.citationstyles.csl+json; charset=utf-8")}


def works_for_citation(conn, work_ids):
    """Work dicts with their authors in order, for the given ids (in that order)."""
    # One JSON list, not a "?" per id: an export of 100,000 works passes SQLite's 32,766 variables.
    ids = json.dumps(list(work_ids))
    conn_rows = conn.execute("SELECT id, title, year, journal, volume, issue, pages, doi, pmid, pmcid, abstract "
                             "FROM works WHERE id IN (SELECT value FROM json_each(?))", [ids]).fetchall()
    columns = ("id", "title", "year", "journal", "volume", "issue", "pages", "doi", "pmid", "pmcid", "abstract")
    works = {row[0]: {**dict(zip(columns, row)), "authors": []} for row in conn_rows}
    for work_id, last, fore, name, collective in conn.execute(
            "SELECT wa.work_id, n.last_name, n.fore_name, n.name, n.is_collective FROM work_authors wa "
            "JOIN author_names n ON n.id = wa.name_id WHERE wa.work_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY wa.work_id, wa.position", [ids]).fetchall():
        works[work_id]["authors"].append((name, None) if collective or not last else (last, fore))
    return [works[work_id] for work_id in work_ids if work_id in works]
