// Draws the ego network of an author or institution page: the elements come from the page's
// <script type="application/json" id="regenkb-network-elements"> block (data, not code, so the
// pages' Content-Security-Policy runs no inline script of ours). Positions come with the data
// (a seeded layout on the server), so every load draws the same picture.
(function () {
  var elements = JSON.parse(document.getElementById("regenkb-network-elements").textContent);
  var cy = cytoscape({
    container: document.getElementById("regenkb-network"),
    elements: elements,
    style: [
      {selector: "node", style: {"label": "", "font-size": 13, "width": "data(size)", "height": "data(size)",
        "background-color": "data(colour)", "text-valign": "bottom", "text-margin-y": 2,
        "text-background-color": "#fff", "text-background-opacity": 0.8, "text-background-padding": 1}},
      {selector: "node.labelled, node.hover", style: {"label": "data(label)"}},
      {selector: "node.hover", style: {"z-index": 10, "font-weight": "bold"}},
      {selector: "node[?centre]", style: {"font-weight": "bold", "border-width": 2}},
      {selector: "edge", style: {"width": function (edge) { return Math.min(8, 1 + edge.data("weight")); },
        "line-color": "#bbb", "curve-style": "haystack"}}
    ],
    layout: {name: "preset", fit: true, padding: 40}
  });
  // Labels for the larger nodes first, each only where it overlaps no label already shown;
  // the rest show theirs on hover or keyboard focus.
  function overlaps(a, b) { return a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2; }
  function placeLabels() {
    var shown = [];
    cy.nodes().removeClass("labelled");
    cy.nodes().sort(function (a, b) {
      return (b.data("size") - a.data("size")) || (a.id() < b.id() ? -1 : 1);
    }).forEach(function (node) {
      node.addClass("labelled");
      var box = node.renderedBoundingBox({includeLabels: true});
      if (shown.some(function (other) { return overlaps(box, other); })) { node.removeClass("labelled"); }
      else { shown.push(box); }
    });
  }
  placeLabels();
  cy.on("zoom", placeLabels);
  cy.on("mouseover", "node", function (event) { event.target.addClass("hover"); });
  cy.on("mouseout", "node", function (event) { event.target.removeClass("hover"); });
  cy.on("tap", "node", function (event) { window.location.href = event.target.data("href"); });
  window.regenkbNetwork = cy;
})();
