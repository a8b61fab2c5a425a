// imsim web page: search a collection by image. Plain DOM and ES modules, no
// framework, nothing loaded from outside this server.
import { $, api, explain, formatBytes, formatDistance, sentence, setStatus, tile, tooLarge } from "./ui.js";
import { LatentMap, colorOf } from "./map.js";

const PAGE = 60; // images per page when browsing
const MAX_DUP_GROUPS = 200; // duplicate groups drawn at once

const state = {
  info: null,      // GET /api/health
  upload: null,    // the last uploaded File, searched again when N or the metric change
  seq: 0,          // number of the latest search; older answers are dropped
  browseOffset: 0,
  group: null, groupOffset: 0,
  groupsLoaded: false, mapLoaded: false, dupsLoaded: false,
  map: null, selection: null,
};
// timings read by benchmarks/page.py and the browser tests (performance.now() ms)
const perf = { tabClick: {}, map: null };
window.imsimPerf = perf;

// -- searching ------------------------------------------------------------------

function searchParams() {
  const n = Math.min(Math.max(parseInt($("n").value, 10) || 10, 1), state.info ? state.info.max_n : 100);
  $("n").value = n;
  return { n, metric: $("metric").value };
}

function searchById(id, { push = true } = {}) {
  const { n, metric } = searchParams();
  const hash = `#id=${id}&n=${n}&metric=${metric}`;
  if (push && location.hash !== hash) history.pushState(null, "", hash);
  else if (!push) history.replaceState(null, "", hash);
  showTab("search");
  const body = new URLSearchParams({ id: String(id), n: String(n), metric });
  runSearch(body, { kind: "id", id });
}

function searchUpload(file) {
  showTab("search");
  const limit = state.info && state.info.max_upload_bytes;
  if (limit && file.size > limit) {
    // refused here rather than after sending megabytes the server would refuse
    state.seq++;
    $("results").replaceChildren();
    $("scale-note").hidden = true;
    $("query").hidden = true;
    setStatus($("status"), tooLarge(file.size, limit, state.info), { error: true });
    return;
  }
  state.upload = file;
  if (location.hash) history.pushState(null, "", location.pathname);
  const { n, metric } = searchParams();
  const form = new FormData();
  form.append("image", file, file.name || "pasted image");
  form.append("n", String(n));
  form.append("metric", metric);
  runSearch(form, { kind: "upload", file });
}

async function runSearch(body, query) {
  const seq = ++state.seq;
  setStatus($("status"), "Searching…", { busy: true });
  $("search-form").setAttribute("aria-busy", "true");
  showQuery(query);
  try {
    const res = await api("/api/search", { method: "POST", body });
    if (seq !== state.seq) return;
    renderResults(res);
  } catch (err) {
    if (seq !== state.seq) return;
    $("results").replaceChildren();
    $("scale-note").hidden = true;
    setStatus($("status"), explain(err, { what: "The search", info: state.info }), { error: true });
  } finally {
    if (seq === state.seq) $("search-form").removeAttribute("aria-busy");
  }
}

function showQuery(query) {
  const img = $("query-img");
  if (img.dataset.objectUrl) URL.revokeObjectURL(img.dataset.objectUrl);
  delete img.dataset.objectUrl;
  img.hidden = false; // hidden again below if the browser cannot show it either
  const link = $("query-original");
  $("query-meta").textContent = "";
  if (query.kind === "upload") {
    const url = URL.createObjectURL(query.file);
    img.dataset.objectUrl = url;
    img.src = url;
    $("query-desc").textContent = `Uploaded: ${query.file.name || "pasted image"} (${formatBytes(query.file.size)})`;
    link.hidden = true;
  } else {
    img.src = `/api/images/${query.id}?size=thumbnail-2x`;
    $("query-desc").textContent = `Collection image ${query.id}`;
    link.href = `/api/images/${query.id}?size=original`;
    link.hidden = false;
  }
  $("query").hidden = false;
}

function renderResults(res) {
  const q = res.query;
  if (q.id !== null) {
    $("query-desc").textContent = q.kind === "upload"
      ? `Uploaded: the same file as ${q.relpath} (id ${q.id}) in the collection`
      : `${q.relpath} (id ${q.id})`;
    $("query-img").alt = q.relpath;
  }
  const typical = res.typical_distance;
  const tiles = res.results.map((h) => tile(h, searchById, { rank: h.rank, typical, metric: res.metric }));
  $("results").replaceChildren(...tiles);
  const how = res.mode === "cached" ? ", from the neighbour lists cached at indexing" : "";
  const what = res.metric === "cosine" ? "cosine distance (1 − cosine similarity)" : `${res.metric} distance`;
  setStatus($("status"),
    `${res.results.length} most similar image${res.results.length === 1 ? "" : "s"}, nearest first, ` +
    `by ${what} between latent vectors (${res.elapsed_ms.toFixed(1)} ms${how}).`);
  const note = $("scale-note");
  note.hidden = !typical;
  if (typical) {
    note.textContent = `Each bar is the distance on this collection's scale: 1× is the typical distance ` +
      `from an image to its nearest neighbour here (${formatDistance(typical)}); a bar under half full ` +
      `is closer than that, a full bar is 2× or more.`;
  }
}

function rerun() {
  const id = idFromHash();
  if (id !== null) searchById(id, { push: false });
  else if (state.upload) searchUpload(state.upload);
}

function idFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const id = params.get("id");
  return id !== null && /^\d+$/.test(id) ? parseInt(id, 10) : null;
}

function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("n")) $("n").value = params.get("n");
  const asked = (params.get("metric") || "").toLowerCase();
  const metric = state.info.metric_aliases[asked] || asked;  // #metric=euclidean is l2
  if (metric && state.info.metrics.includes(metric)) $("metric").value = metric;
  const id = idFromHash();
  if (id !== null) searchById(id, { push: false });
  else if (state.upload) searchUpload(state.upload);
  else clearSearch();
}

function clearSearch() {
  state.seq++; // an answer still on its way is dropped
  $("query").hidden = true;
  $("scale-note").hidden = true;
  $("results").replaceChildren();
  setStatus($("status"), "");
}

function onPaste(e) {
  const target = e.target;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
  const items = Array.from((e.clipboardData && e.clipboardData.items) || []);
  const item = items.find((it) => it.kind === "file" && it.type.startsWith("image/"));
  e.preventDefault();
  if (item) {
    const file = item.getAsFile();
    searchUpload(file.name ? file : new File([file], "pasted image", { type: file.type }));
  } else {
    showTab("search");
    setStatus($("status"), "The clipboard holds no image: copy the image itself (not its file name " +
      "or link), then paste again.", { error: true });
  }
}

// -- tabs -------------------------------------------------------------------------

const TABS = ["search", "browse", "groups", "map", "dups"];

function showTab(name) {
  for (const t of TABS) {
    const on = t === name;
    $(`tab-${t}`).setAttribute("aria-selected", String(on));
    $(`panel-${t}`).hidden = !on;
  }
  if (name === "browse" && !$("browse").childElementCount) loadBrowse(0);
  if (name === "groups") loadGroups();
  if (name === "map") loadMap();
  if (name === "dups" && !state.dupsLoaded) loadDuplicates();
}

// -- the Collection tab and group members: pages of tiles ---------------------------

async function loadPage(grid, pager, statusEl, url, offset) {
  setStatus(statusEl, "Loading images…", { busy: true });
  try {
    // the page's thumbnails come inside the listing: one answer, every tile at once
    const embed = (window.devicePixelRatio || 1) > 1 ? "thumbnail-2x" : "thumbnail";
    const page = await api(`${url}${url.includes("?") ? "&" : "?"}offset=${offset}&limit=${PAGE}&embed=${embed}`);
    grid.replaceChildren(...page.items.map((item) => tile(item, searchById)));
    const last = Math.min(offset + page.items.length, page.total);
    pager.querySelector(".pos").textContent = page.total
      ? `${offset + 1}–${last} of ${page.total.toLocaleString()}` : "no images";
    pager.querySelector("[data-step='-1']").disabled = offset === 0;
    pager.querySelector("[data-step='1']").disabled = last >= page.total;
    pager.hidden = false;
    setStatus(statusEl, "");
    return page;
  } catch (err) {
    grid.replaceChildren();
    pager.hidden = true;
    setStatus(statusEl, explain(err, { what: "Listing the images" }), { error: true });
    return null;
  }
}

function loadBrowse(offset) {
  state.browseOffset = offset;
  return loadPage($("browse"), $("browse-pager"), $("browse-status"), "/api/images", offset);
}

// -- the Groups tab -------------------------------------------------------------------

async function loadGroups() {
  if (state.groupsLoaded) return;
  state.groupsLoaded = true;
  setStatus($("groups-status"), "Loading groups…", { busy: true });
  try {
    const res = await api("/api/groups");
    setStatus($("groups-status"),
      `${res.groups.length} groups (${res.method}, k=${res.k}${res.elbow ? " chosen by the elbow method" : ""}). ` +
      "Click a group to see its images; the colours are the map's.");
    const order = res.groups.map((g) => g.group).sort((a, b) => a - b);
    $("groups").replaceChildren(...res.groups.map((g) => groupCard(g, colorOf(order.indexOf(g.group)))));
  } catch (err) {
    state.groupsLoaded = err.status === 404; // a missing group file stays missing; retry others
    setStatus($("groups-status"), err.status === 404 ? sentence(err.detail) : explain(err, { what: "Loading the groups" }),
      { error: err.status !== 404 });
  }
}

function groupCard(g, color) {
  const card = document.createElement("button");
  card.type = "button";
  card.className = "group";
  card.dataset.group = g.group;
  card.style.setProperty("--swatch", color);
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = g.representative.relpath;
  img.title = g.representative.relpath;
  img.src = `/api/images/${g.representative.id}`;
  const text = document.createElement("span");
  text.textContent = `Group ${g.group} · ${g.size} image${g.size === 1 ? "" : "s"}`;
  card.append(img, text);
  card.addEventListener("click", () => {
    for (const c of $("groups").children) c.classList.toggle("selected", c === card);
    state.group = g.group;
    $("members-title").textContent = `Group ${g.group}: ${g.size} images (click one to search)`;
    $("members-title").hidden = false;
    loadMembers(0);
  });
  return card;
}

function loadMembers(offset) {
  state.groupOffset = offset;
  return loadPage($("members"), $("members-pager"), $("groups-status"), `/api/images?group=${state.group}`, offset);
}

// -- the Map tab ----------------------------------------------------------------------

async function loadMap() {
  if (state.mapLoaded) return;
  state.mapLoaded = true;
  const n = state.info.n_images;
  setStatus($("map-status"), `Placing ${n.toLocaleString()} images on the map` +
    (n > 1000 ? " (the first time takes a few seconds, up to a minute for a large collection)…" : "…"),
    { busy: true });
  try {
    const data = await api("/api/map/points");
    const map = state.map || new LatentMap($("map"), {
      onPick: (id) => searchById(id),
      thumbUrl: (id) => `/api/images/${id}`,
      onSelect: showSelection,
    });
    state.map = map;
    window.imsimMap = map; // for the browser tests and benchmarks/page.py
    perf.map = map.perf;
    map.setData(data);
    const how = { group: "coloured by group", label: "coloured by sub-folder", none: "" }[data.color_by];
    setStatus($("map-status"), `${data.n.toLocaleString()} images, ${data.method.toUpperCase()} projection` +
      `${how ? `, ${how}` : ""}.`);
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
  } catch (err) {
    state.mapLoaded = false; // the next visit tries again
    setStatus($("map-status"), explain(err, { what: "Drawing the map" }), { error: true });
  }
}

function showSelection(ids) {
  state.selection = ids;
  const box = $("selection");
  box.hidden = !ids;
  $("selection-note").textContent = "";
  if (!ids) return;
  const paths = state.map.data.relpaths;
  $("selection-count").textContent = `${ids.length.toLocaleString()} image${ids.length === 1 ? "" : "s"} selected`;
  const shown = Array.from(ids.slice(0, PAGE), (id) => tile({ id, relpath: paths[id] }, searchById));
  $("selection-grid").replaceChildren(...shown);
  if (ids.length > PAGE) {
    $("selection-note").textContent = `showing the first ${PAGE}; the list has all ${ids.length.toLocaleString()}`;
  }
}

function selectionText() {
  const paths = state.map.data.relpaths;
  return Array.from(state.selection, (id) => paths[id]).join("\n") + "\n";
}

async function copySelection() {
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
  $("selection-note").textContent = `copied ${state.selection.length.toLocaleString()} file names, one a line`;
}

function downloadSelection() {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([selectionText()], { type: "text/plain" }));
  a.download = `${state.info.collection}-selection.txt`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// -- the Duplicates tab -------------------------------------------------------------

async function loadDuplicates() {
  state.dupsLoaded = true;
  const t = $("dups-threshold").value;
  setStatus($("dups-status"), "Looking for duplicates…", { busy: true });
  $("dups").replaceChildren();
  try {
    const res = await api(`/api/duplicates${t !== "" ? `?threshold=${encodeURIComponent(t)}` : ""}`);
    $("dups-threshold").value = String(res.threshold);
    const groups = res.groups;
    const n = groups.reduce((s, g) => s + g.ids.length, 0);
    setStatus($("dups-status"), groups.length
      ? `${groups.length.toLocaleString()} group${groups.length === 1 ? "" : "s"} of near-duplicates ` +
        `(${n.toLocaleString()} images): images at ${res.metric} distance ${formatDistance(res.threshold)} or ` +
        "less from each other. Click one to see its neighbours."
      : `No duplicates: no two images are within ${res.metric} distance ${formatDistance(res.threshold)}. ` +
        "Raise the distance to find looser matches.");
    $("dups").replaceChildren(...groups.slice(0, MAX_DUP_GROUPS).map((g, k) => {
      const box = document.createElement("div");
      box.className = "dup-group";
      const h = document.createElement("h3");
      h.textContent = `${k + 1}. ${g.ids.length} images`;
      const grid = document.createElement("div");
      grid.className = "grid";
      grid.append(...g.ids.map((id, j) => tile({ id, relpath: g.relpaths[j] }, searchById)));
      box.append(h, grid);
      return box;
    }));
    if (groups.length > MAX_DUP_GROUPS) {
      const more = document.createElement("p");
      more.className = "muted";
      more.textContent = `…and ${groups.length - MAX_DUP_GROUPS} more groups: lower the distance, or ` +
        "list them all with `imsim duplicates`.";
      $("dups").append(more);
    }
  } catch (err) {
    state.dupsLoaded = false;
    setStatus($("dups-status"), explain(err, { what: "Finding duplicates" }), { error: true });
  }
}

// -- start --------------------------------------------------------------------------

function wire() {
  for (const t of TABS) {
    $(`tab-${t}`).addEventListener("click", (e) => {
      perf.tabClick[t] = e.timeStamp;
      showTab(t);
    });
  }
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) searchUpload(file);
    e.target.value = ""; // choosing the same file again searches again
  });
  const drop = $("drop");
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) searchUpload(file);
  });
  document.addEventListener("paste", onPaste);
  $("query-img").addEventListener("error", (e) => { e.target.hidden = true; });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); rerun(); });
  $("n").addEventListener("change", rerun);
  $("metric").addEventListener("change", rerun);
  $("browse-pager").addEventListener("click", (e) => {
    const step = e.target.dataset && e.target.dataset.step;
    if (step) loadBrowse(Math.max(0, state.browseOffset + PAGE * parseInt(step, 10)));
  });
  $("members-pager").addEventListener("click", (e) => {
    const step = e.target.dataset && e.target.dataset.step;
    if (step) loadMembers(Math.max(0, state.groupOffset + PAGE * parseInt(step, 10)));
  });
  $("map-select").addEventListener("click", (e) => {
    const on = e.currentTarget.getAttribute("aria-pressed") !== "true";
    e.currentTarget.setAttribute("aria-pressed", String(on));
    if (state.map) state.map.selecting = on;
  });
  $("map-zoom-in").addEventListener("click", () => state.map && state.map.zoom(1.5));
  $("map-zoom-out").addEventListener("click", () => state.map && state.map.zoom(1 / 1.5));
  $("map-reset").addEventListener("click", () => state.map && state.map.reset());
  $("selection-copy").addEventListener("click", copySelection);
  $("selection-download").addEventListener("click", downloadSelection);
  $("selection-clear").addEventListener("click", () => state.map.select(null));
  $("dups-form").addEventListener("submit", (e) => { e.preventDefault(); loadDuplicates(); });
  window.addEventListener("popstate", fromHash);
}

async function start() {
  wire();
  setStatus($("status"), "Opening the collection…", { busy: true });
  try {
    state.info = await api("/api/health");
  } catch (err) {
    setStatus($("status"), explain(err, { what: "Opening the collection" }), { error: true });
    $("collection-info").textContent = "";
    return;
  }
  setStatus($("status"), "");
  const info = state.info;
  $("collection-info").textContent =
    `${info.collection} · ${info.n_images.toLocaleString()} images · version ${info.version}`;
  document.title = `imsim · ${info.collection}`;
  $("n").max = info.max_n;
  $("metric").replaceChildren(...info.metrics.map((m) => {
    const o = document.createElement("option");
    o.value = m;
    const what = m === "cosine" ? "cosine (1 − similarity)" : m;
    o.textContent = m === info.metric ? `${what}, the collection's` : what;
    return o;
  }));
  $("metric").value = info.metric;
  document.body.dataset.ready = "true";
  fromHash();
}

// a module runs after the document is parsed
start();
