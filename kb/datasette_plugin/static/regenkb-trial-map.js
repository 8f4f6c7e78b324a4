// Draws trial sites on a Leaflet map (a trial's on its page, every geocoded place of the KB's
// trials on the home page; both call the map #regenkb-trial-map): Leaflet is the ES module
// datasette-leaflet ships, and the sites and the module's URL come from the page's
// <script type="application/json" id="regenkb-trial-sites"> block (data, not code, so the
// Content-Security-Policy runs no inline script of ours). Markers are vector circles, so they
// draw offline even when the tiles cannot load.
(function () {
  // A site's name is harvested text: shown as text, never parsed as HTML.
  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }
  var data = JSON.parse(document.getElementById("regenkb-trial-sites").textContent);
  import(data.leaflet).then(function (L) {
    var map = L.map("regenkb-trial-map");
    L.tileLayer(data.tiles, {maxZoom: 18, attribution: "&copy; OpenStreetMap contributors"}).addTo(map);
    var markers = data.sites.map(function (site) {
      return L.circleMarker([site.lat, site.lon], {radius: 7, color: "#c60", weight: 2, fillOpacity: 0.6})
        .bindTooltip(text(site.label)).addTo(map);
    });
    var bounds = L.latLngBounds(markers.map(function (marker) { return marker.getLatLng(); }));
    if (markers.length === 1) {
      map.setView(bounds.getCenter(), 6);
    } else {
      map.fitBounds(bounds, {padding: [20, 20], maxZoom: 8});
    }
    window.regenkbTrialMap = {map: map, markers: markers.length};
  });
})();
