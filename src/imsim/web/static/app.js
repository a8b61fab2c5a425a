// imsim web page: search a collection by image. Plain DOM and ES modules, no
// framework, nothing loaded from outside this server.
import { $, api, explain, fitNames, formatBytes, formatDistance, onAnswer, sentence, setStatus, tile,
  tooLarge } from "./ui.js";
import { colorOf } from "./map.js";
import { copySelection, downloadSelection, initMapTab, loadMap } from "./maptab.js";
import { loadDuplicates } from "./dups.js";
import { Follower } from "./follow.js";

const PAGE = 60; // images per page when browsing

const state = {
  info: null,      // GET /api/health
  upload: null,    // the last uploaded File, searched again when N or the metric change
  seq: 0,          // number of the latest search; older answers are dropped
  browseOffset: 0,
  group: null, groupOffset: 0,
  groupsLoaded: false, mapLoaded: false, dupsLoaded: false,
  map: null, selection: null,
  follow: null,    // follow.js: the version the page's ids belong to
  groupsId: null,  // the groups answer the group cards come from
};
const remember = (ids, relpaths) => state.follow && state.follow.remember(ids, relpaths);
const held = () => `version=${encodeURIComponent(state.info.version)}`; // the ids' version
// timings read by benchmarks/page.py and the browser tests (performance.now() ms)
const perf = { tabClick: {}, map: null };
window.imsimPerf = perf;

// -- searching ------------------------------------------------------------------

function searchParams() {
  // the most results the server gives (its MAX_N) comes from /api/health, as the input's max
  const n = Math.min(Math.max(parseInt($("n").value, 10) || 10, 1), state.info ? state.info.max_n : Infinity);
  $("n").value = n;
  return { n, metric: $("metric").value };
}

function searchById(id, { push = true } = {}) {
  const { n, metric } = searchParams();
  const hash = `#id=${id}&n=${n}&metric=${metric}`;
  if (push && location.hash !== hash) history.pushState(null, "", hash);
  else if (!push) history.replaceState(null, "", hash);
  showTab("search");
  const body = new URLSearchParams({ id: String(id), n: String(n), metric, version: state.info.version,
    verify: "true" });
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
  form.append("image", file, file.name || PASTED);
  form.append("n", String(n));
  form.append("metric", metric);
  form.append("verify", "true"); // as `imsim query` does: other versions of the picture first
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
    if (err.status === 409 && err.body && err.body.error === "version_changed" && query.kind === "id") {
      // the collection was indexed again: this id may be another photo now. Find the
      // photo meant by its path in the new version, and search for it there.
      setStatus($("status"), "The collection was updated: finding this image in the new version…", { busy: true });
      await state.follow.check(); // reloads the ids and re-runs the search (onVersion)
      return;
    }
    $("results").replaceChildren();
    $("scale-note").hidden = true;
    setStatus($("status"), explain(err, { what: "The search", info: state.info }), { error: true });
  } finally {
    if (seq === state.seq) $("search-form").removeAttribute("aria-busy");
  }
}

// After a new version: the search for the photo that was id `oldId`, by its path.
async function searchByPath(relpath, oldId) {
  const id = relpath ? await state.follow.idOf(relpath) : null;
  if (id !== null) {
    searchById(id, { push: false });
    return;
  }
  state.seq++;
  $("results").replaceChildren();
  $("query").hidden = true;
  setStatus($("status"), relpath
    ? `${relpath} is no longer in the collection (version ${state.info.version}): pick another image.`
    : `Image ${oldId} of the earlier version is not known to this page: pick the image again.`,
  { error: true });
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
    const what = query.file.name === PASTED ? "Pasted image" : `Uploaded: ${query.file.name || "an image"}`;
    $("query-desc").textContent = `${what} (${formatBytes(query.file.size)})`;
    link.hidden = true;
  } else {
    img.src = `/api/images/${query.id}?size=thumbnail-2x&${held()}`;
    $("query-desc").textContent = `Collection image ${query.id}`;
    link.href = `/api/images/${query.id}?size=original&${held()}`;
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
  if (q.id !== null) remember([q.id], [q.relpath]);
  remember(res.results.map((h) => h.id), res.results.map((h) => h.relpath));
  const typical = res.typical_distance;
  const tiles = res.results.map((h) => tile(h, searchById, { rank: h.rank, typical, metric: res.metric }));
  $("results").replaceChildren(...tiles);
  fitNames($("results"));
  const how = res.mode === "cached" ? ", from the neighbour lists cached at indexing" : "";
  const what = res.metric === "cosine" ? "cosine distance (1 − cosine similarity)" : `${res.metric} distance`;
  const checked = res.results.some((h) => h.verified === true || h.verified === false);
  const order = checked ? "the same picture first, then the same layout, each nearest first" : "nearest first";
  setStatus($("status"),
    `${res.results.length} most similar image${res.results.length === 1 ? "" : "s"}, ${order}, ` +
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

const PASTED = "pasted image";

function onPaste(e) {
  const target = e.target;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
  const items = Array.from((e.clipboardData && e.clipboardData.items) || []);
  const item = items.find((it) => it.kind === "file" && it.type.startsWith("image/"));
  e.preventDefault();
  if (item) {
    const file = item.getAsFile();
    // named for what the person did: browsers call every pasted picture "image.png"
    searchUpload(new File([file], PASTED, { type: file.type }));
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
  if (name === "dups" && !state.dupsLoaded) showDuplicates();
  requestAnimationFrame(() => fitNames($(`panel-${name}`)));
}

function currentTab() {
  return TABS.find((t) => !$(`panel-${t}`).hidden);
}

async function showDuplicates() {
  state.dupsLoaded = true;
  state.dupsLoaded = await loadDuplicates(searchById, remember);
  fitNames($("dups"));
}

// -- the Collection tab and group members: pages of tiles ---------------------------

async function loadPage(grid, pager, statusEl, url, offset) {
  setStatus(statusEl, "Loading images…", { busy: true });
  try {
    // the page's thumbnails come inside the listing: one answer, every tile at once
    const embed = (window.devicePixelRatio || 1) > 1 ? "thumbnail-2x" : "thumbnail";
    const page = await api(`${url}${url.includes("?") ? "&" : "?"}offset=${offset}&limit=${PAGE}` +
      `&embed=${embed}&${held()}`);
    remember(page.items.map((it) => it.id), page.items.map((it) => it.relpath));
    grid.replaceChildren(...page.items.map((item) => tile(item, searchById)));
    fitNames(grid);
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
    if (err.status === 409) {  // ids or groups from before a re-index: reloaded with the new ones
      setStatus(statusEl, "The collection changed: reloading…", { busy: true });
      state.follow.check();
      return null;
    }
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
    state.groupsId = res.groups_id;
    remember(res.groups.map((g) => g.representative.id), res.groups.map((g) => g.representative.relpath));
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
  img.src = `/api/images/${g.representative.id}?${held()}`;
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
  return loadPage($("members"), $("members-pager"), $("groups-status"),
    `/api/images?group=${state.group}&groups_id=${encodeURIComponent(state.groupsId)}`, offset);
}

// -- following the collection ------------------------------------------------------

// A new version: the ids on the page are the old version's. Reload every tab that holds
// ids, and run the person's search again on the photo they meant (found by its path).
async function onVersion(old, info, names) {
  showHeader(info);
  state.groupsLoaded = state.mapLoaded = state.dupsLoaded = false;
  state.mapToken = (state.mapToken || 0) + 1;
  state.groupsId = null;
  for (const id of ["browse", "groups", "members", "dups", "selection-grid"]) $(id).replaceChildren();
  $("members-title").hidden = true;
  for (const id of ["browse-pager", "members-pager"]) $(id).hidden = true;
  if (state.map && state.map.selection) state.map.select(null);
  const tab = currentTab();
  if (tab !== "search") showTab(tab);
  const id = idFromHash();
  if (id !== null) await searchByPath(names.get(id), id);
  else if (state.upload) searchUpload(state.upload);
}

// New groups on the same version: the group cards and the map's colours.
async function onGroups(info) {
  state.info = info;
  state.groupsLoaded = false;
  state.mapLoaded = false;
  state.mapToken = (state.mapToken || 0) + 1;
  $("members").replaceChildren();
  $("members-title").hidden = true;
  $("members-pager").hidden = true;
  const tab = currentTab();
  if (tab === "groups" || tab === "map") showTab(tab);
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
  $("dups-form").addEventListener("submit", (e) => { e.preventDefault(); showDuplicates(); });
  let fitting = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(fitting);
    fitting = requestAnimationFrame(() => fitNames($(`panel-${currentTab()}`)));
  });
  window.addEventListener("popstate", fromHash);
}

function showHeader(info) {
  state.info = info;
  $("collection-info").textContent =
    `${info.collection} · ${info.n_images.toLocaleString()} images · version ${info.version}`;
  document.title = `imsim · ${info.collection}`;
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
  showHeader(info);
  initMapTab({ state, perf, searchById, held, remember });
  state.follow = new Follower(info, { onVersion, onGroups });
  onAnswer((body) => state.follow.saw(body));
  $("version-note").querySelector(".close").addEventListener("click", () => { $("version-note").hidden = true; });
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
