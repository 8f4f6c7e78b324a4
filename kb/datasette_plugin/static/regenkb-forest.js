// Draws the synthesis page's plots: serious adverse event proportions with their exact
// intervals, and a forest plot per meta-analysis. The figures come from the page's
// <script type="application/json" id="regenkb-synthesis-data"> block (data, not code), and
// Vega runs its expressions through vega-interpreter instead of compiling them with
// new Function, so the pages' Content-Security-Policy holds (no 'unsafe-eval').
import { expressionInterpreter } from "./vega-interpreter.js";

const data = JSON.parse(document.getElementById("regenkb-synthesis-data").textContent);
const options = { ast: true, expr: expressionInterpreter, actions: false, renderer: "svg" };

function intervals(rows, title, zero) {
  const y = { field: "label", type: "nominal", sort: null, title: null };
  const layers = [
    { mark: { type: "rule" }, encoding: {
        y: y, x: { field: "low", type: "quantitative", title: title, scale: { zero: true } }, x2: { field: "high" } } },
    { mark: { type: "point", filled: true, shape: "square" }, encoding: {
        y: y, x: { field: "value", type: "quantitative" },
        size: { field: "size", type: "quantitative", legend: null, scale: { range: [30, 300] } },
        color: { field: "kind", type: "nominal", legend: null,
                 scale: { domain: ["study", "pooled"], range: ["#1f4e79", "#c0392b"] } },
        tooltip: [{ field: "label", title: "Row" }, { field: "value", format: ".2f", title: "Estimate" },
                  { field: "low", format: ".2f", title: "95% low" }, { field: "high", format: ".2f", title: "95% high" }] } }
  ];
  if (zero) {
    layers.push({ data: { values: [{ zero: 0 }] }, mark: { type: "rule", strokeDash: [4, 4], color: "#888" },
                  encoding: { x: { field: "zero", type: "quantitative" } } });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    width: "container",
    data: { values: rows },
    layer: layers
  };
}

const safetyPlot = document.getElementById("regenkb-safety-plot");
if (safetyPlot && data.safety.length) {
  const rows = data.safety.map((row) => ({
    label: `${row.intervention}, ${row.route} (${row.events}/${row.patients})`, value: row.proportion,
    low: row.ci_low, high: row.ci_high, size: row.patients, kind: "study" }));
  vegaEmbed(safetyPlot, intervals(rows, "Share of treated patients with a serious adverse event", false), options);
}

for (const element of document.querySelectorAll(".regenkb-forest")) {
  const analysis = data.meta.find((row) => String(row.id) === element.dataset.analysis);
  const rows = analysis.studies.map((study) => ({
    label: study.study_id, value: study.effect, low: study.ci_low, high: study.ci_high,
    size: study.weight, kind: "study" }));
  rows.push({ label: "Pooled (random effects)", value: analysis.pooled, low: analysis.ci_low,
              high: analysis.ci_high, size: 1, kind: "pooled" });
  const title = `${analysis.effect_measure}, cell therapy minus control` + (analysis.unit ? ` (${analysis.unit})` : "");
  vegaEmbed(element, intervals(rows, title, true), options);
}
