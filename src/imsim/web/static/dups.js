// The Duplicates tab: GET /api/duplicates, each group of duplicates as a row of
// tiles under its heading. A group may say how alike its images are ("tier": identical
// files, the same pixels, near, or mirrored: a flip of one picture; "similarity": the lowest pair's, 1.0 for identical):
// shown as a badge when the server gives it, left out when it does not.
import { $, api, explain, formatDistance, setStatus, tile } from "./ui.js";

const MAX_DUP_GROUPS = 200; // duplicate groups drawn at once
const TIERS = {
  identical: "identical files",
  "same pixels": "same pixels, other files",
  near: "near-duplicates",
  mirrored: "mirror images of one picture (a flip may be a different picture: check before removing)",
};

// The badge's text: "identical", "same pixels", "near · 0.93", "mirrored · 0.95"; null
// without a tier.
export function tierText(g) {
  if (typeof g.tier !== "string") return null;
  const scored = g.tier === "near" || g.tier === "mirrored";
  const sim = typeof g.similarity === "number" && scored ? ` · ${g.similarity.toFixed(2)}` : "";
  return `${g.tier}${sim}`;
}

export function dupGroup(g, k, onPick) {
  const box = document.createElement("div");
  box.className = "dup-group";
  const h = document.createElement("h3");
  h.textContent = `${k + 1}. ${g.ids.length} images`;
  const badge = tierText(g);
  if (badge) {
    const b = document.createElement("span");
    b.className = `tier tier-${g.tier.replace(/\s+/g, "-")}`;
    b.textContent = badge;
    const what = TIERS[g.tier] || g.tier;
    b.title = typeof g.similarity === "number"
      ? `${what}: the least similar two images here are ${(g.similarity * 100).toFixed(1)}% alike`
      : what;
    h.append(" ", b);
  }
  const grid = document.createElement("div");
  grid.className = "grid";
  grid.append(...g.ids.map((id, j) => tile({ id, relpath: g.relpaths[j] }, onPick)));
  box.append(h, grid);
  return box;
}

export async function loadDuplicates(onPick, remember) {
  const t = $("dups-threshold").value;
  setStatus($("dups-status"), "Looking for duplicates…", { busy: true });
  $("dups").replaceChildren();
  try {
    const res = await api(`/api/duplicates${t !== "" ? `?threshold=${encodeURIComponent(t)}` : ""}`);
    $("dups-threshold").value = String(Number(res.threshold.toPrecision(4)));
    const groups = res.groups;
    for (const g of groups) remember(g.ids, g.relpaths);
    const n = groups.reduce((s, g) => s + g.ids.length, 0);
    const how = res.verified === false
      ? `images at ${res.metric} distance ${formatDistance(res.threshold)} or less from each other`
      : `candidates within ${res.metric} distance ${formatDistance(res.threshold)}, each pair ` +
        "kept only when its local features agree on one crop, scale or flip and its pixels agree";
    setStatus($("dups-status"), groups.length
      ? `${groups.length.toLocaleString()} group${groups.length === 1 ? "" : "s"} of duplicates ` +
        `(${n.toLocaleString()} images): ${how}. Click one to see its neighbours.`
      : `No duplicates: ${res.checked ? `none of the ${res.checked.toLocaleString()} candidate pairs ` +
        `within ${res.metric} distance ${formatDistance(res.threshold)} shows one picture` :
        `no two images are within ${res.metric} distance ${formatDistance(res.threshold)}`}. ` +
        "Raise the distance to check looser candidates.");
    $("dups").replaceChildren(...groups.slice(0, MAX_DUP_GROUPS).map((g, k) => dupGroup(g, k, onPick)));
    if (groups.length > MAX_DUP_GROUPS) {
      const more = document.createElement("p");
      more.className = "muted";
      more.textContent = `…and ${groups.length - MAX_DUP_GROUPS} more groups: lower the distance, or ` +
        "list them all with `imsim duplicates`.";
      $("dups").append(more);
    }
    return true;
  } catch (err) {
    setStatus($("dups-status"), explain(err, { what: "Finding duplicates" }), { error: true });
    return false;
  }
}
