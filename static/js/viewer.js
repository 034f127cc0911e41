// The case page's image viewer: one canvas per series (its images x frames in
// order), with a side panel that follows the current image. No dependencies.
//
// Frames come as values (/images/<id>/frames/<n>/pixels: modality values such
// as Hounsfield units, or RGB) and are windowed here with the DICOM linear VOI
// function, as the server renders its PNGs. The Grad-CAM map is the raw 16-bit
// PNG, coloured with the server's colour map. Keys used by review.js (digits,
// Enter, N) are left alone.
(() => {
  "use strict";

  // matplotlib's "turbo" as 256 RGB triples: the map oncocore/saliency.py blends
  // with (tests/cases/test_viewer.py keeps the two equal).
  const TURBO = Uint8Array.from(
    [
      "30123b32154333184a341b51351e5836215f37246638276d392a733a2d793b2f803c32863d358b3e38913f3b973f3e9c",
      "4040a24143a74146ac4249b1424bb5434eba4451bf4454c34456c74559cb455ccf455ed34661d64664da4666dd4669e0",
      "466be3476ee64771e94773eb4776ee4778f0477bf2467df44680f64682f84685fa4687fb458afc458cfd448ffe4391fe",
      "4294ff4196ff4099ff3e9bfe3d9efe3ba0fd3aa3fc38a5fb37a8fa35abf833adf731aff52fb2f42eb4f22cb7f02ab9ee",
      "28bceb27bee925c0e723c3e422c5e220c7df1fc9dd1ecbda1ccdd81bd0d51ad2d21ad4d019d5cd18d7ca18d9c818dbc5",
      "18ddc218dec018e0bd19e2bb19e3b91ae4b61ce6b41de7b21fe9af20eaac22ebaa25eca727eea42aefa12cf09e2ff19b",
      "32f29835f39438f4913cf58e3ff68a43f78746f8844af8804ef97d52fa7a55fa7659fb735dfc6f61fc6c65fd6969fd66",
      "6dfe6271fe5f75fe5c79fe597dff5680ff5384ff5188ff4e8bff4b8fff4992ff4796fe4499fe429cfe409ffd3fa1fd3d",
      "a4fc3ca7fc3aa9fb39acfb38affa37b1f936b4f836b7f735b9f635bcf534bef434c1f334c3f134c6f034c8ef34cbed34",
      "cdec34d0ea34d2e935d4e735d7e535d9e436dbe236dde037dfdf37e1dd37e3db38e5d938e7d739e9d539ebd339ecd13a",
      "eecf3aefcd3af1cb3af2c93af4c73af5c53af6c33af7c13af8be39f9bc39faba39fbb838fbb637fcb336fcb136fdae35",
      "fdac34fea933fea732fea431fea130fe9e2ffe9b2dfe992cfe962bfe932afe9029fd8d27fd8a26fc8725fc8423fb8122",
      "fb7e21fa7b1ff9781ef9751df8721cf76f1af66c19f56918f46617f36315f26014f15d13f05b12ef5811ed5510ec530f",
      "eb500eea4e0de84b0ce7490ce5470be4450ae2430ae14109df3f08dd3d08dc3b07da3907d83706d63506d43305d23105",
      "d02f05ce2d04cc2b04ca2a04c82803c52603c32503c12302be2102bc2002b91e02b71d02b41b01b21a01af1801ac1701",
      "a91601a71401a41301a112019e10019b0f01980e01950d01920b018e0a018b09028808028507028106027e05027a0403",
    ].join("").match(/../g),
    (hex) => parseInt(hex, 16),
  );
  // Window presets, [center, width] (HU for CT), from the task registry (oncocore/tasks.py):
  // the page passes them with json_script, so the viewer and the server's renderer agree.
  const PRESETS = {};
  const PRESET_NAMES = {};
  const presetScript = document.getElementById("window-presets");
  for (const preset of presetScript ? JSON.parse(presetScript.textContent) : []) {
    PRESETS[preset.key] = [preset.center, preset.width];
    PRESET_NAMES[preset.key] = preset.label;
  }
  const ARRAYS = { uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, float32: Float32Array };
  const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const ZOOM_STEP = 1.25;
  const ZOOM_MIN = 0.25; // of the fitted size
  const ZOOM_MAX = 32;
  const CACHED_FRAMES = 64;
  const CACHE_BYTES = 256 * 1024 * 1024; // of frame values kept for scrolling back
  const PREFETCH = 2; // frames each side of the current one
  const WHEEL_STEP = 50; // pixels of trackpad scroll per slice
  const PREFS_KEY = "oncoportal.viewer";

  const prefs = (() => {
    try {
      return { overlay: false, opacity: 0.45, ...JSON.parse(sessionStorage.getItem(PREFS_KEY) || "{}") };
    } catch {
      return { overlay: false, opacity: 0.45 };
    }
  })();
  const savePrefs = () => {
    try {
      sessionStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
    } catch {
      // Private mode: preferences last for this page only.
    }
  };

  const clamp = (value, lo, hi) => Math.min(hi, Math.max(lo, value));
  const round = (value) => (Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10);

  // --- Loading --------------------------------------------------------------

  async function fetchValues(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const header = (name) => response.headers.get(name);
    const ArrayType = ARRAYS[header("X-Dtype")];
    if (!ArrayType) throw new Error(`unknown pixel type ${header("X-Dtype")}`);
    const buffer = await response.arrayBuffer();
    if (!LITTLE_ENDIAN && ArrayType.BYTES_PER_ELEMENT > 1) swapBytes(new Uint8Array(buffer), ArrayType.BYTES_PER_ELEMENT);
    return {
      rows: Number(header("X-Rows")),
      cols: Number(header("X-Columns")),
      samples: Number(header("X-Samples")),
      values: new ArrayType(buffer),
      center: Number(header("X-Window-Center")),
      width: Number(header("X-Window-Width")),
      invert: header("X-Monochrome1") === "1",
      min: Number(header("X-Value-Min")),
      max: Number(header("X-Value-Max")),
      approximate: false,
    };
  }

  function swapBytes(bytes, size) {
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  }

  async function decodePng(bytes) {
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  }

  // The 8-bit display PNG, when the values cannot be had: window/level is then approximate.
  async function fetchDisplayPng(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const image = await decodePng(new Uint8Array(await response.arrayBuffer()));
    const values = new Uint8Array(image.width * image.height * 3);
    for (let i = 0, j = 0; j < values.length; i += 4, j += 3) {
      values[j] = image.data[i];
      values[j + 1] = image.data[i + 1];
      values[j + 2] = image.data[i + 2];
    }
    const shown = { center: 128, width: 256, min: 0, max: 255 }; // the identity window
    return { rows: image.height, cols: image.width, samples: 3, values, invert: false, approximate: true, ...shown };
  }

  // A 16-bit grey PNG (what the worker writes) decoded exactly: 8-bit canvas
  // readback would lose the low byte. Returns colour-map indexes 0..255.
  async function decodeGrey16Png(bytes) {
    if (typeof DecompressionStream !== "function") throw new Error("no DecompressionStream");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const chunks = [];
    let width = 0;
    let height = 0;
    for (let pos = 8; pos + 8 <= bytes.length; ) {
      const length = view.getUint32(pos);
      const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
      if (type === "IHDR") {
        width = view.getUint32(pos + 8);
        height = view.getUint32(pos + 12);
        const [depth, colour, , , interlace] = bytes.subarray(pos + 16, pos + 21);
        if (depth !== 16 || colour !== 0 || interlace !== 0) throw new Error("not a 16-bit grey PNG");
      } else if (type === "IDAT") {
        chunks.push(bytes.subarray(pos + 8, pos + 8 + length));
      } else if (type === "IEND") {
        break;
      }
      pos += 12 + length;
    }
    const stream = new Blob(chunks).stream().pipeThrough(new DecompressionStream("deflate"));
    const raw = new Uint8Array(await new Response(stream).arrayBuffer());
    const stride = width * 2;
    if (raw.length < height * (stride + 1)) throw new Error("truncated PNG");
    const indexes = new Uint8Array(width * height);
    let previous = new Uint8Array(stride);
    let line = new Uint8Array(stride);
    for (let y = 0; y < height; y++) {
      const base = y * (stride + 1);
      const filter = raw[base];
      for (let x = 0; x < stride; x++) {
        const a = x >= 2 ? line[x - 2] : 0;
        const b = previous[x];
        const c = x >= 2 ? previous[x - 2] : 0;
        let v = raw[base + 1 + x];
        if (filter === 1) v += a;
        else if (filter === 2) v += b;
        else if (filter === 3) v += (a + b) >> 1;
        else if (filter === 4) {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        } else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
        line[x] = v & 255;
      }
      for (let x = 0; x < width; x++) {
        // The server colours rint(cam * 255); cam = value / 65535.
        indexes[y * width + x] = Math.round(((line[2 * x] << 8) | line[2 * x + 1]) / 257);
      }
      [previous, line] = [line, previous];
    }
    return { indexes, width, height };
  }

  // The Grad-CAM map as an opaque colour image, ready to draw with an alpha.
  async function fetchHeat(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    let map;
    try {
      map = await decodeGrey16Png(bytes);
    } catch {
      const image = await decodePng(bytes); // the browser's 8-bit reading of it
      const indexes = new Uint8Array(image.width * image.height);
      for (let i = 0; i < indexes.length; i++) indexes[i] = image.data[i * 4];
      map = { indexes, width: image.width, height: image.height };
    }
    const canvas = document.createElement("canvas");
    canvas.width = map.width;
    canvas.height = map.height;
    const ctx = canvas.getContext("2d");
    const out = ctx.createImageData(map.width, map.height);
    for (let i = 0, j = 0; i < map.indexes.length; i++, j += 4) {
      const k = map.indexes[i] * 3;
      out.data[j] = TURBO[k];
      out.data[j + 1] = TURBO[k + 1];
      out.data[j + 2] = TURBO[k + 2];
      out.data[j + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return canvas;
  }

  // --- Windowing ------------------------------------------------------------

  // PS3.3 C.11.2.1.2.1, as oncocore/imaging/render.py: values -> 0..255 (clamped and
  // rounded by Uint8ClampedArray), inverted for MONOCHROME1.
  function voi(center, width, invert) {
    if (width <= 1) {
      return (v) => ((v > center - 0.5) !== invert ? 255 : 0);
    }
    const low = center - 0.5 - (width - 1) / 2;
    const scale = 255 / (width - 1);
    return invert ? (v) => 255 - clamp((v - low) * scale, 0, 255) : (v) => (v - low) * scale;
  }

  function applyWindow(frame, center, width, out) {
    const { values, samples, min, max } = frame;
    const map = voi(center, width, frame.invert);
    const px = out.data;
    const n = frame.rows * frame.cols;
    const integer = !(values instanceof Float32Array) && Number.isFinite(min) && max - min < 1 << 20;
    if (integer) {
      // One lookup per value: a 2k x 2k CR redraws at drag speed.
      const lut = new Uint8ClampedArray(max - min + 1);
      for (let i = 0; i < lut.length; i++) lut[i] = map(min + i);
      if (samples === 1) {
        for (let i = 0, j = 0; i < n; i++, j += 4) {
          const g = lut[values[i] - min];
          px[j] = g;
          px[j + 1] = g;
          px[j + 2] = g;
          px[j + 3] = 255;
        }
      } else {
        for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += samples) {
          px[j] = lut[values[k] - min];
          px[j + 1] = lut[values[k + 1] - min];
          px[j + 2] = lut[values[k + 2] - min];
          px[j + 3] = 255;
        }
      }
      return;
    }
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += samples) {
      if (samples === 1) {
        const v = values[i];
        const g = Number.isNaN(v) ? 0 : map(v);
        px[j] = g;
        px[j + 1] = g;
        px[j + 2] = g;
      } else {
        px[j] = map(values[k]);
        px[j + 1] = map(values[k + 1]);
        px[j + 2] = map(values[k + 2]);
      }
      px[j + 3] = 255;
    }
  }

  // --- The viewer -----------------------------------------------------------

  class Viewer {
    constructor(root) {
      this.root = root;
      const data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
      this.images = data.images;
      this.stack = [];
      this.images.forEach((entry, image) => {
        for (let frame = 0; frame < entry.frames; frame++) this.stack.push({ image, frame });
      });
      const [startImage, startFrame] = data.start;
      this.index = Math.max(0, this.stack.findIndex((s) => s.image === startImage && s.frame === startFrame));
      this.q = (selector) => root.querySelector(selector);
      this.stage = this.q(".viewer-stage");
      this.canvas = this.q("[data-canvas]");
      this.ctx = this.canvas.getContext("2d");
      this.buffer = document.createElement("canvas"); // the windowed frame, one pixel per value
      this.bufferCtx = this.buffer.getContext("2d");
      this.articles = [...root.querySelectorAll(".viewer-image")];
      this.frames = new Map(); // "image:frame" -> Promise of values, least recently used first
      this.sizes = new Map(); // "image:frame" -> bytes, once loaded
      this.cacheBytes = 0;
      this.heats = new Map(); // saliency URL -> Promise of a colour canvas
      this.current = null; // values of the frame on screen
      this.heat = null; // its Grad-CAM colour image, when it has one
      this.window = null; // [center, width] chosen by the user; null: each frame's own
      this.preset = "default";
      this.zoom = 1;
      this.panX = 0; // CSS pixels
      this.panY = 0;
      this.overlay = Boolean(prefs.overlay);
      this.opacity = Number.isFinite(Number(prefs.opacity)) ? clamp(Number(prefs.opacity), 0, 1) : 0.45;
      this.headerOpen = Boolean(this.articles.find((a) => a.querySelector("details[open]")));
      this.loading = 0;
      this.wheel = 0;
      this.problem = "";
      this.bindControls();
      this.bindPointer();
      new ResizeObserver(() => this.resize()).observe(this.stage);
      this.resize();
      root.dataset.viewerReady = "";
      this.show(this.index);
    }

    get entry() {
      return this.images[this.stack[this.index].image];
    }

    // --- Controls

    bindControls() {
      this.presetButtons = [...this.root.querySelectorAll("[data-preset]")];
      for (const button of this.presetButtons) {
        button.addEventListener("click", () => this.setPreset(button.dataset.preset));
      }
      this.root.querySelector('[data-action="zoom-in"]').addEventListener("click", () => this.zoomBy(ZOOM_STEP));
      this.root.querySelector('[data-action="zoom-out"]').addEventListener("click", () => this.zoomBy(1 / ZOOM_STEP));
      this.root.querySelector('[data-action="reset"]').addEventListener("click", () => this.reset());
      this.overlayBox = this.q("[data-overlay]");
      this.opacityInput = this.q("[data-opacity]");
      this.opacityOutput = this.q("[data-opacity-value]");
      this.overlayBox.checked = this.overlay;
      this.opacityInput.value = String(Math.round(this.opacity * 100));
      this.overlayBox.addEventListener("change", () => this.setOverlay(this.overlayBox.checked));
      this.opacityInput.addEventListener("input", () => {
        this.opacity = Number(this.opacityInput.value) / 100;
        prefs.opacity = this.opacity;
        savePrefs();
        // Moving the slider means the reader wants to see the map.
        if (!this.overlay) this.setOverlay(true);
        this.updateOverlayControls();
        this.draw();
      });
      const legend = this.q("[data-legend]");
      const stops = [];
      for (let i = 0; i <= 256; i += 32) {
        const k = Math.min(i, 255) * 3;
        stops.push(`rgb(${TURBO[k]}, ${TURBO[k + 1]}, ${TURBO[k + 2]}) ${(Math.min(i, 255) / 255) * 100}%`);
      }
      legend.style.background = `linear-gradient(90deg, ${stops.join(", ")})`;
      this.hasSaliency = this.images.some((entry) => entry.saliency);
      if (!this.hasSaliency) {
        this.overlay = false;
        this.overlayBox.checked = false;
        this.overlayBox.disabled = true;
        this.opacityInput.disabled = true;
        this.q(".tool-overlay").title = "No saliency map in this series yet";
      }
      for (const article of this.articles) {
        const details = article.querySelector("details[data-header-url]");
        if (!details) continue;
        details.addEventListener("toggle", () => {
          if (!article.classList.contains("is-current")) return; // set by us while switching
          this.headerOpen = details.open;
          if (details.open) this.loadHeader(details);
        });
      }
      this.updateOverlayControls();
    }

    setPreset(name) {
      this.preset = name;
      this.window = name === "default" ? null : PRESETS[name].slice();
      this.repaint();
    }

    setOverlay(on) {
      this.overlay = on;
      this.overlayBox.checked = on;
      prefs.overlay = on;
      savePrefs();
      this.updateOverlayControls();
      this.updateReadouts();
      this.updateNote();
      this.draw();
    }

    updateOverlayControls() {
      this.opacityOutput.textContent = `${Math.round(this.opacity * 100)}%`;
      this.root.dataset.overlay = this.overlay ? "on" : "off";
    }

    reset() {
      this.zoom = 1;
      this.panX = 0;
      this.panY = 0;
      this.setPreset("default");
    }

    effectiveWindow() {
      return this.window || (this.current ? [this.current.center, this.current.width] : [0, 1]);
    }

    // --- Mouse

    bindPointer() {
      const canvas = this.canvas;
      canvas.addEventListener("contextmenu", (event) => event.preventDefault());
      canvas.addEventListener("pointerdown", (event) => {
        if (!this.current) return;
        const pan = event.shiftKey || event.button === 1 || event.button === 2;
        if (event.button !== 0 && !pan) return;
        event.preventDefault();
        this.stage.focus({ preventScroll: true });
        canvas.setPointerCapture(event.pointerId);
        this.drag = {
          mode: pan ? "pan" : "window",
          x: event.clientX,
          y: event.clientY,
          window: this.effectiveWindow(),
          panX: this.panX,
          panY: this.panY,
        };
        this.stage.dataset.drag = this.drag.mode;
      });
      canvas.addEventListener("pointermove", (event) => {
        const drag = this.drag;
        if (!drag) return;
        const dx = event.clientX - drag.x;
        const dy = event.clientY - drag.y;
        if (drag.mode === "pan") {
          this.panX = drag.panX + dx;
          this.panY = drag.panY + dy;
          this.draw();
        } else {
          // Right widens the window, down raises the level; speed follows the value range.
          const step = Math.max(this.current.max - this.current.min, 1) / 768;
          this.window = [drag.window[0] + dy * step, Math.max(1, drag.window[1] + dx * step)];
          this.preset = "custom";
          this.repaint();
        }
      });
      const end = (event) => {
        if (!this.drag) return;
        this.drag = null;
        delete this.stage.dataset.drag;
        if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
      };
      canvas.addEventListener("pointerup", end);
      canvas.addEventListener("pointercancel", end);
      this.stage.addEventListener(
        "wheel",
        (event) => {
          if (event.ctrlKey || event.metaKey) {
            event.preventDefault();
            const box = this.canvas.getBoundingClientRect();
            this.zoomBy(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP, event.clientX - box.left, event.clientY - box.top);
            return;
          }
          if (this.stack.length < 2) return; // nothing to scroll through: the page scrolls
          event.preventDefault();
          const delta = event.deltaMode === 1 ? event.deltaY * 40 : event.deltaY;
          if (Math.abs(delta) >= WHEEL_STEP) {
            this.wheel = 0;
            this.step(Math.sign(delta)); // a mouse wheel notch: one slice
          } else {
            this.wheel += delta; // a trackpad: small deltas add up
            if (Math.abs(this.wheel) >= WHEEL_STEP) {
              this.step(Math.sign(this.wheel));
              this.wheel = 0;
            }
          }
        },
        { passive: false },
      );
    }

    // --- Keyboard (called by the page-wide listener below)

    handleKey(event) {
      const key = event.key;
      if (key === "ArrowUp" || key === "ArrowLeft") return this.step(-1);
      if (key === "ArrowDown" || key === "ArrowRight") return this.step(1);
      if (key === "PageUp") return this.step(-10);
      if (key === "PageDown") return this.step(10);
      if (key === "Home") return this.stack.length > 1 && this.go(0);
      if (key === "End") return this.stack.length > 1 && this.go(this.stack.length - 1);
      if (key === "+" || key === "=") return this.zoomBy(ZOOM_STEP);
      if (key === "-" || key === "_") return this.zoomBy(1 / ZOOM_STEP);
      if (key === "r" || key === "R") return this.reset() || true;
      if ((key === "o" || key === "O") && this.hasSaliency) return this.setOverlay(!this.overlay) || true;
      return false;
    }

    step(delta) {
      if (this.stack.length < 2) return false;
      return this.go(clamp(this.index + delta, 0, this.stack.length - 1));
    }

    go(index) {
      if (index !== this.index) this.show(index);
      return true;
    }

    // --- Geometry

    resize() {
      const dpr = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(this.stage.clientWidth * dpr));
      const height = Math.max(1, Math.round(this.stage.clientHeight * dpr));
      if (this.canvas.width !== width || this.canvas.height !== height) {
        this.canvas.width = width;
        this.canvas.height = height;
      }
      this.draw();
    }

    // Image pixel -> canvas pixel: x' = sx * x + ox, y' = sy * y + oy.
    transform(zoom = this.zoom) {
      const dpr = window.devicePixelRatio || 1;
      const { rows, cols } = this.current;
      const aspect = this.entry.aspect || 1;
      const fit = Math.min(this.canvas.width / cols, this.canvas.height / (rows * aspect));
      const sx = fit * zoom;
      const sy = sx * aspect;
      return {
        sx,
        sy,
        ox: (this.canvas.width - cols * sx) / 2 + this.panX * dpr,
        oy: (this.canvas.height - rows * sy) / 2 + this.panY * dpr,
        dpr,
      };
    }

    // Zoom about a point given in CSS pixels from the canvas corner (default: its centre).
    zoomBy(factor, x, y) {
      if (!this.current) return true;
      const zoom = clamp(this.zoom * factor, ZOOM_MIN, ZOOM_MAX);
      const before = this.transform();
      const after = this.transform(zoom);
      const px = x === undefined ? this.canvas.width / 2 : x * before.dpr;
      const py = y === undefined ? this.canvas.height / 2 : y * before.dpr;
      const ratio = after.sx / before.sx;
      // Keep the image point under (px, py) where it is.
      this.panX += (px - (px - before.ox) * ratio - after.ox) / before.dpr;
      this.panY += (py - (py - before.oy) * ratio - after.oy) / before.dpr;
      this.zoom = zoom;
      this.draw();
      return true;
    }

    // --- Frames

    frame(image, frame) {
      const key = `${image}:${frame}`;
      let promise = this.frames.get(key);
      if (promise) {
        this.frames.delete(key); // most recently used last
        this.frames.set(key, promise);
        return promise;
      }
      const entry = this.images[image];
      promise = fetchValues(entry.pixels.replace("{frame}", frame)).catch(() =>
        fetchDisplayPng(entry.png.replace("{frame}", frame)),
      );
      this.frames.set(key, promise);
      promise.then(
        (data) => {
          if (this.frames.get(key) !== promise) return;
          this.sizes.set(key, data.values.byteLength);
          this.cacheBytes += data.values.byteLength;
          this.evict();
        },
        () => this.frames.get(key) === promise && this.forget(key),
      );
      this.evict();
      return promise;
    }

    evict() {
      // The current frame and its prefetched neighbours are the most recently used.
      while (
        (this.frames.size > CACHED_FRAMES || this.cacheBytes > CACHE_BYTES) &&
        this.frames.size > 2 * PREFETCH + 1
      ) {
        this.forget(this.frames.keys().next().value);
      }
    }

    forget(key) {
      this.frames.delete(key);
      this.cacheBytes -= this.sizes.get(key) || 0;
      this.sizes.delete(key);
    }

    heatFor(entry) {
      let promise = this.heats.get(entry.saliency);
      if (!promise) {
        promise = fetchHeat(entry.saliency);
        promise.catch(() => this.heats.delete(entry.saliency));
        this.heats.set(entry.saliency, promise);
      }
      return promise;
    }

    prefetch() {
      for (let d = 1; d <= PREFETCH; d++) {
        for (const i of [this.index + d, this.index - d]) {
          if (i >= 0 && i < this.stack.length) this.frame(this.stack[i].image, this.stack[i].frame).catch(() => {});
        }
      }
    }

    async show(index) {
      this.index = index;
      const { image, frame } = this.stack[index];
      const entry = this.images[image];
      this.showPanel(entry);
      this.updateReadouts();
      const token = ++this.loading;
      let values;
      let heat = null;
      let problem = "";
      try {
        values = await this.frame(image, frame);
      } catch (error) {
        if (token !== this.loading) return;
        this.current = null;
        this.problem = `Could not load this frame (${error.message}).`;
        this.updateNote();
        this.draw();
        return;
      }
      if (entry.saliency && frame === entry.saliencyFrame) {
        try {
          heat = await this.heatFor(entry);
        } catch (error) {
          problem = `Could not load the saliency map (${error.message}).`;
        }
      }
      if (token !== this.loading) return; // the reader has moved on
      if (values.approximate) problem = problem || "Showing the 8-bit display image: window/level is approximate.";
      this.current = values;
      this.heat = heat;
      this.problem = problem;
      this.repaint();
      this.updateNote();
      this.prefetch();
    }

    // --- Drawing

    // The window or the frame changed: re-window on the next animation frame (once
    // however many drag events come before it).
    repaint() {
      this.stale = true;
      for (const button of this.presetButtons) {
        button.setAttribute("aria-pressed", String(button.dataset.preset === this.preset));
      }
      this.updateReadouts();
      this.draw();
    }

    draw() {
      if (this.frameRequest) return;
      this.frameRequest = requestAnimationFrame(() => {
        this.frameRequest = 0;
        this.paint();
      });
    }

    windowBuffer() {
      const { rows, cols } = this.current;
      if (this.buffer.width !== cols || this.buffer.height !== rows || !this.pixels) {
        this.buffer.width = cols;
        this.buffer.height = rows;
        this.pixels = this.bufferCtx.createImageData(cols, rows);
      }
      const [center, width] = this.effectiveWindow();
      applyWindow(this.current, center, width, this.pixels);
      this.bufferCtx.putImageData(this.pixels, 0, 0);
      this.stale = false;
    }

    paint() {
      const { ctx, canvas } = this;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (!this.current) return;
      if (this.stale) this.windowBuffer();
      const t = this.transform();
      ctx.setTransform(t.sx, 0, 0, t.sy, t.ox, t.oy);
      // Smooth when shrinking; show pixels as squares when enlarged a lot.
      ctx.imageSmoothingEnabled = t.sx < 4;
      ctx.drawImage(this.buffer, 0, 0);
      if (this.overlay && this.heat) {
        ctx.imageSmoothingEnabled = true;
        ctx.globalAlpha = this.opacity;
        // The map has the image's geometry; drawn over the same extent either way.
        ctx.drawImage(this.heat, 0, 0, this.heat.width, this.heat.height, 0, 0, this.current.cols, this.current.rows);
        ctx.globalAlpha = 1;
      }
      this.updateZoomReadout(t);
    }

    // --- Text around the image

    updateReadouts() {
      const { frame } = this.stack[this.index];
      const entry = this.entry;
      const position = `${this.index + 1} / ${this.stack.length}`;
      const frameText = entry.frames > 1 ? ` · frame ${frame + 1}/${entry.frames}` : "";
      this.q("[data-readout-image]").textContent = `${entry.label}${frameText}`;
      this.q("[data-readout-position]").textContent = position;
      let windowText = "";
      if (this.current) {
        const [center, width] = this.effectiveWindow();
        windowText = `W ${round(width)} L ${round(center)}`;
        if (PRESET_NAMES[this.preset]) windowText += ` · ${PRESET_NAMES[this.preset]}`;
      }
      this.q("[data-readout-window]").textContent = windowText;
      this.canvas.setAttribute(
        "aria-label",
        `${entry.label}${frameText}, ${position} in this series${windowText ? `, ${windowText}` : ""}` +
          (this.overlay && this.heat ? ", saliency overlay shown" : ""),
      );
      this.root.dataset.position = String(this.index + 1);
      clearTimeout(this.liveTimer);
      // Screen readers hear where they are once scrolling pauses, not every slice.
      this.liveTimer = setTimeout(() => {
        this.q("[data-live]").textContent = `${entry.label}${frameText}, ${position}`;
      }, 400);
    }

    updateZoomReadout(t) {
      this.q("[data-readout-zoom]").textContent = `Zoom ${Math.round((t.sx / t.dpr) * 100)}%`;
      this.root.dataset.zoom = String(Math.round(this.zoom * 1000) / 1000);
    }

    updateNote() {
      const note = this.q("[data-note]");
      const entry = this.entry;
      const { frame } = this.stack[this.index];
      let text = this.problem;
      if (!text && this.overlay && this.hasSaliency) {
        if (!entry.saliency) text = "No saliency map for this image.";
        else if (frame !== entry.saliencyFrame) {
          text = `Saliency is shown on frame ${entry.saliencyFrame + 1}, the frame the model read.`;
        }
      }
      note.textContent = text;
      note.hidden = !text;
    }

    // --- Side panel

    showPanel(entry) {
      for (const article of this.articles) {
        const current = article.dataset.imageId === String(entry.id);
        if (current === article.classList.contains("is-current")) continue;
        article.classList.toggle("is-current", current);
        const details = article.querySelector("details[data-header-url]");
        if (current && details) {
          details.open = this.headerOpen;
          if (this.headerOpen) this.loadHeader(details);
        }
      }
    }

    async loadHeader(details) {
      if (details.dataset.state) return; // loading, loaded, or rendered by the server
      if (details.querySelector("table")) {
        details.dataset.state = "loaded";
        return;
      }
      details.dataset.state = "loading";
      const body = details.querySelector("[data-header-body]");
      try {
        const response = await fetch(details.dataset.headerUrl, { credentials: "same-origin" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const { rows } = await response.json();
        body.replaceChildren(headerTable(rows));
        const count = document.createElement("span");
        count.className = "muted small";
        count.textContent = ` · ${rows.length} element${rows.length === 1 ? "" : "s"}`;
        details.querySelector("summary").append(count);
        details.dataset.state = "loaded";
      } catch (error) {
        delete details.dataset.state;
        const p = document.createElement("p");
        p.className = "warn-text small";
        p.textContent = `Could not load the header (${error.message}).`;
        body.replaceChildren(p);
      }
    }
  }

  function headerTable(rows) {
    if (!rows.length) {
      const p = document.createElement("p");
      p.className = "muted small";
      p.textContent = "This image has no header.";
      return p;
    }
    const table = document.createElement("table");
    table.className = "data compact fixed header-table";
    const head = table.createTHead().insertRow();
    for (const [text, cls] of [["Element", "col-name"], ["Value", ""]]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      if (cls) th.className = cls;
      head.append(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      if (row.tag) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = row.tag;
        th.append(tag, " ");
      }
      th.append(row.name);
      const td = tr.insertCell();
      td.textContent = row.value;
      tr.prepend(th);
    }
    return table;
  }

  // --- Start ------------------------------------------------------------------

  const viewers = [...document.querySelectorAll("[data-viewer]")].map((root) => new Viewer(root));
  if (!viewers.length) return;
  let active = viewers[0];
  for (const viewer of viewers) {
    viewer.root.addEventListener("pointerdown", () => (active = viewer));
    viewer.root.addEventListener("focusin", () => (active = viewer));
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const target = event.target;
    let viewer = viewers.find((v) => v.root.contains(target));
    if (!viewer) {
      // Elsewhere on the page only when nothing in particular has focus: the
      // review form's radios and fields keep their own keys.
      if (target !== document.body && target !== document.documentElement && target.id !== "main") return;
      viewer = active;
    }
    if (target.matches?.('input[type="range"]') && event.key.startsWith("Arrow")) return; // the opacity slider
    const typing = 'textarea, select, input:not([type="checkbox"]):not([type="range"]):not([type="radio"])';
    if (target.matches?.(typing) && event.key.length === 1) return;
    if (viewer.handleKey(event)) event.preventDefault();
  });
})();
