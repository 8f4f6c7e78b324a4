// Draws the bar charts of a page (the home page's works per year and trials by phase, status and
// country; a person's or an institution's works per year) from the page's
// <script type="application/json" id="regenkb-charts"> block, a list of {id, rows, category,
// count, title, horizontal}, with Vega's CSP-safe expression interpreter, as regenkb-forest.js
// draws the synthesis page's plots. The pages give the same figures as text beside each chart.
import { expressionInterpreter } from "./vega-interpreter.js";

const charts = JSON.parse(document.getElementById("regenkb-charts").textContent);
const options = { ast: true, expr: expressionInterpreter, actions: false, renderer: "svg" };

// Columns of a few years get a fixed width each: stretched to the page, one year is a wall.
const FEW_COLUMNS = 15;

function bars(rows, category, count, title, horizontal) {
  const along = { field: category, type: horizontal ? "nominal" : "ordinal", sort: null, title: null };
  const size = { field: count, type: "quantitative", title: title, axis: { tickMinStep: 1 } };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: horizontal || rows.length >= FEW_COLUMNS ? "container" : { step: 40 },
    height: horizontal ? undefined : 160,
    data: { values: rows },
    mark: { type: "bar", color: "#1f4e79", tooltip: true },
    encoding: horizontal ? { y: along, x: size } : { x: along, y: size }
  };
}

for (const chart of charts) {
  const element = document.getElementById(chart.id);
  if (chart.rows.length) {
    vegaEmbed(element, bars(chart.rows, chart.category, chart.count, chart.title, chart.horizontal), options);
  } else {
    element.textContent = "Nothing to count yet.";
  }
}
