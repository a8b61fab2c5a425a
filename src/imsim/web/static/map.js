// The latent map: every image a point on a canvas, coloured by group (or label).
// Hover shows the thumbnail and the full name, a click searches for that image, the
// wheel and a drag zoom and pan, Shift+drag (or the Select button) selects a box of
// points to copy or download as a list. Fast for 50,000 points: the points are drawn
// into an ImageData from typed arrays, and hover picks through a uniform grid.

export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173",
  "#3182bd", "#e6550d", "#31a354", "#756bb1",
];
const NONE = "#9a9aa0"; // points with no group or label

export function colorOf(c) {
  if (c < 0) return NONE;
  if (c < PALETTE.length) return PALETTE[c];
  return `hsl(${(c * 137.508) % 360}, 60%, 45%)`; // golden-angle hues beyond the palette
}

function rgba32(css) {
  // any CSS colour -> 0xAABBGGRR (ImageData's byte order on little-endian machines)
  const c = document.createElement("canvas").getContext("2d");
  c.fillStyle = css;
  c.fillRect(0, 0, 1, 1);
  const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
  return (255 << 24 | b << 16 | g << 8 | r) >>> 0;
}

function faded(c32) {
  // the colour 65% of the way to white: points outside a selection
  const ch = (s) => Math.round(((c32 >>> s) & 255) * 0.35 + 255 * 0.65);
  return (255 << 24 | ch(16) << 16 | ch(8) << 8 | ch(0)) >>> 0;
}

const DRAG_PX = 4; // a press that moves less than this is a click

export class LatentMap {
  constructor(root, { onPick, thumbUrl, onSelect }) {
    this.root = root;
    this.onPick = onPick;
    this.thumbUrl = thumbUrl;
    this.onSelect = onSelect;
    this.base = root.querySelector(".map-base");
    this.over = root.querySelector(".map-over");
    this.tip = root.querySelector(".map-tip");
    this.selecting = false; // the Select button's mode (touch screens have no Shift)
    this.selection = null; // Int32Array of selected ids, ascending
    this.hover = -1;
    this.perf = { firstDraw: null, hover: [], hoverFrame: [] };
    this.queued = false;
  }

  // Load the points (the JSON of /api/map/points) and draw them.
  setData(data) {
    const n = data.n;
    this.n = n;
    this.data = data;
    this.u = new Float32Array(n);
    this.v = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      this.u[i] = data.x[i] / 65535;
      this.v[i] = 1 - data.y[i] / 65535; // y grows upwards on the map
    }
    let u0 = 1, u1 = 0, v0 = 1, v1 = 0;
    for (let i = 0; i < n; i++) {
      u0 = Math.min(u0, this.u[i]); u1 = Math.max(u1, this.u[i]);
      v0 = Math.min(v0, this.v[i]); v1 = Math.max(v1, this.v[i]);
    }
    this.bounds = n ? { u0, u1, v0, v1 } : { u0: 0, u1: 1, v0: 0, v1: 1 };
    this.color = Int32Array.from(data.color);
    const ncol = data.legend.length;
    this.colors = new Uint32Array(ncol + 1);
    this.fadedColors = new Uint32Array(ncol + 1);
    for (let c = -1; c < ncol; c++) {
      this.colors[c + 1] = rgba32(colorOf(c));
      this.fadedColors[c + 1] = faded(this.colors[c + 1]);
    }
    this.buildGrid();
    this.selected = new Uint8Array(n);
    this.wire();
    this.resize();
    this.reset();
  }

  // A uniform grid over [0, 1]^2 with about 4 points a cell, stored as CSR arrays.
  buildGrid() {
    const n = this.n;
    const g = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
    const cell = new Int32Array(n);
    const start = new Int32Array(g * g + 1);
    for (let i = 0; i < n; i++) {
      const cx = Math.min(g - 1, Math.floor(this.u[i] * g));
      const cy = Math.min(g - 1, Math.floor(this.v[i] * g));
      cell[i] = cy * g + cx;
      start[cell[i] + 1]++;
    }
    for (let k = 0; k < g * g; k++) start[k + 1] += start[k];
    const fill = start.slice(0, g * g);
    const items = new Int32Array(n);
    for (let i = 0; i < n; i++) items[fill[cell[i]]++] = i;
    this.grid = { g, start, items };
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(100, this.root.clientWidth);
    const h = Math.round(Math.min(w * 0.75, Math.max(300, window.innerHeight * 0.7)));
    for (const c of [this.base, this.over]) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    const old = this.w ? { w: this.w, h: this.h } : null;
    this.w = w;
    this.h = h;
    this.dpr = dpr;
    if (old && this.scale) {
      this.tx += (w - old.w) / 2;
      this.ty += (h - old.h) / 2;
    }
    this.fit = this.fitScale();
    this.redraw();
  }

  // The scale that shows every point with a margin of 16 px (both axes share it).
  fitScale() {
    const { u0, u1, v0, v1 } = this.bounds;
    return Math.min((this.w - 32) / Math.max(u1 - u0, 1e-6), (this.h - 32) / Math.max(v1 - v0, 1e-6));
  }

  reset() {
    const { u0, u1, v0, v1 } = this.bounds;
    this.scale = this.fit;
    this.tx = this.w / 2 - this.scale * (u0 + u1) / 2;
    this.ty = this.h / 2 - this.scale * (v0 + v1) / 2;
    this.redraw();
  }

  zoom(factor, cx = this.w / 2, cy = this.h / 2) {
    const s = Math.min(Math.max(this.scale * factor, this.fit * 0.5), this.fit * 1000);
    const f = s / this.scale;
    this.tx = cx - (cx - this.tx) * f;
    this.ty = cy - (cy - this.ty) * f;
    this.scale = s;
    this.redraw();
  }

  redraw() {
    if (this.queued || !this.u) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.draw();
    });
  }

  pointSize() {
    const n = this.n;
    const base = n > 20000 ? 2 : n > 5000 ? 3 : n > 500 ? 5 : 7;
    const zoom = this.scale / this.fit;
    return Math.max(1, Math.round(Math.min(base * Math.sqrt(zoom), base * 4) * this.dpr));
  }

  // All the points, into one ImageData: the selected ones (if any) drawn last, in full colour.
  draw() {
    const ctx = this.base.getContext("2d");
    const W = this.base.width;
    const H = this.base.height;
    const img = ctx.createImageData(W, H);
    const px = new Uint32Array(img.data.buffer);
    px.fill(0xffffffff); // white, as transparent images are everywhere on this page
    const s = this.pointSize();
    const half = s >> 1;
    const k = this.scale * this.dpr;
    const ox = this.tx * this.dpr - half;
    const oy = this.ty * this.dpr - half;
    const { u, v, color } = this;
    const sel = this.selection ? this.selected : null;
    const put = (i, c32) => {
      const x0 = Math.round(u[i] * k + ox);
      const y0 = Math.round(v[i] * k + oy);
      if (x0 + s <= 0 || y0 + s <= 0 || x0 >= W || y0 >= H) return;
      const xa = Math.max(0, x0), xb = Math.min(W, x0 + s);
      for (let y = Math.max(0, y0), yb = Math.min(H, y0 + s); y < yb; y++) {
        px.fill(c32, y * W + xa, y * W + xb);
      }
    };
    for (let i = 0; i < this.n; i++) {
      if (sel && sel[i]) continue;
      put(i, (sel ? this.fadedColors : this.colors)[color[i] + 1]);
    }
    if (sel) for (const i of this.selection) put(i, this.colors[color[i] + 1]);
    ctx.putImageData(img, 0, 0);
    if (this.perf.firstDraw === null) {
      this.perf.firstDraw = performance.now();
      this.root.dataset.drawn = "true";
    }
    this.drawOverlay();
  }

  drawOverlay() {
    const ctx = this.over.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.w, this.h);
    if (this.hover >= 0) {
      const [x, y] = this.toScreen(this.hover);
      const r = Math.max(6, this.pointSize() / this.dpr + 3);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "#fff";
      ctx.beginPath();
      ctx.arc(x, y, r + 1.5, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#111";
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.box) {
      const { x0, y0, x1, y1 } = this.box;
      ctx.fillStyle = "rgba(47, 111, 219, 0.12)";
      ctx.strokeStyle = "#2f6fdb";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 3]);
      ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
      ctx.setLineDash([]);
    }
  }

  toScreen(i) {
    return [this.u[i] * this.scale + this.tx, this.v[i] * this.scale + this.ty];
  }

  // The point nearest to screen position (x, y) within a few pixels, or -1: only the
  // grid cells that the pick radius touches are searched.
  pick(x, y) {
    const r = Math.max(6, this.pointSize() / this.dpr);
    const u = (x - this.tx) / this.scale;
    const v = (y - this.ty) / this.scale;
    const ru = r / this.scale;
    const { g, start, items } = this.grid;
    const c0 = Math.max(0, Math.floor((u - ru) * g)), c1 = Math.min(g - 1, Math.floor((u + ru) * g));
    const r0 = Math.max(0, Math.floor((v - ru) * g)), r1 = Math.min(g - 1, Math.floor((v + ru) * g));
    let best = -1;
    let bestD = ru * ru;
    for (let cy = r0; cy <= r1; cy++) {
      for (let cx = c0; cx <= c1; cx++) {
        const k = cy * g + cx;
        for (let j = start[k]; j < start[k + 1]; j++) {
          const i = items[j];
          const du = this.u[i] - u, dv = this.v[i] - v;
          const d = du * du + dv * dv;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }

  showTip(i, x, y) {
    const tip = this.tip;
    if (i < 0) { tip.hidden = true; return; }
    const img = tip.querySelector("img");
    const url = this.thumbUrl(i);
    if (img.getAttribute("src") !== url) img.src = url;
    img.alt = this.data.relpaths[i];
    tip.querySelector(".tip-name").textContent = this.data.relpaths[i];
    const c = this.color[i];
    tip.querySelector(".tip-group").textContent = c >= 0 ? this.data.legend[c].name : "";
    tip.dataset.id = i;
    tip.hidden = false;
    const left = x + 16 + tip.offsetWidth > this.w ? x - 16 - tip.offsetWidth : x + 16;
    const top = Math.min(Math.max(0, y - tip.offsetHeight / 2), this.h - tip.offsetHeight);
    tip.style.transform = `translate(${Math.max(0, left)}px, ${Math.max(0, top)}px)`;
  }

  setHover(i, x, y) {
    this.hover = i;
    this.showTip(i, x, y);
    this.drawOverlay();
    this.over.style.cursor = i >= 0 ? "pointer" : this.selecting ? "crosshair" : "grab";
  }

  select(ids) {
    this.selected.fill(0);
    if (ids && ids.length) {
      this.selection = Int32Array.from(ids).sort();
      for (const i of this.selection) this.selected[i] = 1;
    } else {
      this.selection = null;
    }
    this.redraw();
    this.onSelect(this.selection);
  }

  selectBox({ x0, y0, x1, y1 }) {
    const [xa, xb] = [Math.min(x0, x1), Math.max(x0, x1)];
    const [ya, yb] = [Math.min(y0, y1), Math.max(y0, y1)];
    const ids = [];
    for (let i = 0; i < this.n; i++) {
      const x = this.u[i] * this.scale + this.tx;
      const y = this.v[i] * this.scale + this.ty;
      if (x >= xa && x <= xb && y >= ya && y <= yb) ids.push(i);
    }
    this.select(ids);
  }

  selectColor(c) {
    const ids = [];
    for (let i = 0; i < this.n; i++) if (this.color[i] === c) ids.push(i);
    this.select(ids);
  }

  wire() {
    if (this.wired) return;
    this.wired = true;
    const el = this.over;
    const at = (e) => {
      const r = el.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    let press = null;
    el.addEventListener("pointerdown", (e) => {
      const [x, y] = at(e);
      el.setPointerCapture(e.pointerId);
      press = { x, y, tx: this.tx, ty: this.ty, moved: false, box: e.shiftKey || this.selecting };
    });
    el.addEventListener("pointermove", (e) => {
      const [x, y] = at(e);
      if (press) {
        if (Math.abs(x - press.x) + Math.abs(y - press.y) > DRAG_PX) press.moved = true;
        if (!press.moved) return;
        if (press.box) {
          this.box = { x0: press.x, y0: press.y, x1: x, y1: y };
          this.drawOverlay();
        } else {
          this.tx = press.tx + x - press.x;
          this.ty = press.ty + y - press.y;
          this.tip.hidden = true;
          this.redraw();
        }
        return;
      }
      const i = this.pick(x, y);
      if (i !== this.hover || i >= 0) this.setHover(i, x, y);
      // from the input event to the ring drawn and the tip filled, and to the next frame
      const t = e.timeStamp;
      this.perf.hover.push(performance.now() - t);
      requestAnimationFrame(() => this.perf.hoverFrame.push(performance.now() - t));
      if (this.perf.hover.length > 1000) { this.perf.hover.shift(); this.perf.hoverFrame.shift(); }
    });
    el.addEventListener("pointerup", (e) => {
      const [x, y] = at(e);
      const p = press;
      press = null;
      if (!p) return;
      if (p.box && p.moved) {
        this.selectBox(this.box);
        this.box = null;
        this.drawOverlay();
      } else if (!p.moved) {
        const i = this.pick(x, y);
        if (i >= 0) this.onPick(i);
      }
    });
    el.addEventListener("pointerleave", () => { if (!press) this.setHover(-1, 0, 0); });
    el.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [x, y] = at(e);
      this.tip.hidden = true;
      this.zoom(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), x, y);
    }, { passive: false });
    new ResizeObserver(() => {
      // a hidden tab has no width: keep the view until it shows again
      if (this.root.clientWidth > 0 && Math.abs(this.root.clientWidth - this.w) > 1) this.resize();
    }).observe(this.root);
  }
}
