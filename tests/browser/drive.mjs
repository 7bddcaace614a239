// Drives headless Chromium through Marquee's page and widget and prints what it saw as JSON.
// The Rust test tests/tests/browser.rs starts `marquee serve`, runs this, and checks the report
// against `marquee predict`. Usage: node drive.mjs CONFIG_JSON (see browser.rs for the fields).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);
/** Thrown to end a lean run early. */
class Done extends Error {}
const report = { backend: null, fallbackReason: null, movies: [], badInputs: {}, reload: {}, embed: {}, console: [], packageRequests: [] };

const browser = await launch({ executablePath: config.chromium, webgpu: config.webgpu, viewport: { width: 1200, height: 1000 } });
const context = browser.context;
context.setDefaultTimeout(config.timeoutMs ?? 240000);

function watch(page, name) {
  // Which wasm-package files the page fetches (a visitor without WebGPU must fetch no WebGPU code).
  page.on("request", (r) => {
    const path = new URL(r.url()).pathname;
    if (path.includes("/pkg/")) report.packageRequests.push(path);
  });
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") report.console.push(`${name}: ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => report.console.push(`${name}: uncaught: ${e.message}`));
}

/** The movies to explain (browser.rs's `explain_cases`), each poster read as bytes. */
const explainCases = config.explain.map((c) => ({ ...c, poster: c.poster ? [...readFileSync(c.poster)] : null }));

/** Waits for the widget `selector` to finish loading; returns what it says about itself. */
async function ready(page, selector) {
  await page.waitForFunction((s) => {
    const w = document.querySelector(s);
    return w && (w.model || w.shadowRoot.querySelector(".error").textContent);
  }, selector);
  return page.evaluate((s) => {
    const w = document.querySelector(s);
    const c = w.model;
    return c
      ? { backend: c.backend, package: c.package, threads: c.threads, fallbackReason: c.fallbackReason, fromCache: c.fromCache, name: c.name }
      : { error: w.shadowRoot.querySelector(".error").textContent };
  }, selector);
}

/** Adds a widget `id` for the bundle at `model` to the page; returns what it says once loaded. */
async function addWidget(page, id, model) {
  await page.evaluate(
    ({ id, model }) => {
      const w = document.createElement("marquee-classifier");
      w.id = id;
      w.setAttribute("model", model);
      document.body.append(w);
    },
    { id, model },
  );
  return ready(page, `#${id}`);
}

/** Presses a genre bar of the widget `selector` (with `key`, the keyboard's key on the focused bar,
 * else a click); returns what the widget shows afterwards, once it explained or failed when the
 * press asked for an explanation. */
async function pressBar(page, selector, index, { key, explains }) {
  const outcome = explains
    ? page.evaluate(
        (s) =>
          new Promise((resolve) => {
            const w = document.querySelector(s);
            const status = w.shadowRoot.querySelector(".status");
            const seen = [];
            const observer = new MutationObserver(() => seen.push(status.textContent));
            observer.observe(status, { childList: true, characterData: true, subtree: true });
            const done = (e) => {
              observer.disconnect();
              w.removeEventListener("explained", done);
              w.removeEventListener("failed", done);
              resolve(e.type === "explained" ? { genre: e.detail.genre, millis: e.detail.millis, statusSeen: seen } : { error: e.detail.message });
            };
            w.addEventListener("explained", done);
            w.addEventListener("failed", done);
          }),
        selector,
      )
    : Promise.resolve({});
  const bar = page.locator(selector).locator("ol.genres li button.bar").nth(index);
  if (key) {
    await bar.focus();
    await page.keyboard.press(key);
  } else {
    await bar.click();
  }
  const result = await outcome;
  const shown = await page.evaluate((s) => {
    const root = document.querySelector(s).shadowRoot;
    const canvas = root.querySelector(".poster canvas");
    let painted = 0;
    if (!canvas.hidden && canvas.width && canvas.height) {
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < pixels.length; i += 4) painted += pixels[i] > 0;
    }
    return {
      pressed: [...root.querySelectorAll("button.bar")].map((b) => b.getAttribute("aria-pressed")),
      explanationShown: !root.querySelector(".explanation").hidden,
      highlighted: root.querySelectorAll(".explained-plot .word.for, .explained-plot .word.against").length,
      plotText: root.querySelector(".explained-plot")?.textContent ?? null,
      sources: root.querySelector(".explanation .sources")?.textContent ?? null,
      canvas: { hidden: canvas.hidden, width: canvas.width, height: canvas.height, painted },
      error: root.querySelector(".error").textContent,
    };
  }, selector);
  return { ...result, ...shown };
}

/** Fills the widget's form and presses Classify; returns the shown bars or the shown error. */
async function classify(page, selector, { poster, plot, yearField }) {
  const widget = page.locator(selector);
  await page.evaluate((s) => document.querySelector(s).clear(), selector);
  if (poster) await widget.locator('input[type="file"]').setInputFiles(poster);
  await widget.locator("textarea").fill(plot ?? "");
  if (yearField !== undefined) await widget.locator("input.year").fill(yearField);
  const outcome = page.evaluate(
    (s) =>
      new Promise((resolve) => {
        const w = document.querySelector(s);
        const done = (e) => {
          w.removeEventListener("classified", done);
          w.removeEventListener("failed", done);
          resolve(e.type === "classified" ? { millis: e.detail.millis } : { error: e.detail.message });
        };
        w.addEventListener("classified", done);
        w.addEventListener("failed", done);
      }),
    selector,
  );
  await widget.getByRole("button", { name: "Classify" }).click();
  const result = await outcome;
  if (result.error) return result;
  result.genres = await widget.locator("ol.genres li").evaluateAll((items) =>
    items.map((li) => ({
      genre: li.dataset.genre,
      probability: Number(li.dataset.probability),
      predicted: li.dataset.predicted === "true",
      label: li.querySelector("button.bar").getAttribute("aria-label"),
    })),
  );
  result.status = await widget.locator(".status").textContent();
  return result;
}

try {
  const page = await context.newPage();
  watch(page, "index.html");
  await page.goto(config.baseUrl);
  const state = await ready(page, "#classifier");
  if (state.error) throw new Error(`the page's model did not load: ${state.error}`);
  Object.assign(report, { backend: state.backend, package: state.package, threads: state.threads, fallbackReason: state.fallbackReason, firstLoadFromCache: state.fromCache, name: state.name });
  report.crossOriginIsolated = await page.evaluate(() => globalThis.crossOriginIsolated);
  report.samplesShown = await page.locator("#samples li").count();
  if (config.webgpu) {
    // The WebGPU package not there (yet: the demo builds it while the page is served): the CPU
    // package answers, and the page says why.
    const blocked = await context.newPage();
    await blocked.route("**/pkg/webgpu/**", (route) => route.fulfill({ status: 404, body: "not built yet" }));
    await blocked.goto(config.baseUrl);
    report.webgpuPackageMissing = await ready(blocked, "#classifier");
    await blocked.close();
  }
  if (config.screenshots) await page.screenshot({ path: join(config.screenshots, `page-before-${state.backend}.png`), fullPage: true });

  for (const movie of config.movies) {
    report.movies.push({ id: movie.id, ...(await classify(page, "#classifier", movie)) });
  }
  // A second classification of the first movie: the steady-state latency.
  report.repeat = await classify(page, "#classifier", config.movies[0]);
  if (config.screenshots) await page.screenshot({ path: join(config.screenshots, `page-after-${state.backend}.png`), fullPage: true });
  if (config.full) {
    // The single-thread CPU packages (for pages that are not cross-origin isolated, and for
    // browsers without relaxed SIMD) on the same movies.
    const movies = config.movies.map((m) => ({ plot: m.plot, title: m.title, year: m.year, poster: [...readFileSync(m.poster)] }));
    // No explanation was asked for yet: the explain package must not have been fetched.
    report.explainFetchedEarly = report.packageRequests.some((p) => p.includes("/pkg/explain/"));
    report.otherCpuPackages = [];
    const [explained] = explainCases;
    for (const cpuPackage of ["cpu-relaxed", "cpu"]) {
      report.otherCpuPackages.push(
        await page.evaluate(
          async ({ movies, cpuPackage, explained }) => {
            const { Marquee } = await import("./pkg/marquee.js");
            const classifier = await Marquee.load("models/default/", { backend: "cpu", cpuPackage });
            const out = { package: classifier.package, threads: classifier.threads, movies: [] };
            for (const movie of movies) {
              const genres = await classifier.classify(new Uint8Array(movie.poster), movie.plot);
              out.movies.push(genres.map(({ genre, probability }) => ({ genre, probability })));
            }
            // The optional details: the first movie with its title and year, and details of the
            // wrong type.
            const [first] = movies;
            out.reads = classifier.reads;
            const detailed = await classifier.classify(new Uint8Array(first.poster), first.plot, { title: first.title, year: first.year });
            out.withDetails = detailed.map(({ genre, probability }) => ({ genre, probability }));
            out.badDetails = await classifier.classify(null, first.plot, { year: "soon" }).then(() => null, (e) => String(e.message ?? e));
            // Explained from this package's classifier (the explain package answers for each).
            out.explanation = await classifier.explain(new Uint8Array(explained.poster), explained.plot, { genre: explained.genre });
            classifier.dispose();
            return out;
          },
          { movies, cpuPackage, explained },
        ),
      );
    }
  }
  if (config.full) {
    // Explanations through the page's API, each compared with `marquee explain` by browser.rs.
    report.explain = await page.evaluate(async (cases) => {
      const { Marquee } = await import("./pkg/marquee.js");
      const classifier = await Marquee.load("models/default/", { backend: "cpu" });
      const out = { cases: [] };
      for (const c of cases) {
        const started = performance.now();
        const explanation = await classifier.explain(c.poster && new Uint8Array(c.poster), c.plot, { genre: c.genre });
        out.cases.push({ explanation, millis: performance.now() - started });
      }
      out.explainPackageBytes = classifier.explainPackageBytes;
      // Speed: every predicted genre of the first movie explained, against classifying it, on
      // the same page (medians of 5, after the runs above warmed both packages up).
      const median = async (call) => {
        const times = [];
        for (let i = 0; i < 5; i += 1) {
          const started = performance.now();
          await call();
          times.push(performance.now() - started);
        }
        return times.sort((a, b) => a - b)[2];
      };
      const first = cases[0];
      const poster = first.poster && new Uint8Array(first.poster);
      out.classifyMillis = await median(() => classifier.classify(poster, first.plot));
      out.explainAllMillis = await median(() => classifier.explain(poster, first.plot, {}));
      out.classifyPackage = classifier.package;
      const failure = async (call) => {
        try {
          await call();
          return null;
        } catch (error) {
          return error.message;
        }
      };
      out.unknownGenre = await failure(() => classifier.explain(null, cases[0].plot, { genre: "Space Opera" }));
      classifier.dispose();
      out.afterDispose = await failure(() => classifier.explain(null, cases[0].plot, {}));
      return out;
    }, explainCases);
  }
  if (config.webgpu && config.explainOnWebgpu) {
    // A WebGPU classifier's explanation (the explain package answers, on the CPU).
    const [explained] = explainCases;
    report.webgpuExplanation = await page.evaluate(async (c) => {
      const { Marquee } = await import("./pkg/marquee.js");
      const classifier = await Marquee.load("models/default/", { backend: "webgpu" });
      const explanation = await classifier.explain(new Uint8Array(c.poster), c.plot, { genre: c.genre });
      const out = { backend: classifier.backend, explanation };
      classifier.dispose();
      return out;
    }, explained);
  }
  if (!config.full) {
    // The UI checks below do not depend on the backend: a lean run stops at a second visit.
    await page.reload();
    report.reload = await ready(page, "#classifier");
    throw new Done();
  }

  // A sample button classifies in one click.
  const sampleOutcome = page.evaluate(
    () => new Promise((resolve) => document.getElementById("classifier").addEventListener("classified", (e) => resolve(e.detail.results.length), { once: true })),
  );
  await page.locator("#samples button").first().click();
  report.sampleClick = await sampleOutcome;

  // Bad inputs: each shows a clear message, and the classifier keeps working afterwards.
  const bad = config.badInputs;
  report.badInputs.notAnImage = await classify(page, "#classifier", { poster: bad.notAnImage, plot: "" });
  report.badInputs.emptyForm = await classify(page, "#classifier", { poster: null, plot: "   " });
  report.badInputs.hugeImage = await classify(page, "#classifier", { poster: bad.hugeImage, plot: "" });
  report.badInputs.corruptImage = await classify(page, "#classifier", { poster: bad.corruptImage, plot: "" });
  report.badInputs.badYear = await classify(page, "#classifier", { poster: null, plot: "A lighthouse keeper.", yearField: "3000" });
  // The bad-input corpus (tests/corpus/images): an error or bars for each, never a dead widget.
  report.badInputs.corpus = [];
  for (const poster of config.corpus) {
    const outcome = await classify(page, "#classifier", { poster, plot: "" });
    report.badInputs.corpus.push({ file: poster.split("/").pop(), error: outcome.error ?? null, genres: outcome.genres?.length ?? 0 });
  }
  // Plots of emoji only, and of over a megabyte: bars, as from `marquee predict`.
  report.badInputs.plots = [];
  for (const plot of ["🎬🔥💀👻🚀🤖", "A detective hunts a killer through the rain. ".repeat(1 << 15)]) {
    const outcome = await classify(page, "#classifier", { poster: null, plot });
    report.badInputs.plots.push({ length: plot.length, error: outcome.error ?? null, genres: outcome.genres?.length ?? 0 });
  }
  report.badInputs.afterwards = await classify(page, "#classifier", config.movies[0]);
  // Memory over 100 classifications, and a dispose that frees the model: the CPU package's wasm
  // memory (it only grows, never shrinks) and the JS heap, measured around the loop, then after
  // a dispose and a second load, which must fit in the memory the first one freed.
  const movie = { plot: config.movies[0].plot, poster: [...readFileSync(config.movies[0].poster)] };
  report.memory = await page.evaluate(async (movie) => {
    const { Marquee } = await import("./pkg/marquee.js");
    const load = () => Marquee.load("models/default/", { backend: "cpu" });
    const poster = new Uint8Array(movie.poster);
    let classifier = await load();
    const exports = await (await import(`./pkg/${classifier.package}/marquee_web.js`)).default();
    const wasm = () => exports.memory.buffer.byteLength / 1e6;
    const heap = () => performance.memory.usedJSHeapSize / 1e6;
    for (let i = 0; i < 5; i++) await classifier.classify(poster, movie.plot);
    const before = { wasm: wasm(), heap: heap() };
    for (let i = 0; i < 100; i++) await classifier.classify(poster, movie.plot);
    const after = { wasm: wasm(), heap: heap() };
    classifier.dispose();
    classifier = await load();
    await classifier.classify(poster, movie.plot);
    const reloaded = { wasm: wasm(), heap: heap() };
    classifier.dispose();
    return { before, after, reloaded, classifications: 100 };
  }, movie);
  // A bundle that is slow to arrive (2 s before each part) still loads, and classifies.
  await page.route("**/slow-bundle/**", async (route) => {
    const name = new URL(route.request().url()).pathname.split("/").pop();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const real = await route.fetch({ url: new URL(`models/default/${name}`, config.baseUrl).href });
    await route.fulfill({ response: real });
  });
  report.badInputs.slowBundle = await addWidget(page, "slow", "slow-bundle/");
  report.badInputs.slowBundleClassified = await classify(page, "#slow", config.movies[1]);
  report.badInputs.missingBundle = await addWidget(page, "missing", "no-such-bundle/");
  // A bundle whose weights arrive cut in half (the manifest is the real one).
  await page.route("**/truncated-bundle/**", async (route) => {
    const name = new URL(route.request().url()).pathname.split("/").pop();
    const real = await route.fetch({ url: new URL(`models/default/${name}`, config.baseUrl).href });
    let body = await real.body();
    if (name === "model.safetensors") body = body.subarray(0, Math.floor(body.length / 2));
    await route.fulfill({ status: 200, body, contentType: "application/octet-stream" });
  });
  report.badInputs.truncatedBundle = await page.evaluate(async (url) => {
    const { Marquee } = await import("./pkg/marquee.js");
    try {
      await Marquee.load(url, {});
      return { error: null };
    } catch (e) {
      return { error: e.message };
    }
  }, "truncated-bundle/");

  // A second visit: the bundle comes from Cache Storage.
  await page.reload();
  report.reload = await ready(page, "#classifier");
  await page.close();

  // The widget in a plain page, under the Content-Security-Policy the server sends.
  const embed = await context.newPage();
  watch(embed, "embed.html");
  const violations = [];
  await embed.exposeFunction("reportViolation", (v) => violations.push(v));
  await embed.addInitScript(() => document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(`${e.violatedDirective} ${e.blockedURI}`)));
  const response = await embed.goto(new URL("embed.html", config.baseUrl).href);
  report.embed.csp = response.headers()["content-security-policy"] ?? null;
  report.embed.ready = await ready(embed, "#widget");
  report.embed.classified = await classify(embed, "#widget", config.movies[1]);
  // A genre's bar explains it; pressing it again (from the keyboard) hides the explanation.
  report.embed.explained = await pressBar(embed, "#widget", 0, { explains: true });
  if (config.screenshots) await embed.screenshot({ path: join(config.screenshots, `embed-explained-${state.backend}.png`), fullPage: true });
  report.embed.hidden = await pressBar(embed, "#widget", 0, { key: "Enter", explains: false });
  report.embed.globals = await embed.evaluate(() => ["Marquee", "MarqueeClassifier", "init"].filter((n) => n in window));
  report.embed.violations = violations;
  if (config.screenshots) await embed.screenshot({ path: join(config.screenshots, `embed-${state.backend}.png`), fullPage: true });
} catch (error) {
  if (!(error instanceof Done)) report.fatal = String(error.stack ?? error);
} finally {
  await browser.close();
}
const out = JSON.stringify(report, null, 1);
if (config.reportPath) writeFileSync(config.reportPath, out);
console.log(out);
