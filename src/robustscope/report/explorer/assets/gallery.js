// robustscope explorer, part two: the failure gallery (keyboard: arrows, Enter, Escape), the two-model
// comparison and the tabs. Loaded after explorer.js, whose helpers it uses; text goes in with textContent only.
"use strict";
(function () {
  const DATA = window.RS_DATA || {};
  const V = window.RS_VIEWS;
  const { el, fmt, select, replaceOptions, unique, naturalKey, ALL } = V;
  const GROUPS = DATA.galleries || [];
  const G = {};

  // ---- gallery ---------------------------------------------------------------------------------
  function group() {
    return GROUPS.find((g) => g.model === G.model.value && g.dataset === G.dataset.value);
  }
  function buildGallery() {
    const controls = document.getElementById("gallery-controls");
    if (!GROUPS.length) {
      document.getElementById("gallery-note").textContent =
        "No gallery: the workspace has no stored predictions of a dataset that can be loaded again.";
      return;
    }
    const models = unique(GROUPS.map((g) => g.model));
    G.model = select(controls, "g-model", "model", models, models[0], () => { refill("model"); renderGallery(); });
    G.dataset = select(controls, "g-dataset", "dataset", [""], "", () => { refill("dataset"); renderGallery(); });
    G.shift = select(controls, "g-shift", "shift", [""], "", renderGallery);
    G.factor = select(controls, "g-factor", "slice by", ["(all samples)"], "(all samples)", () => {
      refill("factor");
      renderGallery();
    });
    G.value = select(controls, "g-value", "factor value", [ALL], ALL, renderGallery);
    refill("model");
    const grid = document.getElementById("gallery-grid");
    grid.addEventListener("keydown", (event) => moveFocus(event, grid));
    document.getElementById("variants-close").addEventListener("click", closeVariants);
    document.getElementById("variants").addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); closeVariants(); }
    });
  }
  function refill(level) {
    if (level === "model") {
      replaceOptions(G.dataset, GROUPS.filter((g) => g.model === G.model.value).map((g) => g.dataset), true);
    }
    const g = group();
    if (level !== "factor") {
      replaceOptions(G.shift, g.galleries.map((x) => x.shift), true);
      replaceOptions(G.factor, ["(all samples)", ...g.slices], true);
    }
    const i = g.slices.indexOf(G.factor.value);
    replaceOptions(G.value, i < 0 ? [ALL] : [ALL, ...unique(g.samples.map((s) => s.s[i])).sort(naturalKey)], true);
  }
  function thumb(address, alt) {
    if (!address) return el("span", { class: "no-image" }, "no image (the attack's model could not be reloaded)");
    const img = el("img", { src: "thumbs/" + address + ".jpg", alt: alt, width: "96", height: "96" });
    return img;
  }
  function renderGallery() {
    const g = group();
    const gallery = g.galleries.find((x) => x.shift === G.shift.value);
    const column = g.shifts.indexOf(gallery.shift);
    const factor = g.slices.indexOf(G.factor.value);
    const items = gallery.items.filter((i) => factor < 0 || G.value.value === ALL || g.samples[i].s[factor] === G.value.value);
    const grid = document.getElementById("gallery-grid");
    grid.replaceChildren(...items.map((i, position) => {
      const sample = g.samples[i];
      const [pred, conf] = sample.p[column];
      const item = el("button", { type: "button", class: "thumb", role: "gridcell", "data-sample": sample.id,
        tabindex: position === 0 ? "0" : "-1" });
      item.appendChild(thumb(sample.t[column], sample.file));
      const caption = el("span", { class: "caption" });
      caption.append(el("span", { class: "true" }, "true: " + g.classes[sample.label]),
        el("span", { class: "pred" }, "pred: " + g.classes[pred] + " (" + conf.toFixed(2) + ")"));
      item.appendChild(caption);
      item.addEventListener("click", () => openVariants(g, sample, item));
      return item;
    }));
    document.getElementById("gallery-note").textContent =
      `${gallery.wrong} of ${gallery.n} samples misclassified under ${gallery.shift}; ${items.length} shown, ` +
      "most confident mistakes first. Arrow keys move, Enter opens a sample under every shift, Escape closes it.";
  }
  function moveFocus(event, grid) {
    const items = Array.from(grid.querySelectorAll(".thumb"));
    const at = items.indexOf(document.activeElement);
    if (at < 0) return;
    const perRow = Math.max(1, items.filter((x) => x.offsetTop === items[0].offsetTop).length);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    const next = items[Math.min(items.length - 1, Math.max(0, at + step))];
    items.forEach((x) => x.setAttribute("tabindex", x === next ? "0" : "-1"));
    next.focus();
  }
  let opener = null;
  function openVariants(g, sample, item) {
    opener = item;
    document.getElementById("variants-title").textContent = `${sample.id} · true: ${g.classes[sample.label]}`;
    const facts = ["file: " + sample.file, ...g.factors.map((f, i) => f + " = " + sample.f[i])];
    document.getElementById("variants-facts").textContent = facts.join(" · ");
    const grid = document.getElementById("variants-grid");
    grid.replaceChildren(...g.shifts.map((shift, i) => {
      const [pred, conf] = sample.p[i];
      const figure = el("figure", { class: pred === sample.label ? "variant right" : "variant wrong",
        "data-shift": shift });
      figure.appendChild(thumb(sample.t[i], sample.file + " under " + shift));
      const caption = el("figcaption");
      caption.append(el("b", {}, shift), el("br"),
        document.createTextNode(g.classes[pred] + " (" + conf.toFixed(2) + ")" + (pred === sample.label ? " ✓" : " ✗")));
      figure.appendChild(caption);
      return figure;
    }));
    const dialog = document.getElementById("variants");
    dialog.hidden = false;
    document.getElementById("variants-close").focus();
  }
  function closeVariants() {
    document.getElementById("variants").hidden = true;
    if (opener) opener.focus();
  }

  // ---- comparison ------------------------------------------------------------------------------
  const C = {};
  const PAIRS = DATA.comparisons || [];
  function buildCompare() {
    const models = unique(PAIRS.flatMap((p) => [p.a, p.b]));
    const controls = document.getElementById("compare-controls");
    if (models.length < 2) {
      controls.appendChild(el("p", { class: "note" }, "Fewer than two models share stored predictions."));
      return;
    }
    C.a = select(controls, "c-a", "model A", models, models[0], renderCompare);
    C.b = select(controls, "c-b", "model B", models, models[1], renderCompare);
    const head = document.querySelector("#compare-table thead");
    const tr = el("tr");
    for (const label of ["dataset", "shift", "metric", "A", "B", "A − B [95% CI]", "p", "verdict"]) {
      tr.appendChild(el("th", { scope: "col" }, label));
    }
    head.appendChild(tr);
  }
  function renderCompare() {
    if (!C.a) return;
    const a = C.a.value, b = C.b.value;
    const body = document.querySelector("#compare-table tbody");
    const rows = [];
    for (const p of PAIRS) {
      let flip;
      if (p.a === a && p.b === b) flip = false; else if (p.a === b && p.b === a) flip = true; else continue;
      const d = flip ? -p.difference : p.difference;
      const [lo, hi] = flip ? [-p.ci_high, -p.ci_low] : [p.ci_low, p.ci_high];
      const tr = el("tr");
      for (const [text, cls] of [[p.dataset, ""], [p.shift, ""], [p.metric, ""],
        [fmt(flip ? p.value_b : p.value_a), "num"], [fmt(flip ? p.value_a : p.value_b), "num"],
        [(d >= 0 ? "+" : "") + fmt(d) + " [" + fmt(lo) + ", " + fmt(hi) + "]", "num"],
        [p.p === null ? "·" : Number(p.p).toFixed(4), "num"], [p.verdict, "verdict"]]) {
        tr.appendChild(el("td", cls ? { class: cls } : {}, text));
      }
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    if (!rows.length) body.appendChild(el("tr")).appendChild(el("td", { colspan: "8" }, "No shared predictions."));
  }

  // ---- page ------------------------------------------------------------------------------------
  function show(view) {
    document.querySelectorAll("#rs-tabs button").forEach((b) => b.setAttribute("aria-selected",
      String(b.dataset.view === view)));
    document.querySelectorAll("main .view").forEach((s) => { s.hidden = s.id !== "view-" + view; });
    if (view === "results") V.renderResults();
  }
  function start() {
    const meta = DATA.meta || {};
    document.getElementById("rs-meta").textContent =
      `${meta.rows || 0} result rows · built ${meta.created || ""}`;
    if (meta.report) {  // the single-file report next to the folder (a fixed relative path, not user data)
      const link = el("a", { href: meta.report, class: "report-link" }, "open the single-file report");
      document.getElementById("rs-meta").append(" · ", link);
    }
    document.getElementById("rs-notes").textContent = (meta.notes || []).join("\n");
    document.querySelectorAll("#rs-tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
    V.buildResults();
    buildGallery();
    buildCompare();
    if (GROUPS.length) renderGallery();
    renderCompare();
    show("results");
  }
  start();
})();
