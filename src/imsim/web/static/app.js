// imsim web page: search a collection by image. Plain DOM, no framework, nothing
// loaded from outside this server. Text from the server (file names) only ever goes
// into textContent / attributes, never innerHTML.
"use strict";

const PAGE = 60; // images per page when browsing

const $ = (id) => document.getElementById(id);
const state = {
  info: null,      // GET /api/health
  upload: null,    // the last uploaded File, searched again when N or the metric change
  seq: 0,          // number of the latest search; older answers are dropped
  browseOffset: 0,
  group: null, groupOffset: 0,
  groupsLoaded: false, mapLoaded: false,
};

// -- talking to the API --------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

async function api(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new ApiError(0, "the server cannot be reached");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.detail) || response.statusText);
  }
  return body;
}

function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
  if (isError) el.setAttribute("role", "alert"); else el.removeAttribute("role");
}

// -- tiles -----------------------------------------------------------------------

function tile(item, { rank = null, distance = null, similarity = null } = {}) {
  const fig = document.createElement("figure");
  fig.className = "tile";
  fig.dataset.id = item.id;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "thumb";
  button.title = `Find the images most like ${item.relpath}`;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = item.relpath;
  img.src = `/api/images/${item.id}`;
  img.addEventListener("load", () => {
    // tiny images (digits, icons) stay crisp when scaled up
    if (Math.max(img.naturalWidth, img.naturalHeight) < 64) img.classList.add("pixelated");
  });
  button.append(img);
  button.addEventListener("click", () => searchById(item.id));
  const cap = document.createElement("figcaption");
  if (rank !== null) {
    const top = document.createElement("div");
    top.className = "score";
    const r = document.createElement("span");
    r.className = "rank";
    r.textContent = `#${rank}`;
    const d = document.createElement("span");
    d.className = "distance";
    d.textContent = similarity !== null ? `sim ${similarity.toFixed(4)}` : `d ${formatDistance(distance)}`;
    d.title = similarity !== null ? `cosine similarity (distance ${formatDistance(distance)})` : "distance";
    top.append(r, d);
    cap.append(top);
  }
  const name = document.createElement("a");
  name.className = "name";
  name.href = `/api/images/${item.id}?size=original`;
  name.target = "_blank";
  name.rel = "noopener";
  name.textContent = item.relpath;
  name.title = `${item.relpath} (open the original)`;
  cap.append(name);
  if (item.label) {
    const lab = document.createElement("span");
    lab.className = "label";
    lab.textContent = item.label;
    cap.append(lab);
  }
  fig.append(button, cap);
  return fig;
}

function formatDistance(d) {
  if (d === 0) return "0";
  return Math.abs(d) >= 1000 || Math.abs(d) < 0.001 ? d.toExponential(3) : d.toPrecision(4);
}

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
  state.upload = file;
  if (location.hash) history.pushState(null, "", location.pathname);
  showTab("search");
  const { n, metric } = searchParams();
  const form = new FormData();
  form.append("image", file, file.name || "upload");
  form.append("n", String(n));
  form.append("metric", metric);
  runSearch(form, { kind: "upload", file });
}

async function runSearch(body, query) {
  const seq = ++state.seq;
  setStatus($("status"), "Searching…");
  $("search-form").setAttribute("aria-busy", "true");
  showQuery(query);
  try {
    const res = await api("/api/search", { method: "POST", body });
    if (seq !== state.seq) return;
    renderResults(res);
  } catch (err) {
    if (seq !== state.seq) return;
    $("results").replaceChildren();
    setStatus($("status"), `Search failed (${err.message})`, true);
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
  if (query.kind === "upload") {
    const url = URL.createObjectURL(query.file);
    img.dataset.objectUrl = url;
    img.src = url;
    $("query-desc").textContent = `Uploaded: ${query.file.name || "image"} (${formatBytes(query.file.size)})`;
    link.hidden = true;
  } else {
    img.src = `/api/images/${query.id}`;
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
  const tiles = res.results.map((h) => tile(h, h));
  $("results").replaceChildren(...tiles);
  const how = res.mode === "cached" ? ", from the neighbour cache" : "";
  setStatus($("status"),
    `${res.results.length} most similar image${res.results.length === 1 ? "" : "s"} ` +
    `by ${res.metric} distance (${res.elapsed_ms.toFixed(1)} ms${how})`);
}

function formatBytes(b) {
  if (b < 1024) return `${b} byte${b === 1 ? "" : "s"}`;
  return b >= 1048576 ? `${(b / 1048576).toFixed(1)} MB` : `${Math.round(b / 1024)} KB`;
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
  const metric = params.get("metric");
  if (metric && state.info.metrics.includes(metric)) $("metric").value = metric;
  const id = idFromHash();
  if (id !== null) searchById(id, { push: false });
  else if (state.upload) searchUpload(state.upload);
  else clearSearch();
}

function clearSearch() {
  state.seq++; // an answer still on its way is dropped
  $("query").hidden = true;
  $("results").replaceChildren();
  setStatus($("status"), "");
}

// -- tabs -------------------------------------------------------------------------

function showTab(name) {
  for (const t of ["search", "browse", "groups"]) {
    const on = t === name;
    $(`tab-${t}`).setAttribute("aria-selected", String(on));
    $(`panel-${t}`).hidden = !on;
  }
  if (name === "browse" && !$("browse").childElementCount) loadBrowse(0);
  if (name === "groups") loadGroups();
}

// -- the Collection tab -------------------------------------------------------------

async function loadPage(grid, pager, url, offset) {
  try {
    const page = await api(`${url}${url.includes("?") ? "&" : "?"}offset=${offset}&limit=${PAGE}`);
    grid.replaceChildren(...page.items.map((item) => tile(item)));
    const last = Math.min(offset + page.items.length, page.total);
    pager.querySelector(".pos").textContent = page.total
      ? `${offset + 1}–${last} of ${page.total}` : "no images";
    pager.querySelector("[data-step='-1']").disabled = offset === 0;
    pager.querySelector("[data-step='1']").disabled = last >= page.total;
    pager.hidden = false;
    return page;
  } catch (err) {
    grid.replaceChildren();
    pager.querySelector(".pos").textContent = `Could not list images (${err.message})`;
    return null;
  }
}

function loadBrowse(offset) {
  state.browseOffset = offset;
  return loadPage($("browse"), $("browse-pager"), "/api/images", offset);
}

// -- the Groups & map tab -----------------------------------------------------------

async function loadGroups() {
  if (!state.groupsLoaded) {
    state.groupsLoaded = true;
    setStatus($("groups-status"), "Loading groups…");
    try {
      const res = await api("/api/groups");
      setStatus($("groups-status"),
        `${res.groups.length} groups (${res.method}, k=${res.k}${res.elbow ? " chosen by the elbow method" : ""}). ` +
        "Click a group to see its images.");
      $("groups").replaceChildren(...res.groups.map(groupCard));
    } catch (err) {
      setStatus($("groups-status"), err.status === 404 ? err.detail : `Could not load groups (${err.message})`,
        err.status !== 404);
    }
  }
  if (!state.mapLoaded) {
    state.mapLoaded = true;
    setStatus($("map-status"), "Drawing the map: the first time takes a few seconds, up to a minute for a large collection…");
    const map = $("map");
    map.addEventListener("load", () => { map.hidden = false; setStatus($("map-status"), ""); }, { once: true });
    map.addEventListener("error", async () => {
      // the <img> cannot read the JSON error: ask again for its message
      const detail = await fetch("/api/map").then((r) => r.json()).then((b) => b.detail).catch(() => "");
      setStatus($("map-status"), `No map: ${detail || "the server could not draw it"}`, true);
    }, { once: true });
    map.src = "/api/map";
  }
}

function groupCard(g) {
  const card = document.createElement("button");
  card.type = "button";
  card.className = "group";
  card.dataset.group = g.group;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = g.representative.relpath;
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
  return loadPage($("members"), $("members-pager"), `/api/images?group=${state.group}`, offset);
}

// -- start --------------------------------------------------------------------------

function wire() {
  for (const t of ["search", "browse", "groups"]) $(`tab-${t}`).addEventListener("click", () => showTab(t));
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
  window.addEventListener("popstate", fromHash);
}

async function start() {
  wire();
  try {
    state.info = await api("/api/health");
  } catch (err) {
    setStatus($("status"), `The collection is not available (${err.message})`, true);
    $("collection-info").textContent = "";
    return;
  }
  const info = state.info;
  $("collection-info").textContent =
    `${info.collection} · ${info.n_images.toLocaleString()} images · version ${info.version}`;
  document.title = `imsim · ${info.collection}`;
  $("n").max = info.max_n;
  $("metric").replaceChildren(...info.metrics.map((m) => {
    const o = document.createElement("option");
    o.value = m;
    o.textContent = m === info.metric ? `${m} (collection's)` : m;
    return o;
  }));
  $("metric").value = info.metric;
  document.body.dataset.ready = "true";
  fromHash();
}

document.addEventListener("DOMContentLoaded", start);
