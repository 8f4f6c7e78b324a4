// Draws the ego network of an author or institution page: the elements come from the page's
// <script type="application/json" id="regenkb-network-elements"> block (data, not code, so the
// pages' Content-Security-Policy runs no inline script of ours).
(function () {
  var elements = JSON.parse(document.getElementById("regenkb-network-elements").textContent);
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var cy = cytoscape({
    container: document.getElementById("regenkb-network"),
    elements: elements,
    style: [
      {selector: "node", style: {"label": "data(label)", "font-size": 9, "width": 14, "height": 14,
        "background-color": function (node) { return palette[(node.data("community") || 0) % palette.length]; }}},
      {selector: "node[?centre]", style: {"width": 26, "height": 26, "font-weight": "bold", "border-width": 2}},
      {selector: "edge", style: {"width": function (edge) { return Math.min(8, 1 + edge.data("weight")); },
        "line-color": "#bbb", "curve-style": "haystack"}}
    ],
    layout: {name: "cose", animate: false, randomize: false}
  });
  cy.on("tap", "node", function (event) { window.location.href = event.target.data("href"); });
  window.regenkbNetwork = cy;
})();
