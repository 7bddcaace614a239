// <marquee-classifier>: Marquee's classifier as a custom element. One script tag gives it to any
// page:
//
//   <script type="module" src="https://HOST/marquee-widget.js"></script>
//   <marquee-classifier model="https://HOST/models/default/"></marquee-classifier>
//
// Attributes: model (bundle URL; default: the models/default/ beside this script), theme
// (light | dark | auto), size (small | medium | large), backend (auto | webgpu | cpu).
// Events: "ready" (detail: { backend, name, fromCache }), "classified" (detail: { results,
// backend, millis }), "failed" (detail: { message }). Methods: setPoster(blob), setPlot(text),
// classify(). Everything lives in a shadow root; the script defines no global names, and no text
// from a bundle or a user ever goes through innerHTML.

// pkg/marquee.js fetches the CPU wasm package, or the WebGPU one where the browser has an adapter.
import { Marquee } from "./pkg/marquee.js";

const here = new URL(".", import.meta.url);
const models = new Map();

/** Loads a bundle once per page and backend; widgets showing the same model share it. */
function loadModel(url, backend, onProgress) {
  const key = `${backend} ${url}`;
  if (!models.has(key)) {
    const entry = { listeners: new Set([onProgress]) };
    const onAnyProgress = (p) => entry.listeners.forEach((f) => f(p));
    entry.promise = Marquee.load(url, { backend, onProgress: onAnyProgress }).catch((error) => {
      models.delete(key);
      throw error;
    });
    models.set(key, entry);
  } else {
    models.get(key).listeners.add(onProgress);
  }
  return models.get(key).promise;
}

/** document.createElement with properties, attributes and children. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && !key.startsWith("aria") && key !== "role") el[key] = value;
    else el.setAttribute(key, value);
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

const megabytes = (bytes) => (bytes / 1e6).toFixed(1);
const percent = (p) => `${Math.round(p * 100)}%`;

const STYLE = `
:host { --accent: #c2410c; --bg: #ffffff; --fg: #1c1917; --muted: #57534e; --line: #d6d3d1;
  --bar: #fed7aa; --bar-on: #ea580c; display: block; max-width: 46rem; font: 16px/1.45 system-ui, sans-serif;
  color: var(--fg); }
:host([theme="dark"]) { --bg: #1c1917; --fg: #f5f5f4; --muted: #a8a29e; --line: #44403c; --bar: #7c2d12; --bar-on: #fb923c; --accent: #fb923c; }
@media (prefers-color-scheme: dark) { :host([theme="auto"]) { --bg: #1c1917; --fg: #f5f5f4; --muted: #a8a29e; --line: #44403c; --bar: #7c2d12; --bar-on: #fb923c; --accent: #fb923c; } }
:host([size="small"]) { max-width: 24rem; font-size: 14px; }
:host([size="large"]) { max-width: 64rem; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 12px; padding: 1rem; }
.status { color: var(--muted); font-size: .9em; min-height: 1.5em; }
progress { width: 100%; height: .6em; accent-color: var(--accent); }
.inputs { display: grid; grid-template-columns: minmax(8rem, 13rem) 1fr; gap: 1rem; margin: .75rem 0; }
:host([size="small"]) .inputs { grid-template-columns: 1fr; }
@media (max-width: 36rem) { .inputs { grid-template-columns: 1fr; } }
.drop { border: 2px dashed var(--line); border-radius: 10px; display: flex; flex-direction: column; align-items: center;
  justify-content: center; text-align: center; min-height: 12rem; padding: .5rem; cursor: pointer; color: var(--muted); }
.drop.over, .drop:focus-within { border-color: var(--accent); }
.drop img { max-width: 100%; max-height: 16rem; border-radius: 6px; }
.drop input { position: absolute; width: 1px; height: 1px; opacity: 0; }
label.plot { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
textarea { font: inherit; font-weight: 400; min-height: 9rem; resize: vertical; padding: .5rem; border-radius: 8px; border: 1px solid var(--line);
  background: var(--bg); color: var(--fg); }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
button { font: inherit; padding: .5rem 1.1rem; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent);
  color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .5; cursor: not-allowed; }
button:focus-visible, textarea:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.error { color: #b91c1c; font-weight: 600; min-height: 1.2em; margin: .5rem 0; }
:host([theme="dark"]) .error { color: #fca5a5; }
ol.genres { list-style: none; padding: 0; margin: .75rem 0 0; display: grid; gap: .3rem; }
ol.genres li { display: grid; grid-template-columns: 9rem 1fr 3.5rem; align-items: center; gap: .5rem; color: var(--muted); }
ol.genres li.on { color: var(--fg); font-weight: 700; }
.track { position: relative; height: .9rem; background: color-mix(in srgb, var(--line) 45%, transparent); border-radius: 4px; }
.fill { position: absolute; inset: 0 auto 0 0; background: var(--bar); border-radius: 4px; }
li.on .fill { background: var(--bar-on); }
.threshold { position: absolute; top: -.2rem; bottom: -.2rem; width: 2px; background: var(--fg); }
.value { text-align: right; font-variant-numeric: tabular-nums; }
.legend { color: var(--muted); font-size: .85em; margin-top: .5rem; }
`;

class MarqueeClassifier extends HTMLElement {
  /** The loaded model (private: the page reads `model`). */
  #classifier = null;

  static get observedAttributes() {
    return ["model", "backend"];
  }

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.poster = null;
    this.posterName = null;
    this.previewUrl = null;
    this.build();
  }

  connectedCallback() {
    this.load();
  }

  attributeChangedCallback(_name, oldValue, newValue) {
    if (oldValue !== null && oldValue !== newValue && this.isConnected) this.load();
  }

  /**
   * The loaded model, described (null until the `ready` event): `{ name, genres, info, backend,
   * package, threads, fallbackReason, fromCache }`.
   */
  get model() {
    const c = this.#classifier;
    if (!c) return null;
    const { name, info, backend, fromCache } = c;
    return { name, genres: [...c.genres], info, backend, package: c.package, threads: c.threads, fallbackReason: c.fallbackReason ?? null, fromCache };
  }

  /** The bundle URL: the `model` attribute, or the default bundle beside this script. */
  get modelUrl() {
    return new URL(this.getAttribute("model") || "models/default/", this.getAttribute("model") ? document.baseURI : here).href;
  }

  build() {
    const id = (name) => `marquee-${name}`;
    this.status = h("div", { class: "status", role: "status", "aria-live": "polite" }, "Starting…");
    this.progress = h("progress", { max: 1, value: 0, "aria-label": "Model download" });
    this.preview = h("img", { alt: "", hidden: true });
    this.dropHint = h("span", {}, "Drop a poster here, or choose a file");
    this.fileInput = h("input", {
      type: "file",
      id: id("poster"),
      accept: "image/jpeg,image/png,image/webp",
      onchange: () => this.fileInput.files[0] && this.setPoster(this.fileInput.files[0]),
    });
    this.drop = h(
      "label",
      { class: "drop", for: id("poster"), "aria-label": "Poster image (JPEG, PNG or WebP)" },
      this.preview,
      this.dropHint,
      this.fileInput,
    );
    for (const type of ["dragenter", "dragover"])
      this.drop.addEventListener(type, (e) => (e.preventDefault(), this.drop.classList.add("over")));
    for (const type of ["dragleave", "drop"]) this.drop.addEventListener(type, () => this.drop.classList.remove("over"));
    this.drop.addEventListener("drop", (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files?.[0];
      if (file) this.setPoster(file);
    });
    this.plot = h("textarea", { id: id("plot"), placeholder: "Paste or type the plot…", rows: 6 });
    this.classifyButton = h("button", { type: "button", disabled: true, onclick: () => this.classify().catch(() => {}) }, "Classify");
    this.clearButton = h("button", { type: "button", class: "secondary", onclick: () => this.clear() }, "Clear");
    this.error = h("div", { class: "error", role: "alert" });
    this.results = h("ol", { class: "genres", "aria-label": "Genres, most probable first" });
    this.legend = h("div", { class: "legend", hidden: true }, "Bars: probability. Line: the genre's threshold. Bold: predicted.");
    this.plot.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.classify().catch(() => {});
    });
    const style = h("style");
    style.textContent = STYLE;
    this.shadowRoot.append(
      style,
      h(
        "div",
        { class: "card", part: "card" },
        this.status,
        this.progress,
        h("div", { class: "inputs" }, this.drop, h("label", { class: "plot", for: id("plot") }, "Plot", this.plot)),
        h("div", { class: "actions" }, this.classifyButton, this.clearButton),
        this.error,
        this.results,
        this.legend,
      ),
    );
  }

  async load() {
    const url = this.modelUrl;
    const backend = this.getAttribute("backend") || "auto";
    this.#classifier = null;
    this.classifyButton.disabled = true;
    this.progress.hidden = false;
    this.progress.removeAttribute("value");
    this.status.textContent = "Loading the model…";
    const onProgress = ({ loaded, total, fromCache }) => {
      if (this.modelUrl !== url) return;
      this.progress.max = total || 1;
      this.progress.value = loaded;
      const source = fromCache ? "from the browser cache" : "downloading";
      this.status.textContent = `Model: ${source} ${megabytes(loaded)} / ${megabytes(total)} MB (${percent(total ? loaded / total : 0)})`;
    };
    try {
      const classifier = await loadModel(url, backend, onProgress);
      if (this.modelUrl !== url) return;
      this.#classifier = classifier;
      this.progress.hidden = true;
      this.classifyButton.disabled = false;
      this.showReady();
      this.dispatchEvent(
        new CustomEvent("ready", { detail: this.model }),
      );
    } catch (error) {
      this.progress.hidden = true;
      this.status.textContent = "The model could not be loaded.";
      this.fail(`Could not load the model from ${url}: ${error.message ?? error}`);
    }
  }

  showReady(millis) {
    const c = this.#classifier;
    const backend = c.backend === "webgpu" ? "WebGPU" : c.threads > 1 ? `CPU (${c.threads} threads)` : "CPU";
    let text = `Model "${c.name}" on ${backend}${c.fromCache ? " (loaded from cache)" : ""}.`;
    if (c.fallbackReason) text += ` WebGPU unavailable: ${c.fallbackReason}.`;
    if (millis !== undefined) text += ` Last classification: ${Math.round(millis)} ms.`;
    this.status.textContent = text;
  }

  fail(message) {
    this.error.textContent = message;
    this.dispatchEvent(new CustomEvent("failed", { detail: { message } }));
  }

  /** Sets the poster (a Blob or File); shows it if the browser can. */
  setPoster(blob) {
    this.error.textContent = "";
    this.poster = blob;
    this.posterName = blob.name || "the poster";
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(blob);
    this.preview.src = this.previewUrl;
    this.preview.alt = `Poster: ${this.posterName}`;
    this.preview.hidden = false;
    this.dropHint.textContent = this.posterName;
  }

  /** Sets the plot text. */
  setPlot(text) {
    this.plot.value = text;
  }

  clear() {
    this.poster = null;
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    this.preview.hidden = true;
    this.preview.removeAttribute("src");
    this.dropHint.textContent = "Drop a poster here, or choose a file";
    this.fileInput.value = "";
    this.plot.value = "";
    this.error.textContent = "";
    this.results.replaceChildren();
    this.legend.hidden = true;
  }

  /** Classifies the current poster and plot; resolves to the results, rejects with an Error. */
  async classify() {
    this.error.textContent = "";
    try {
      if (!this.#classifier) throw new Error("The model is not loaded yet.");
      const plot = this.plot.value.trim();
      if (!this.poster && !plot) throw new Error("Add a poster, a plot, or both.");
      if (this.poster && this.poster.type && !this.poster.type.startsWith("image/"))
        throw new Error(`${this.posterName} is not an image (${this.poster.type}): choose a JPEG, PNG or WebP poster.`);
      const bytes = this.poster ? new Uint8Array(await this.poster.arrayBuffer()) : null;
      this.classifyButton.disabled = true;
      const started = performance.now();
      const results = await this.#classifier.classify(bytes, plot || null);
      const millis = performance.now() - started;
      this.render(results);
      this.showReady(millis);
      this.dispatchEvent(new CustomEvent("classified", { detail: { results, backend: this.#classifier.backend, millis } }));
      return results;
    } catch (error) {
      this.fail(error.message ?? String(error));
      throw error;
    } finally {
      this.classifyButton.disabled = !this.#classifier;
    }
  }

  render(results) {
    const items = results.map(({ genre, probability, threshold, predicted }) => {
      const fill = h("div", { class: "fill" });
      fill.style.width = percent(probability);
      const mark = h("div", { class: "threshold", title: `threshold ${percent(threshold)}` });
      mark.style.left = percent(threshold);
      return h(
        "li",
        {
          class: predicted ? "on" : "",
          "aria-label": `${genre}: ${percent(probability)}, threshold ${percent(threshold)}${predicted ? ", predicted" : ""}`,
          "data-genre": genre,
          "data-probability": String(probability),
          "data-predicted": String(predicted),
        },
        h("span", {}, predicted ? `✓ ${genre}` : genre),
        h("div", { class: "track", "aria-hidden": "true" }, fill, mark),
        h("span", { class: "value" }, percent(probability)),
      );
    });
    this.results.replaceChildren(...items);
    this.legend.hidden = false;
  }
}

if (!customElements.get("marquee-classifier")) customElements.define("marquee-classifier", MarqueeClassifier);
