// Draws the home page's charts (works per year, trials by phase, status and country) from the
// page's <script type="application/json" id="regenkb-home-data"> block, with Vega's CSP-safe
// expression interpreter, as regenkb-forest.js draws the synthesis page's plots.
import { expressionInterpreter } from "./vega-interpreter.js";

const data = JSON.parse(document.getElementById("regenkb-home-data").textContent);
const options = { ast: true, expr: expressionInterpreter, actions: false, renderer: "svg" };

function bars(rows, category, count, title, horizontal) {
  const along = { field: category, type: horizontal ? "nominal" : "ordinal", sort: null, title: null };
  const size = { field: count, type: "quantitative", title: title, axis: { tickMinStep: 1 } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: "container",
    data: { values: rows },
    mark: { type: "bar", color: "#1f4e79", tooltip: true },
    encoding: horizontal ? { y: along, x: size } : { x: along, y: size }
  };
}

const charts = [
  ["chart-works-per-year", data.works_per_year, "year", "works", "Works", false],
  ["chart-trials-by-phase", data.trials_by_phase, "phase", "trials", "Trials", true],
  ["chart-trials-by-status", data.trials_by_status, "status", "trials", "Trials", true],
  ["chart-trials-by-country", data.trials_by_country, "country", "trials", "Trials", true]
];
for (const [id, rows, category, count, title, horizontal] of charts) {
  const element = document.getElementById(id);
  if (rows.length) {
    vegaEmbed(element, bars(rows, category, count, title, horizontal), options);
  } else {
    element.textContent = "Nothing to count yet.";
  }
}
