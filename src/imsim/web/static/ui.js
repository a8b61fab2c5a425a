// Shared pieces of the page: talking to the API, messages for people, status lines
// with a spinner, and the image tiles. Text from the server (file names) only ever
// goes into textContent / attributes, never innerHTML.

export const $ = (id) => document.getElementById(id);

export class ApiError extends Error {
  constructor(status, detail, body = null) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body; // the JSON error's fields (a 409 names the versions)
  }
}

// Called with every successful answer that names the collection version its ids
// belong to (app.js notices a re-index there).
let answerHook = null;
export function onAnswer(fn) { answerHook = fn; }

export async function api(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new ApiError(0, "no answer");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.detail) || response.statusText || "no details", body);
  }
  if (answerHook && body && typeof body.version === "string") answerHook(body);
  return body;
}

export function formatBytes(b) {
  if (b < 1024) return `${b} byte${b === 1 ? "" : "s"}`;
  return b >= 1048576 ? `${(b / 1048576).toFixed(1)} MB` : `${Math.round(b / 1024)} KB`;
}

const UNREACHABLE = "The server cannot be reached: is `imsim serve` still running? " +
  "Start it again, then reload this page.";

// What went wrong and what to do, in words: never a bare status code.
export function explain(err, { what = "That", info = null } = {}) {
  if (!(err instanceof ApiError)) return `${what} failed in this page: ${err.message}. Reload the page and try again.`;
  const d = err.detail.replace(/[.\s]+$/, "");
  switch (err.status) {
    case 0: return UNREACHABLE;
    case 413: {
      // the error's fields (imsim/web/_errors.py), not its wording, say which limit it passed
      const b = err.body || {};
      if (b.error === "too_large" && Number.isFinite(b.limit) && Number.isFinite(b.size)) {
        if (b.unit === "bytes" && b.option === "--max-upload-mb") {
          return tooLarge(b.size, b.limit, info, { atLeast: b.at_least });
        }
        if (b.unit === "pixels") return tooManyPixels(b.size, b.limit, b.option);
      }
      return `This image is refused: ${d}. Try a smaller image.`;
    }
    case 415: return `This file is not an image the server can read (${d}). ` +
      "Use a JPEG, PNG, WebP, BMP, GIF or TIFF file.";
    case 404: return `${sentence(d)} The collection may have changed: reload the page.`;
    case 422: return `The server did not accept the request: ${d}.`;
    case 500: return `The server failed while answering (${d}). Its console says more; try again.`;
    case 501: return sentence(d);
    default: return `${what} failed: the server answered “${d}”. Try again, or reload the page.`;
  }
}

// "no such thing" -> "No such thing."
export function sentence(text) {
  const t = text.replace(/[.\s]+$/, "");
  return `${t.charAt(0).toUpperCase()}${t.slice(1)}.`;
}

export function tooLarge(size, limit, info, { atLeast = false } = {}) {
  const mb = Math.max(1, Math.ceil((size / 1048576) * 1.2));
  const what = `This image is too large to upload: ${atLeast ? "over " : ""}${formatBytes(size)}, and this ` +
    `server accepts up to ${formatBytes(limit)}.`;
  if (info && !info.collection_path) { // a server on another machine: its folder is not ours to name
    return `${what} Ask whoever runs it to restart it with a higher limit (\`--max-upload-mb ${mb}\`).`;
  }
  const coll = info ? ` -c ${shellWord(info.collection_path)}` : "";
  return `${what} Restart it with a higher limit: \`imsim serve${coll} --max-upload-mb ${mb}\`.`;
}

export function tooManyPixels(pixels, limit, option) {
  const n = (x) => x.toLocaleString("en-US");
  const raise = option ? ` or restart the server with a higher \`${option}\`` : "";
  return `This image is too large to decode: ${n(pixels)} pixels, and this server decodes images of up ` +
    `to ${n(limit)} pixels. Try a smaller image${raise}.`;
}

// A path as one word of a POSIX shell: quoted only when it needs to be.
export function shellWord(text) {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\"'\"'")}'`;
}

// A status line: plain text, an error (role=alert), or busy (a spinner before the text).
// `backquoted` parts are commands: shown as code, never broken across lines.
export function setStatus(el, text, { error = false, busy = false } = {}) {
  el.replaceChildren(...text.split("`").map((part, k) => {
    if (k % 2 === 0) return document.createTextNode(part);
    const code = document.createElement("code");
    code.textContent = part;
    return code;
  }));
  el.classList.toggle("error", error);
  el.classList.toggle("busy", busy);
  if (error) el.setAttribute("role", "alert"); else el.removeAttribute("role");
}

export function formatDistance(d) {
  if (d === 0) return "0";
  return Math.abs(d) >= 1000 || Math.abs(d) < 0.001 ? d.toExponential(2) : d.toPrecision(3);
}

// The distance scale: the bar grows with the distance and is full at twice the
// typical distance from an image to its nearest neighbour; the mark is that typical
// distance. Under the mark: as close as neighbours usually are.
export function distanceBar(distance, typical, metric) {
  const box = document.createElement("div");
  box.className = "dist";
  const num = document.createElement("span");
  num.className = "distance";
  num.textContent = formatDistance(distance);
  const what = metric === "cosine" ? "cosine distance (1 − cosine similarity)" : `${metric} distance`;
  let title = `${what} between latent vectors: ${distance.toPrecision(4)}`;
  box.append(num);
  if (typical) {
    const ratio = distance / typical;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.className = ratio <= 1 ? "fill near" : ratio <= 1.6 ? "fill mid" : "fill far";
    fill.style.width = `${Math.min(ratio / 2, 1) * 100}%`;
    bar.append(fill);
    const rel = document.createElement("span");
    rel.className = "ratio";
    rel.textContent = `${ratio < 10 ? ratio.toFixed(1) : Math.round(ratio)}×`;
    box.append(bar, rel);
    title += ` — ${ratio.toFixed(2)}× the typical distance from an image to its nearest neighbour ` +
      `in this collection (${formatDistance(typical)})`;
  }
  box.title = title;
  return box;
}

export function thumbImg(item) {
  const img = document.createElement("img");
  img.loading = "lazy";
  img.decoding = "async";
  img.alt = item.relpath;
  if (item.thumbnail_data) {
    img.loading = "eager"; // already here, in the listing's answer
    img.src = item.thumbnail_data;
  } else {
    const url = item.thumbnail_url || `/api/images/${item.id}`;
    img.src = url;
    // a small picture with transparency comes as its own file (sharp at any scale)
    if (!url.includes("size=original")) img.srcset = `${url} 1x, ${url}${url.includes("?") ? "&" : "?"}size=thumbnail-2x 2x`;
  }
  img.addEventListener("load", () => {
    // tiny images (digits, icons) stay crisp when scaled up
    if (Math.max(img.naturalWidth, img.naturalHeight) < 64) img.classList.add("pixelated");
  });
  return img;
}

// One image tile: the thumbnail (click: search for it), the full name on hover, and for
// a result its rank and distance on the collection's scale.
export function tile(item, onPick, { rank = null, typical = null, metric = null } = {}) {
  const fig = document.createElement("figure");
  fig.className = "tile";
  fig.dataset.id = item.id;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "thumb";
  button.title = `Find the images most like ${item.relpath}`;
  button.append(thumbImg(item));
  button.addEventListener("click", () => onPick(item.id));
  const cap = document.createElement("figcaption");
  if (rank !== null) {
    const top = document.createElement("div");
    top.className = "score";
    const r = document.createElement("span");
    r.className = "rank";
    r.textContent = `#${rank}`;
    top.append(r, distanceBar(item.distance, typical, metric));
    cap.append(top);
  }
  if (item.verified || item.same_layout) { // a verified search's answer for this image
    const mark = document.createElement("span");
    mark.className = item.verified ? "match match-picture" : "match match-layout";
    mark.textContent = item.verified ? "same picture" : "same layout";
    mark.title = item.verified
      ? "Another version of the query's picture: local features agree on one crop, scale, " +
        "rotation or flip, and the aligned pixels agree up to exposure"
      : "Local features agree on one transform, but the pixels differ: another light or " +
        "rendering of the scene, or a drawing of the same shape";
    cap.append(mark);
  }
  const name = document.createElement("a");
  name.className = "name";
  name.href = `/api/images/${item.id}?size=original`;
  name.target = "_blank";
  name.rel = "noopener";
  name.textContent = item.relpath; // shortened in the middle to fit by fitNames()
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

// Names that do not fit their tile are shortened in the middle, so the file name stays:
// "16x16/actions/application-exit.png" -> "16x16/…/application-exit.png". The short form is
// shown by CSS (data-short, a ::before; on two lines at most, broken after a "/"); the
// element's text stays the full path, shown
// on hover and focus and read by the tests. Run after a grid is drawn and on resize.
let measure = null;
export function fitNames(root) {
  const names = root.querySelectorAll(".tile .name");
  if (!names.length) return;
  const room = names[0].clientWidth;
  if (!room) return; // a hidden tab: fitted when shown
  measure = measure || document.createElement("canvas").getContext("2d");
  measure.font = getComputedStyle(names[0].parentElement).font; // a shortened name's own is 0 px
  const em = parseFloat(getComputedStyle(names[0].parentElement).fontSize) || 13;
  const fits = (t) => measure.measureText(t).width <= room;
  // a shortened name may take two lines, broken after a "/" (a zero-width space there)
  // or a hyphen: the whole file name rather than one cut in its middle
  const fits2 = (t) => measure.measureText(t).width <= 2 * room - 2 * em;
  for (const el of names) {
    const short = shortName(el.textContent, fits, fits2).replace(/\//g, "/\u200b");
    const cut = short.replace(/\u200b/g, "") !== el.textContent;
    el.classList.toggle("shortened", cut);
    if (cut) el.dataset.short = short; else delete el.dataset.short;
  }
}

export function shortName(path, fits, fitsShort = fits) {
  if (fits(path)) return path;
  const parts = path.split("/");
  const file = parts.pop();
  const tries = [];
  // keep as many leading folders as fit, then the file name
  for (let k = parts.length - 1; k >= 1; k--) tries.push(`${parts.slice(0, k).join("/")}/…/${file}`);
  if (parts.length) tries.push(`…/${file}`);
  for (const t of tries) if (fitsShort(t)) return t;
  // the file name alone is too long: cut its middle, keep its end (the extension)
  for (let keep = file.length - 1; keep > 2; keep--) {
    const head = Math.ceil(keep / 2);
    const t = `${file.slice(0, head)}…${file.slice(file.length - (keep - head))}`;
    if (fits(t)) return t;
  }
  return `…${file.slice(-3)}`;
}
