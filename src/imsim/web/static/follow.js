// Following the collection while the page is open. Image ids belong to one version of
// the collection: `imsim index` makes a new one where ids may name other photos, and
// `imsim groups` writes groups whose numbers mean other images. Answers say which
// version (and groups) they come from; the page asks /api/health every few seconds
// (and when it gets the focus back), and on a change reloads its ids, says so in a
// note, and lets app.js run the person's action again on the right photo (found again
// by its path: GET /api/lookup).
import { $, api } from "./ui.js";

const POLL_MS = 5000; // between two looks at /api/health (window.imsimPollMs in tests)

export class Follower {
  // info: the health answer the page started with; onVersion(old, info) and
  // onGroups(info) are awaited when the collection or its groups changed.
  constructor(info, { onVersion, onGroups }) {
    this.info = info;
    this.onVersion = onVersion;
    this.onGroups = onGroups;
    this.busy = null; // the check in progress: one at a time
    this.names = new Map(); // id -> relpath of the ids this page holds (this version)
    const ms = window.imsimPollMs || POLL_MS;
    setInterval(() => { if (!document.hidden) this.check(); }, ms);
    window.addEventListener("focus", () => this.check());
    document.addEventListener("visibilitychange", () => { if (!document.hidden) this.check(); });
  }

  // Paths of ids shown on the page, to find the photos again in a new version.
  remember(ids, relpaths) {
    for (let k = 0; k < ids.length; k++) this.names.set(ids[k], relpaths[k]);
  }

  // An answer named this version (or groups): see whether the page is behind.
  saw(body) {
    if (body.version !== this.info.version ||
        ("groups_id" in body && body.groups_id && body.groups_id !== this.info.groups_id)) this.check();
  }

  // Ask the server what it serves now; adopt it. Resolves to true when it changed.
  check() {
    if (!this.busy) this.busy = this.adopt().finally(() => { this.busy = null; });
    return this.busy;
  }

  async adopt() {
    let info;
    try {
      info = await api("/api/health");
    } catch (err) {
      return false; // the server is away: the next look tries again
    }
    const old = this.info;
    if (info.version !== old.version) {
      this.info = info;
      const names = this.names;
      this.names = new Map();
      note(`Collection updated to version ${info.version} (${info.n_images.toLocaleString()} images, ` +
        `was ${old.version}): ids, groups and the map were reloaded.`);
      await this.onVersion(old, info, names);
      return true;
    }
    if (info.groups_id !== old.groups_id) {
      this.info = info;
      note(info.groups_id ? "Groups updated (imsim groups ran again): the groups and the map's " +
        "colours were reloaded." : "The groups file was removed or replaced: the groups and the map's colours were " +
        "reloaded.");
      await this.onGroups(info);
      return true;
    }
    return false;
  }

  // The id that the photo at `relpath` has in the version served, or null when gone.
  async idOf(relpath) {
    try {
      const r = await api(`/api/lookup?relpath=${encodeURIComponent(relpath)}`);
      return r.version === this.info.version ? r.id : null;
    } catch (err) {
      if (err.status === 404) return null;
      throw err;
    }
  }
}

// The visible note at the top of the page (role=status: read out once).
function note(text) {
  const el = $("version-note");
  el.querySelector(".text").textContent = text;
  el.hidden = false;
}
