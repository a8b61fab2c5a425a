// The text box of the Search tab: GET /api/search/text?q=..., the results as tiles
// (click one: search by that image). A collection without a text tower says so.
import { $, api, explain, setStatus, tile } from "./ui.js";

const form = $("text-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("text-q").value.trim();
  const status = $("text-status");
  const out = $("text-results");
  if (!q) return;
  setStatus(status, `Looking for “${q}”…`, { busy: true });
  out.replaceChildren();
  try {
    const n = $("n").value || 10;
    const r = await api(`/api/search/text?q=${encodeURIComponent(q)}&n=${encodeURIComponent(n)}`);
    setStatus(status, `${r.results.length} results for “${r.text}” (${r.elapsed_ms.toFixed(0)} ms)`);
    const pick = (id) => { location.hash = `#id=${id}`; };
    out.replaceChildren(...r.results.map((h) => tile(h, pick, { rank: h.rank, metric: r.metric })));
  } catch (err) {
    setStatus(status, err.status === 422 ? err.detail : explain(err, { what: "The text search" }),
              { error: true });
  }
});
