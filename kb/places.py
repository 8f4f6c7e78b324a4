"""Trial sites placed on the map: the coordinates of their city, from the gazetteer
(`harvest.places`), where the registry gives none."""

from harvest import places


def located_trial_sites(db):
    """Give trial sites that have a city and a country but no coordinates of their own the
    coordinates of their city (geo_source 'geonames'), and mark the registry's own
    coordinates as such. Returns the number of sites located."""
    located = []
    for trial_id, position, name, state, country in db.execute(
            "SELECT trial_id, position, city, state, country FROM trial_sites "
            "WHERE latitude IS NULL AND city IS NOT NULL AND country IS NOT NULL").fetchall():
        code = places.country_code(country)
        found = code and ((state and code == "US" and places.city(name, code, places.us_state(state)))
                          or places.city(name, code))
        if found:
            located.append((found.latitude, found.longitude, places.GEO_SOURCE, trial_id, position))
    with db.atomic():
        db.execute("UPDATE trial_sites SET geo_source = 'registry' WHERE latitude IS NOT NULL AND geo_source IS NULL")
        db.conn.executemany("UPDATE trial_sites SET latitude = ?, longitude = ?, geo_source = ? "
                            "WHERE trial_id = ? AND position = ?", located)
    return len(located)
