// robustscope explorer: results table and charts, failure galleries, two-model comparisons.
// Every string from the data reaches the page through textContent or an attribute set by the DOM API,
// never parsed as HTML, so a model called "<img src=x onerror=...>" is shown as text.
"use strict";
(function () {
  const DATA = window.RS_DATA || {};
  // Okabe & Ito (2008), the colour-blind-safe qualitative palette; bar patterns tell models apart past eight.
  const OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"];
  const PATTERNS = ["", "/", "\\", "x", ".", "+", "-", "|"];
  const MAX_TABLE_ROWS = 500;
  const ALL = "(all)";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(v) { return v === null || v === undefined || Number.isNaN(v) ? "·" : Number(v).toFixed(3); }
  function naturalKey(a, b) {
    const na = parseFloat(String(a).replace(/^[\[(]/, "")), nb = parseFloat(String(b).replace(/^[\[(]/, ""));
    if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
    return String(a).localeCompare(String(b));
  }
  function unique(values) { return Array.from(new Set(values)); }

  // ---- data ------------------------------------------------------------------------------------
  function decodeRows(payload) {
    if (!payload) return [];
    const out = [];
    const names = Object.keys(payload.columns);
    for (let i = 0; i < payload.length; i++) {
      const row = {};
      for (const name of names) {
        const column = payload.columns[name];
        row[name] = Array.isArray(column) ? column[i] : column.values[column.codes[i]];
      }
      out.push(row);
    }
    return out;
  }
  const ROWS = decodeRows(DATA.results);
  const MODELS = unique(ROWS.map((r) => r.model));
  function colour(model) { return OKABE_ITO[MODELS.indexOf(model) % OKABE_ITO.length]; }
  function pattern(model) { return PATTERNS[Math.floor(MODELS.indexOf(model) / OKABE_ITO.length) % PATTERNS.length]; }

  // ---- controls --------------------------------------------------------------------------------
  function select(parent, id, label, options, value, onChange) {
    const wrap = el("label", { for: id, class: "control" }, label + " ");
    const box = el("select", { id: id });
    for (const option of options) box.appendChild(el("option", { value: option }, option));
    if (options.includes(value)) box.value = value;
    box.addEventListener("change", onChange);
    wrap.appendChild(box);
    parent.appendChild(wrap);
    return box;
  }
  function replaceOptions(box, options, keep) {
    const previous = box.value;
    box.replaceChildren(...options.map((o) => el("option", { value: o }, o)));
    box.value = keep && options.includes(previous) ? previous : options[0];
  }

  // ---- results view ----------------------------------------------------------------------------
  const R = { sortKey: "model", sortUp: true };
  function buildResults() {
    const controls = document.getElementById("results-controls");
    const models = el("fieldset", { id: "f-models", class: "control models" });
    models.appendChild(el("legend", {}, "models"));
    MODELS.forEach((m, i) => {
      const id = "f-model-" + i;
      const box = el("input", { type: "checkbox", id: id, value: m });
      box.checked = true;
      box.addEventListener("change", renderResults);
      const label = el("label", { for: id });
      const swatch = el("span", { class: "swatch" });
      swatch.style.background = colour(m);
      label.append(box, swatch, document.createTextNode(m));
      models.appendChild(label);
    });
    controls.appendChild(models);
    const axes = unique(ROWS.map((r) => r.axis || "")).filter((a) => a !== "");
    R.axis = select(controls, "f-axis", "axis", [ALL, ...axes], ALL, renderResults);
    R.dataset = select(controls, "f-dataset", "dataset", [ALL, ...unique(ROWS.map((r) => r.dataset))], ALL,
      renderResults);
    R.shift = select(controls, "f-shift", "shift", [ALL, ...unique(ROWS.map((r) => r.shift))], ALL, renderResults);
    const metrics = unique(ROWS.map((r) => r.metric));
    R.metric = select(controls, "f-metric", "metric", [ALL, ...metrics], metrics.includes("top1") ? "top1" : ALL,
      renderResults);
    const factors = unique(ROWS.map((r) => r.slice_factor)).filter((f) => f !== "").sort();
    R.factor = select(controls, "f-factor", "slice by", ["(whole set)", ...factors], "(whole set)", () => {
      R.value.value = ALL;
      renderResults();
    });
    R.value = select(controls, "f-value", "factor value", [ALL], ALL, renderResults);
    const head = document.querySelector("#results-table thead");
    const tr = el("tr");
    for (const [key, label] of [["model", "model"], ["dataset", "dataset"], ["shift", "shift"], ["metric", "metric"],
      ["slice", "slice"], ["value", "value"], ["ci_low", "95% CI"], ["n", "n"], ["axis", "axis"]]) {
      const th = el("th", { scope: "col", "data-key": key });
      const button = el("button", { type: "button" }, label);
      button.addEventListener("click", () => {
        R.sortUp = R.sortKey === key ? !R.sortUp : true;
        R.sortKey = key;
        renderResults();
      });
      th.appendChild(button);
      tr.appendChild(th);
    }
    head.appendChild(tr);
  }
  function filters() {
    const chosen = Array.from(document.querySelectorAll("#f-models input:checked")).map((b) => b.value);
    return { models: chosen, axis: R.axis.value, dataset: R.dataset.value, shift: R.shift.value,
      metric: R.metric.value, factor: R.factor.value === "(whole set)" ? "" : R.factor.value, value: R.value.value };
  }
  function matches(r, f, ignore) {
    ignore = ignore || {};
    return f.models.includes(r.model) && (f.axis === ALL || r.axis === f.axis) &&
      (ignore.dataset || f.dataset === ALL || r.dataset === f.dataset) &&
      (ignore.shift || f.shift === ALL || r.shift === f.shift) && (f.metric === ALL || r.metric === f.metric) &&
      (ignore.slice || (r.slice_factor === f.factor && (f.value === ALL || r.slice_value === f.value)));
  }
  function sortRows(rows) {
    const key = R.sortKey, sign = R.sortUp ? 1 : -1;
    const value = (r) => (key === "slice" ? (r.slice_factor ? r.slice_factor + "=" + r.slice_value : "") : r[key]);
    return rows.slice().sort((a, b) => {
      const x = value(a), y = value(b);
      if (typeof x === "number" || typeof y === "number") return sign * ((x ?? -Infinity) - (y ?? -Infinity));
      return sign * naturalKey(x ?? "", y ?? "");
    });
  }
  async function queryRows(f) {
    if (!window.RS_SERVER) return ROWS.filter((r) => matches(r, f));
    const params = new URLSearchParams({ limit: String(MAX_TABLE_ROWS), slice_factor: f.factor });
    for (const m of f.models) params.append("model", m);
    for (const [name, v] of [["axis", f.axis], ["dataset", f.dataset], ["shift", f.shift], ["metric", f.metric],
      ["slice_value", f.value]]) if (v !== ALL) params.set(name, v);
    const answer = await fetch("api/query?" + params.toString());
    return (await answer.json()).rows;
  }
  function refreshSliceOptions() {
    // Only the factors (and values) that have rows under the other filters are offered.
    const f = filters();
    const here = ROWS.filter((r) => matches(r, f, { slice: true }) && r.slice_factor !== "");
    const factors = unique(here.map((r) => r.slice_factor)).sort();
    replaceOptions(R.factor, ["(whole set)", ...factors], true);
    const values = unique(here.filter((r) => r.slice_factor === R.factor.value).map((r) => r.slice_value));
    replaceOptions(R.value, [ALL, ...values.sort(naturalKey)], true);
  }
  async function renderResults() {
    refreshSliceOptions();
    const f = filters();
    const ticket = (R.ticket = (R.ticket || 0) + 1);
    const found = await queryRows(f);
    if (ticket !== R.ticket) return;  // a newer filter answered first (served: queries race)
    const rows = sortRows(found);
    const body = document.querySelector("#results-table tbody");
    const shown = rows.slice(0, MAX_TABLE_ROWS);
    body.replaceChildren(...shown.map((r) => {
      const tr = el("tr");
      const slice = r.slice_factor ? r.slice_factor + " = " + r.slice_value : "whole set";
      const ci = r.ci_low === null || r.ci_low === undefined ? "" : "[" + fmt(r.ci_low) + ", " + fmt(r.ci_high) + "]";
      for (const [text, cls] of [[r.model, "model"], [r.dataset, ""], [r.shift, ""], [r.metric, ""], [slice, ""],
        [fmt(r.value), "num"], [ci, "ci"], [r.n ?? "", "num"], [r.axis || "", ""]]) {
        tr.appendChild(el("td", cls ? { class: cls } : {}, text));
      }
      return tr;
    }));
    document.querySelectorAll("#results-table th").forEach((th) => {
      th.setAttribute("aria-sort", th.dataset.key === R.sortKey ? (R.sortUp ? "ascending" : "descending") : "none");
    });
    document.getElementById("results-count").textContent = rows.length > MAX_TABLE_ROWS ?
      `showing ${MAX_TABLE_ROWS} of ${rows.length} rows (narrow the filters)` : `${rows.length} rows`;
    drawCharts(f);
  }

  // ---- charts ----------------------------------------------------------------------------------
  function chartLayout(title, xTitle, yTitle) {
    // The legend sits right of the plot, never under it: below, it collided with the x-axis title.
    return { title: { text: title, font: { size: 13 }, x: 0, xanchor: "left" }, template: "plotly_white",
      height: 340, margin: { l: 60, r: 10, t: 50, b: 60 }, barmode: "group",
      legend: { orientation: "v", x: 1.02, xanchor: "left", y: 1, yanchor: "top" },
      xaxis: { title: { text: xTitle }, type: "category", automargin: true },
      yaxis: { title: { text: yTitle }, automargin: true } };
  }
  function bars(rows, categoryOf, categories) {
    return unique(rows.map((r) => r.model)).map((model) => {
      const byCategory = new Map(rows.filter((r) => r.model === model).map((r) => [categoryOf(r), r]));
      const picked = categories.map((c) => byCategory.get(c));
      const y = picked.map((r) => (r ? r.value : null));
      return { type: "bar", name: model, x: categories, y: y,
        marker: { color: colour(model), pattern: { shape: pattern(model) }, line: { color: "#1f2933", width: 0.5 } },
        error_y: { type: "data", symmetric: false, thickness: 1.2, width: 3,
          array: picked.map((r) => (r && r.ci_high !== null ? r.ci_high - r.value : 0)),
          arrayminus: picked.map((r) => (r && r.ci_low !== null ? r.value - r.ci_low : 0)) },
        hovertemplate: "%{x}: %{y:.3f}<extra>%{fullData.name}</extra>" };
    });
  }
  function drawCharts(f) {
    if (!window.Plotly) return;
    // With every metric shown, chart top-1 if the rows have it, else their first metric.
    const metrics = unique(ROWS.filter((r) => matches(r, { ...f, metric: ALL }, { slice: true })).map((r) => r.metric));
    const metric = f.metric !== ALL ? f.metric : metrics.includes("top1") ? "top1" : metrics[0];
    const g = { ...f, metric: metric };
    const factorRows = ROWS.filter((r) => matches(r, { ...g, value: ALL }) && r.slice_factor !== "");
    const factorBox = document.getElementById("chart-factor");
    if (f.factor && factorRows.length) {
      const first = factorRows[0];
      const rows = factorRows.filter((r) => r.dataset === first.dataset && r.shift === first.shift);
      const categories = unique(rows.map((r) => r.slice_value)).sort(naturalKey);
      Plotly.purge(factorBox);
      factorBox.replaceChildren();  // drop the hint text before drawing
      Plotly.newPlot(factorBox, bars(rows, (r) => r.slice_value, categories),
        chartLayout(`${metric} by ${f.factor} · ${first.dataset} · ${first.shift}`, f.factor, metric),
        { displaylogo: false, responsive: true });
    } else {
      Plotly.purge(factorBox);
      factorBox.textContent = "Choose a factor under “slice by” to see the metric per factor value.";
    }
    const shiftRows = ROWS.filter((r) => matches(r, { ...g, factor: "", value: ALL }, { shift: true }));
    const shiftBox = document.getElementById("chart-shift");
    if (shiftRows.length) {
      const dataset = shiftRows[0].dataset;
      const rows = shiftRows.filter((r) => r.dataset === dataset && r.shift !== "summary");
      const shifts = unique(rows.map((r) => r.shift));
      Plotly.react(shiftBox, bars(rows, (r) => r.shift, shifts),
        chartLayout(`${metric} per shift · ${dataset}`, "shift", metric), { displaylogo: false, responsive: true });
    } else {
      Plotly.purge(shiftBox);
    }
  }

  window.RS_EXPLORER = { rows: ROWS, decodeRows: decodeRows };
  window.RS_VIEWS = { buildResults: buildResults, renderResults: renderResults, el: el, fmt: fmt, select: select,
    replaceOptions: replaceOptions, unique: unique, naturalKey: naturalKey, ALL: ALL, colour: colour };
})();
