// The Map tab of the page: the latent map (map.js) with its legend, the refined layout
// swapped in when the server has it, and the selection's list of names.
import { $, api, explain, setStatus, tile } from "./ui.js";
import { LatentMap, colorOf } from "./map.js";

const PAGE = 60; // tiles of a selection shown
const METHODS = { tsne: "t-SNE", umap: "UMAP", pca: "PCA", none: "no" };
const methodName = (m) => METHODS[m] || m;
const REFINE_POLL_MS = 1000; // between two asks for the map's refined layout
let ctx = null; // app.js: { state, perf, searchById, held, remember }

export function initMapTab(context) {
  ctx = context;
}

export async function loadMap() {
  if (ctx.state.mapLoaded) return;
  ctx.state.mapLoaded = true;
  const n = ctx.state.info.n_images;
  setStatus($("map-status"), `Placing ${n.toLocaleString()} images on the map` +
    (n > 1000 ? " (the first time takes a few seconds, up to a minute for a large collection)…" : "…"),
    { busy: true });
  try {
    const data = await api("/api/map/points");
    const map = ctx.state.map || new LatentMap($("map"), {
      onPick: (id) => ctx.searchById(id),
      thumbUrl: (id) => `/api/images/${id}?${ctx.held()}`,
      onSelect: showSelection,
    });
    ctx.state.map = map;
    window.imsimMap = map; // for the browser tests and benchmarks/page.py
    ctx.perf.map = map.perf;
    drawMap(data);
    if (data.refining) refineMap(data);
  } catch (err) {
    ctx.state.mapLoaded = false; // the next visit tries again
    setStatus($("map-status"), explain(err, { what: "Drawing the map" }), { error: true });
  }
}

function drawMap(data) {
  const map = ctx.state.map;
  const selected = map.selection;
  map.setData(data);
  if (selected && selected.length && selected[selected.length - 1] < data.n) map.select(Array.from(selected));
  ctx.remember(data.relpaths.map((_, i) => i), data.relpaths);
  const how = { group: "coloured by group", label: "coloured by sub-folder", none: "" }[data.color_by];
  const later = data.refining ? ` A ${methodName(data.refined_method)} layout, which keeps neighbours ` +
    "closer together, is being computed: it will replace this one." : "";
  setStatus($("map-status"), `${data.n.toLocaleString()} images, ${methodName(data.method)} projection` +
    `${how ? `, ${how}` : ""}.${later}`, { busy: !!data.refining });
  $("map-legend").replaceChildren(...data.legend.map((entry, c) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.style.setProperty("--swatch", colorOf(c));
    b.textContent = `${entry.name} (${entry.size.toLocaleString()})`;
    b.title = `Select the ${entry.size.toLocaleString()} images of ${entry.name}`;
    b.addEventListener("click", () => map.selectColor(c));
    return b;
  }));
}

// The fast layout is drawn: ask for the refined one until it is ready, then swap it in
// (unless the map was reloaded meanwhile: a new version, new groups).
async function refineMap(first) {
  const token = ctx.state.mapToken = (ctx.state.mapToken || 0) + 1;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, REFINE_POLL_MS));
    if (token !== ctx.state.mapToken) return;
    let data;
    try {
      data = await api("/api/map/points?refined=true");
    } catch (err) {
      continue; // the server is busy or away: ask again
    }
    if (token !== ctx.state.mapToken || data.version !== first.version) return;
    if (data.refining) continue;
    if (data.failed || !data.x) {
      setStatus($("map-status"), `${first.n.toLocaleString()} images, PCA projection (the refined ` +
        `layout failed: ${data.failed || "no answer"}).`);
      return;
    }
    drawMap(data);
    ctx.perf.mapRefined = performance.now();
    return;
  }
}

function showSelection(ids) {
  ctx.state.selection = ids;
  const box = $("selection");
  box.hidden = !ids;
  $("selection-note").textContent = "";
  if (!ids) return;
  const paths = ctx.state.map.data.relpaths;
  $("selection-count").textContent = `${ids.length.toLocaleString()} image${ids.length === 1 ? "" : "s"} selected`;
  const shown = Array.from(ids.slice(0, PAGE), (id) => tile({ id, relpath: paths[id] }, ctx.searchById));
  $("selection-grid").replaceChildren(...shown);
  if (ids.length > PAGE) {
    $("selection-note").textContent = `showing the first ${PAGE}; the list has all ${ids.length.toLocaleString()}`;
  }
}

function selectionText() {
  const paths = ctx.state.map.data.relpaths;
  return Array.from(ctx.state.selection, (id) => paths[id]).join("\n") + "\n";
}

export async function copySelection() {
  const text = selectionText();
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    // no clipboard permission (an http:// address other than localhost): the old way
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  $("selection-note").textContent = `copied ${ctx.state.selection.length.toLocaleString()} file names, one a line`;
}

export function downloadSelection() {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([selectionText()], { type: "text/plain" }));
  a.download = `${ctx.state.info.collection}-selection.txt`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

