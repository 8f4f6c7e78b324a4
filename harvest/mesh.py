"""MeSH descriptors and their entry terms, for search: pure parse functions for NLM's
descriptor file (desc2026.xml or .gz, about 300 MB: streamed) and for the MeSH RDF lookup
API's descriptor details, and a small client for that API.

A descriptor record is {"ui", "name", "tree_numbers", "terms"}: `terms` are the heading's
entry terms, every term of every concept of the descriptor but the heading itself, in the
file's order. Narrower concepts' terms are entry terms too, as PubMed maps them to the
heading (NLM's lookup API lists the same terms: `descriptor_terms` in HHS/meshrdf's
lookup-queries.yaml).
"""

import json

from lxml import etree

from .errors import ParseError
from .http import Client

SOURCE = "mesh"
LOOKUP = "https://id.nlm.nih.gov/mesh/lookup"
RECORD_SET = "DescriptorRecordSet"


def parse_descriptor(elem):
    """A <DescriptorRecord> -> {"ui", "name", "tree_numbers", "terms"}.

    Permuted terms (IsPermutedTermYN="Y", the words of another term in another order, in
    files before 2019) are left out: a phrase search never needs them."""
    name = elem.findtext("DescriptorName/String").strip()
    terms = []
    for term in elem.iterfind("ConceptList/Concept/TermList/Term"):
        text = " ".join((term.findtext("String") or "").split())
        if text and text != name and term.get("IsPermutedTermYN") != "Y" and text not in terms:
            terms.append(text)
    return {"ui": elem.findtext("DescriptorUI").strip(), "name": name,
            "tree_numbers": [t.text.strip() for t in elem.iterfind("TreeNumberList/TreeNumber") if t.text],
            "terms": terms}


def iter_descriptors(stream, origin):
    """Stream the descriptors of a descriptor file, in constant memory: records, a ParseError
    for a record that cannot be read, and a fatal ParseError, after every record before it,
    for a file that is not a DescriptorRecordSet or is cut short."""
    last = None
    events = etree.iterparse(stream, events=("end",), tag="DescriptorRecord", huge_tree=True,
                             resolve_entities=False, no_network=True, load_dtd=False)
    try:
        for _, elem in events:
            ui = elem.findtext("DescriptorUI")
            try:
                record = parse_descriptor(elem)
                last = record["ui"]
                yield record
            except Exception as error:  # noqa: BLE001 -- one bad record is that record's fault
                yield ParseError(f"cannot parse <DescriptorRecord>: {error!r}", source=SOURCE, origin=origin,
                                 record_id=ui, raw=etree.tostring(elem))
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    except etree.XMLSyntaxError as error:
        where = f"the record after {last}" if last else "the first record"
        yield ParseError(f"malformed or truncated XML in {where}: {error}", source=SOURCE, origin=origin, fatal=True)
        return
    if events.root is None or events.root.tag != RECORD_SET:
        tag = "nothing" if events.root is None else f"<{events.root.tag}>"
        yield ParseError(f"expected a {RECORD_SET}, got {tag}", source=SOURCE, origin=origin, fatal=True)


def parse_details(data, origin):
    """A lookup API /details answer with includes=terms -> a descriptor record (no tree
    numbers: the answer has none), or None for a descriptor MeSH does not have:

    {"descriptor": "http://id.nlm.nih.gov/mesh/D020521", "terms": [{"resource": ".../T...",
    "label": "Stroke", "preferred": true}, {"label": "Cerebrovascular Accident", ...}]}
    -> {"ui": "D020521", "name": "Stroke", "tree_numbers": [], "terms": ["Cerebrovascular Accident"]}"""
    try:
        answer = json.loads(data)
        ui = answer["descriptor"].rstrip("/").rsplit("/", 1)[-1]
        labels = [(" ".join(term["label"].split()), term.get("preferred") is True) for term in answer.get("terms", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ParseError(f"not a lookup details answer: {error!r}", source=SOURCE, origin=origin,
                         raw=data[:65536], fatal=True)
    name = next((label for label, preferred in labels if preferred), None)
    if name is None:
        return None
    return {"ui": ui, "name": name, "tree_numbers": [],
            "terms": list(dict.fromkeys(label for label, _ in labels if label and label != name))}


class MeshLookup:
    """The MeSH RDF lookup API: `descriptors(uis)` yields each descriptor's record with its terms."""

    def __init__(self, client=None, base_url=LOOKUP, email=None):
        # NLM states no rate for the lookup API; 3 a second is what E-utilities allow without a key.
        self.client = client or Client(SOURCE, rate_per_second=3, email=email)
        self.base_url = base_url.rstrip("/")

    def details(self, ui):
        return self.client.get(f"{self.base_url}/details", {"descriptor": ui, "includes": "terms"}).content

    def descriptors(self, uis):
        """(ui, record or None when MeSH has no such descriptor) for each of `uis`, in order."""
        for ui in uis:
            yield ui, parse_details(self.details(ui), f"lookup details {ui}")
