"""Write N synthetic PubMed records in real efetch/baseline XML, with realistic sizes:
~12 authors with ~2 affiliations each, a structured abstract, ~15 MeSH headings,
keywords, grants, a DataBankList on some, and 0-25 references (about 9 on average).

    python benchmarks/synth.py 100000 benchmarks/data/synthetic.xml.gz
"""

import gzip
import random
import sys
from xml.sax.saxutils import escape

WORDS = ("stroke ischemic mesenchymal stromal stem cell exosome vesicle infarct recovery neurogenesis "
         "angiogenesis rat model intravenous intra-arterial dose safety trial outcome cortex microglia "
         "inflammation placenta umbilical cord marrow derived therapy patients randomized functional "
         "neurological deficit lesion volume behaviour score week month follow-up adverse event").split()
SURNAMES = ("Chen Wang Zhang Li Liu Smith Muir Bang Kim Lee Soleimani Hashemi Dehghani Garcia Martin Rossi "
            "Tanaka Suzuki Kumar Singh Nguyen Hess Savitz Chopp Xin Zali Saadatnia Novak Horvat Silva").split()
FORENAMES = "Wei Jun Ming Sarah John Keith Oh Young Masoud Leila Carlos Marie Luca Hiro Anil Thanh Reza".split()
MESH = [(f"D{n:06d}", name) for n, name in enumerate(
    ("Stroke", "Humans", "Animals", "Rats", "Male", "Female", "Exosomes", "Mesenchymal Stem Cells",
     "Brain Ischemia", "Recovery of Function", "Neurogenesis", "Disease Models, Animal", "Infarction",
     "Stem Cell Transplantation", "Extracellular Vesicles", "Middle Aged", "Aged", "Treatment Outcome",
     "Rats, Sprague-Dawley", "MicroRNAs", "Mice", "Cells, Cultured", "Angiogenesis", "Microglia"), 1)]
CITIES = "Tehran Isfahan Glasgow Seoul Detroit Beijing Shanghai Madrid Paris Tokyo Boston Toronto".split()
DEPARTMENTS = ("Neurology", "Neurosurgery", "Tissue Engineering", "Immunology", "Hematology", "Radiology",
               "Rehabilitation Medicine", "Stem Cell Biology")


def sentence(rng, n, words=WORDS):
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."


def affiliation(rng):
    city = rng.choice(CITIES)
    return (f"Department of {rng.choice(DEPARTMENTS)}, {city} University of Medical Sciences, "
            f"{city}, Country {rng.randrange(40)}.")


def article(rng, pmid, words=WORDS):
    authors = []
    for _ in range(max(1, int(rng.gauss(12, 4)))):
        last, fore = rng.choice(SURNAMES), rng.choice(FORENAMES)
        affs = "".join(f"<AffiliationInfo><Affiliation>{escape(affiliation(rng))}</Affiliation></AffiliationInfo>"
                       for _ in range(rng.choice((1, 2, 2, 3))))
        authors.append(f'<Author ValidYN="Y"><LastName>{last}</LastName><ForeName>{fore}</ForeName>'
                       f"<Initials>{fore[0]}</Initials>{affs}</Author>")
    abstract = "".join(f'<AbstractText Label="{label}" NlmCategory="{label}">{sentence(rng, rng.randint(40, 70))}'
                       f"</AbstractText>" for label in ("BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"))
    mesh = "".join(f'<MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{rng.choice("NY")}">{name}'
                   f'</DescriptorName><QualifierName UI="Q000628" MajorTopicYN="N">therapy</QualifierName>'
                   f"</MeshHeading>" for ui, name in rng.sample(MESH, 15))
    keywords = "".join(f'<Keyword MajorTopicYN="N">{rng.choice(WORDS)}</Keyword>' for _ in range(5))
    databank = (f"<DataBankList CompleteYN=\"Y\"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>"
                f"<AccessionNumberList><AccessionNumber>NCT0{rng.randrange(10**7):07d}</AccessionNumber>"
                f"</AccessionNumberList></DataBank></DataBankList>" if rng.random() < 0.1 else "")
    references = "".join(f"<Reference><Citation>{sentence(rng, 12)}</Citation><ArticleIdList>"
                         f'<ArticleId IdType="pubmed">{rng.randrange(10**7, 4 * 10**7)}</ArticleId>'
                         f"</ArticleIdList></Reference>" for _ in range(rng.choice((0, 0, 5, 10, 15, 25))))
    year = rng.randint(2000, 2025)
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f"<DateRevised><Year>2025</Year><Month>01</Month><Day>0{rng.randint(1, 9)}</Day></DateRevised>"
            f'<Article PubModel="Print"><Journal><ISSN IssnType="Electronic">1524-4628</ISSN>'
            f'<JournalIssue CitedMedium="Internet"><Volume>{rng.randint(1, 60)}</Volume><Issue>{rng.randint(1, 12)}'
            f"</Issue><PubDate><Year>{year}</Year><Month>Mar</Month></PubDate></JournalIssue>"
            f"<Title>Journal of {rng.choice(DEPARTMENTS)}</Title><ISOAbbreviation>J Synth</ISOAbbreviation></Journal>"
            f"<ArticleTitle>{sentence(rng, rng.randint(8, 18), words)}</ArticleTitle><Pagination><MedlinePgn>"
            f"{rng.randint(1, 900)}-{rng.randint(901, 999)}</MedlinePgn></Pagination>"
            f'<ELocationID EIdType="doi" ValidYN="Y">10.5555/synth.{pmid}</ELocationID>'
            f'<Abstract>{abstract}</Abstract><AuthorList CompleteYN="Y">{"".join(authors)}</AuthorList>'
            f"<Language>eng</Language>{databank}<PublicationTypeList>"
            f'<PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList></Article>'
            f"<MedlineJournalInfo><Country>United States</Country><MedlineTA>J Synth</MedlineTA></MedlineJournalInfo>"
            f'<MeshHeadingList>{mesh}</MeshHeadingList><KeywordList Owner="NOTNLM">{keywords}</KeywordList>'
            f"</MedlineCitation><PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>"
            f'<ArticleId IdType="pubmed">{pmid}</ArticleId><ArticleId IdType="doi">10.5555/synth.{pmid}</ArticleId>'
            f"</ArticleIdList><ReferenceList>{references}</ReferenceList></PubmedData></PubmedArticle>\n")


def write(n, path, seed=1, first_pmid=50_000_000, words=WORDS):
    """Write n records; `words` is the vocabulary titles are drawn from."""
    rng = random.Random(seed)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
                  '1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
                  "<PubmedArticleSet>\n")
        for offset in range(n):
            out.write(article(rng, first_pmid + offset, words))
        out.write("</PubmedArticleSet>\n")


if __name__ == "__main__":
    write(int(sys.argv[1]), sys.argv[2])
