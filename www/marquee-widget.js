// <marquee-classifier>: Marquee's classifier as a custom element. One script tag gives it to any
// page:
//
//   <script type="module" src="https://HOST/marquee-widget.js"></script>
//   <marquee-classifier model="https://HOST/models/default/"></marquee-classifier>
//
// Attributes: model (bundle URL; default: the models/default/ beside this script), theme
// (light | dark | auto), size (small | medium | large), backend (auto | webgpu | cpu).
// Events: "ready" (detail: { backend, name, fromCache }), "classified" (detail: { results,
// backend, millis }), "explained" (detail: { genre, explanation, millis }), "failed" (detail:
// { message }). Methods: setPoster(blob), setPlot(text), setDetails({ title, year }), classify(),
// explain(genre). The title and the year are optional; a bundle whose lexical branch was made with
// them reads them (the default does). After a
// classification each genre's bar is a button: pressing it explains that genre (the plot's words
// tinted for and against it, a heat map over the poster, each source's share); pressing it again
// hides the explanation. Everything lives in a shadow root; the script defines no global names,
// and no text from a bundle or a user ever goes through innerHTML.

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
const signed = (x) => `${x > 0 ? "+" : ""}${x.toFixed(3)}`;
/** The largest magnitude among `scores` (0 for none). */
const largest = (scores) => scores.reduce((max, score) => Math.max(max, Math.abs(score)), 0);

/** The heat map's colours (RGB): a region for the genre, and one against it. */
const HEAT_FOR = [220, 38, 38];
const HEAT_AGAINST = [37, 99, 235];
/** The heat map's opacity where a region's score is the largest; a region's opacity grows with
 * the square root of its share of that, so that the second-strongest regions show too. */
const HEAT_ALPHA = 0.7;

const STYLE = `
:host { --accent: #c2410c; --bg: #ffffff; --fg: #1c1917; --muted: #57534e; --line: #d6d3d1;
  --bar: #fed7aa; --bar-on: #ea580c; --for: #dc2626; --against: #2563eb; display: block; max-width: 46rem;
  font: 16px/1.45 system-ui, sans-serif; color: var(--fg); }
:host([theme="dark"]) { --bg: #1c1917; --fg: #f5f5f4; --muted: #a8a29e; --line: #44403c; --bar: #7c2d12; --bar-on: #fb923c; --accent: #fb923c;
  --for: #f87171; --against: #60a5fa; }
@media (prefers-color-scheme: dark) { :host([theme="auto"]) { --bg: #1c1917; --fg: #f5f5f4; --muted: #a8a29e; --line: #44403c; --bar: #7c2d12; --bar-on: #fb923c; --accent: #fb923c;
  --for: #f87171; --against: #60a5fa; } }
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
.poster { position: relative; display: inline-block; max-width: 100%; }
.drop img { max-width: 100%; max-height: 16rem; border-radius: 6px; vertical-align: top; }
.poster canvas { position: absolute; inset: 0; width: 100%; height: 100%; border-radius: 6px; pointer-events: none; }
.drop input { position: absolute; width: 1px; height: 1px; opacity: 0; }
label.plot { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
.details { display: flex; gap: .75rem; margin-top: .5rem; flex-wrap: wrap; }
.details label { display: flex; flex-direction: column; gap: .25rem; font-weight: 600; }
.details input.title { width: 16rem; max-width: 100%; }
.details input.year { width: 6rem; }
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
ol.genres li { color: var(--muted); }
ol.genres li.on { color: var(--fg); font-weight: 700; }
button.bar { display: grid; grid-template-columns: 9rem 1fr 3.5rem; align-items: center; gap: .5rem; width: 100%; padding: .1rem .3rem;
  border: 1px solid transparent; border-radius: 6px; background: transparent; color: inherit; text-align: left; }
button.bar:hover { border-color: var(--line); }
button.bar[aria-pressed="true"] { border-color: var(--accent); background: color-mix(in srgb, var(--accent) 8%, transparent); }
.track { position: relative; height: .9rem; background: color-mix(in srgb, var(--line) 45%, transparent); border-radius: 4px; }
.fill { position: absolute; inset: 0 auto 0 0; background: var(--bar); border-radius: 4px; }
li.on .fill { background: var(--bar-on); }
.threshold { position: absolute; top: -.2rem; bottom: -.2rem; width: 2px; background: var(--fg); }
.value { text-align: right; font-variant-numeric: tabular-nums; }
.legend { color: var(--muted); font-size: .85em; margin-top: .5rem; }
.explanation { border-top: 1px solid var(--line); margin-top: .75rem; padding-top: .5rem; }
.explanation h3 { font-size: 1em; margin: 0 0 .25rem; }
.sources, .key { color: var(--muted); font-size: .9em; margin: .25rem 0; }
.sources span[title] { cursor: help; text-decoration: underline dotted; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin: 0 .3em 0 .6em; vertical-align: -.05em; }
.swatch:first-child { margin-left: 0; }
.swatch.for { background: var(--for); }
.swatch.against { background: var(--against); }
.explained-plot { white-space: pre-wrap; margin: .5rem 0 0; max-height: 16rem; overflow-y: auto; }
.word { border-radius: 3px; }
.word.for { background: color-mix(in srgb, var(--for) calc(var(--strength) * 60%), transparent); }
.word.against { background: color-mix(in srgb, var(--against) calc(var(--strength) * 60%), transparent); }
.word.unread { color: var(--muted); }
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
    /** What the shown bars answer: `{ bytes, plot, previewUrl }`; explanations explain it. */
    this.classified = null;
    /** The genre whose explanation is shown or on its way, and a count that retires older ones. */
    this.explaining = null;
    this.explainRequest = 0;
    this.lastMillis = undefined;
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
    this.heat = h("canvas", { hidden: true, "aria-hidden": "true" });
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
      h("span", { class: "poster" }, this.preview, this.heat),
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
    this.titleInput = h("input", { id: id("title"), class: "title", type: "text", autocomplete: "off", placeholder: "optional" });
    this.yearInput = h("input", { id: id("year"), class: "year", type: "number", min: "1800", max: "2200", step: "1", placeholder: "optional" });
    this.classifyButton = h("button", { type: "button", disabled: true, onclick: () => this.classify().catch(() => {}) }, "Classify");
    this.clearButton = h("button", { type: "button", class: "secondary", onclick: () => this.clear() }, "Clear");
    this.error = h("div", { class: "error", role: "alert" });
    this.results = h("ol", { class: "genres", "aria-label": "Genres, most probable first" });
    this.legend = h(
      "div",
      { class: "legend", hidden: true },
      "Bars: probability. Line: the genre's threshold. Bold: predicted. Press a genre to see why.",
    );
    this.explanation = h("section", { class: "explanation", hidden: true, "aria-label": "Explanation" });
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
        h(
          "div",
          { class: "inputs" },
          this.drop,
          h(
            "div",
            {},
            h("label", { class: "plot", for: id("plot") }, "Plot", this.plot),
            h(
              "div",
              { class: "details" },
              h("label", { for: id("title") }, "Title", this.titleInput),
              h("label", { for: id("year") }, "Year", this.yearInput),
            ),
          ),
        ),
        h("div", { class: "actions" }, this.classifyButton, this.clearButton),
        this.error,
        this.results,
        this.legend,
        this.explanation,
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
    return text;
  }

  fail(message) {
    this.error.textContent = message;
    this.dispatchEvent(new CustomEvent("failed", { detail: { message } }));
  }

  /** Sets the poster (a Blob or File); shows it if the browser can. */
  setPoster(blob) {
    this.error.textContent = "";
    this.hideExplanation();
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

  /** Sets the optional title and year (either may be missing). */
  setDetails({ title, year } = {}) {
    this.titleInput.value = title ?? "";
    this.yearInput.value = year ?? "";
  }

  /** The form's title and year as `classify` takes them; throws on a year that is not one. */
  details() {
    const title = this.titleInput.value.trim();
    const yearText = this.yearInput.value.trim();
    const year = Number(yearText);
    if (yearText && !(Number.isInteger(year) && year >= 1800 && year <= 2200))
      throw new Error(`The year "${yearText}" is not a year from 1800 to 2200: correct it or leave it empty.`);
    return { title: title || undefined, year: yearText ? year : undefined };
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
    this.setDetails();
    this.error.textContent = "";
    this.results.replaceChildren();
    this.legend.hidden = true;
    this.classified = null;
    this.hideExplanation();
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
      const details = this.details();
      const bytes = this.poster ? new Uint8Array(await this.poster.arrayBuffer()) : null;
      this.classifyButton.disabled = true;
      const started = performance.now();
      const results = await this.#classifier.classify(bytes, plot || null, details);
      const millis = performance.now() - started;
      this.classified = { bytes, plot: plot || null, previewUrl: this.poster ? this.previewUrl : null };
      this.lastMillis = millis;
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
    this.hideExplanation();
    const items = results.map(({ genre, probability, threshold, predicted }) => {
      const fill = h("div", { class: "fill" });
      fill.style.width = percent(probability);
      const mark = h("div", { class: "threshold", title: `threshold ${percent(threshold)}` });
      mark.style.left = percent(threshold);
      const bar = h(
        "button",
        {
          type: "button",
          class: "bar",
          title: `Why ${genre}? Press to explain`,
          "aria-label": `${genre}: ${percent(probability)}, threshold ${percent(threshold)}${predicted ? ", predicted" : ""}`,
          "aria-pressed": "false",
          onclick: () => this.toggleExplanation(genre),
        },
        h("span", {}, predicted ? `✓ ${genre}` : genre),
        h("div", { class: "track", "aria-hidden": "true" }, fill, mark),
        h("span", { class: "value" }, percent(probability)),
      );
      return h(
        "li",
        {
          class: predicted ? "on" : "",
          "data-genre": genre,
          "data-probability": String(probability),
          "data-predicted": String(predicted),
        },
        bar,
      );
    });
    this.results.replaceChildren(...items);
    this.legend.hidden = false;
  }

  /** A bar's press: explains its genre, or hides the explanation when it is the one shown. */
  toggleExplanation(genre) {
    if (this.explaining === genre) this.hideExplanation();
    else this.explain(genre).catch(() => {});
  }

  /** Marks the bar of `genre` (or none) as pressed. */
  pressBar(genre) {
    for (const li of this.results.children) li.firstChild.setAttribute("aria-pressed", String(li.dataset.genre === genre));
  }

  hideExplanation() {
    this.explaining = null;
    this.explainRequest += 1;
    this.explanation.hidden = true;
    this.explanation.replaceChildren();
    this.heat.hidden = true;
    this.pressBar(null);
  }

  /**
   * Explains `genre` for the last classified movie and shows it; resolves to the explanation
   * (`{ genre, probability, words, poster, sources, .. }`, see pkg/marquee.js), rejects with an
   * Error. The first call fetches the explain package.
   */
  async explain(genre) {
    const request = ++this.explainRequest;
    this.error.textContent = "";
    this.explaining = genre;
    this.pressBar(genre);
    this.status.textContent = `Explaining ${genre}…`;
    try {
      if (!this.#classifier || !this.classified) throw new Error("Classify a movie first, then press one of its genres.");
      const { bytes, plot } = this.classified;
      const started = performance.now();
      const explanation = await this.#classifier.explain(bytes, plot, { genre });
      const millis = performance.now() - started;
      if (request !== this.explainRequest) return explanation;
      this.showExplanation(explanation, plot);
      this.status.textContent = `${this.showReady(this.lastMillis)} Explained ${genre} in ${Math.round(millis)} ms.`;
      this.dispatchEvent(new CustomEvent("explained", { detail: { genre, explanation, millis } }));
      return explanation;
    } catch (error) {
      if (request === this.explainRequest) {
        this.hideExplanation();
        if (this.#classifier) this.showReady(this.lastMillis);
        this.fail(`Could not explain ${genre}: ${error.message ?? error}`);
      }
      throw error;
    }
  }

  /** Shows an explanation of the movie whose plot was `plot`: its sources' shares, a colour key,
   * the plot's words tinted by their scores and the heat map over the poster. */
  showExplanation(explanation, plot) {
    const { genre, probability, threshold, predicted } = explanation;
    const verdict = predicted ? "predicted" : "not predicted";
    this.explanation.replaceChildren(
      h("h3", {}, `Why ${genre}: ${percent(probability)} (${verdict}, threshold ${percent(threshold)})`),
      this.sourcesLine(explanation),
      h(
        "p",
        { class: "key" },
        h("span", { class: "swatch for", "aria-hidden": "true" }),
        `for ${genre}`,
        h("span", { class: "swatch against", "aria-hidden": "true" }),
        `against ${genre}: the stronger the colour, the more a word or a region of the poster moved the score.`,
      ),
    );
    if (plot && explanation.words.length) this.explanation.append(this.explainedPlot(explanation.words, plot));
    this.explanation.hidden = false;
    this.drawHeat(explanation.poster);
  }

  /** "text 45% · image 30% · lexical 25%": each source's share of the logit's size, with its
   * signed term on hover. */
  sourcesLine({ sources, logit }) {
    const terms = [
      ["text", sources.text],
      ["image", sources.image],
      ["lexical", sources.lexical],
    ];
    if (sources.joint !== 0) terms.push(["fused", sources.joint]);
    const total = terms.reduce((sum, [, term]) => sum + Math.abs(term), 0);
    const line = h("p", {
      class: "sources",
      title: `logit ${signed(logit)} = ${terms.map(([name, term]) => `${name} ${signed(term)}`).join(" + ")} + bias ${signed(sources.bias)}`,
    });
    line.append("Sources: ");
    terms.forEach(([name, term], i) => {
      if (i) line.append(" · ");
      line.append(h("span", { title: `${name}: ${signed(term)} of the logit` }, `${name} ${percent(total ? Math.abs(term) / total : 0)}`));
    });
    return line;
  }

  /** The plot with each scored word in a span tinted for (warm) or against (blue) the genre. */
  explainedPlot(words, plot) {
    const strongest = largest(words.map((w) => w.score));
    const text = h("p", { class: "explained-plot" });
    let at = 0;
    for (const { start, end, score, read } of words) {
      if (start > at) text.append(plot.slice(at, start));
      const span = h("span", {
        class: ["word", score > 0 ? "for" : score < 0 ? "against" : "", read ? "" : "unread"].filter(Boolean).join(" "),
        title: read ? signed(score) : `${signed(score)} (past the text model's length limit)`,
      });
      span.textContent = plot.slice(start, end);
      if (strongest > 0) span.style.setProperty("--strength", String(Math.abs(score) / strongest));
      text.append(span);
      at = end;
    }
    if (at < plot.length) text.append(plot.slice(at));
    return text;
  }

  /** The poster's scores over the shown poster: each cell red for the genre or blue against,
   * more opaque the larger it is, upsampled bilinearly to the poster's size. */
  drawHeat(poster) {
    const shown = this.classified?.previewUrl && this.classified.previewUrl === this.previewUrl;
    this.heat.hidden = !(poster && shown);
    if (this.heat.hidden) return;
    const { rows, cols, scores } = poster;
    const strongest = largest(scores);
    const cells = new ImageData(cols, rows);
    scores.forEach((score, i) => {
      const [r, g, b] = score > 0 ? HEAT_FOR : HEAT_AGAINST;
      cells.data.set([r, g, b, strongest > 0 ? Math.round(Math.sqrt(Math.abs(score) / strongest) * HEAT_ALPHA * 255) : 0], i * 4);
    });
    const grid = document.createElement("canvas");
    [grid.width, grid.height] = [cols, rows];
    grid.getContext("2d").putImageData(cells, 0, 0);
    // The drawing keeps the poster's shape (at most 512 pixels a side); CSS fits it to the image.
    const width = this.preview.naturalWidth || cols * 64;
    const height = this.preview.naturalHeight || rows * 64;
    const scale = Math.min(1, 512 / Math.max(width, height));
    [this.heat.width, this.heat.height] = [Math.round(width * scale), Math.round(height * scale)];
    const context = this.heat.getContext("2d");
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = "high";
    context.clearRect(0, 0, this.heat.width, this.heat.height);
    context.drawImage(grid, 0, 0, this.heat.width, this.heat.height);
  }
}

if (!customElements.get("marquee-classifier")) customElements.define("marquee-classifier", MarqueeClassifier);
