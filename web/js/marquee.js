// Marquee's browser entry point (copied to www/pkg/marquee.js by scripts/build-web.sh). Five
// wasm packages sit beside it: cpu-threads/, cpu-relaxed/ and cpu/ (burn's CPU backend only, a
// few MB; the first two with relaxed SIMD's fused multiply-add in their matrix products, the
// first also splitting its kernels over web workers, the third with plain SIMD128), webgpu/
// (WebGPU and the CPU) and explain/ (cpu-relaxed with burn's autodiff, for explanations). This
// module fetches the WebGPU package only when the browser offers a WebGPU adapter and the caller
// did not ask for the CPU, so a visitor without WebGPU downloads no WebGPU code, and the explain
// package only on a classifier's first `explain` call. On the CPU it takes cpu-threads/ where the
// page is cross-origin isolated (threads need SharedArrayBuffer; `marquee serve` sends COOP/COEP)
// and the browser compiles relaxed SIMD, else cpu-relaxed/ where it compiles relaxed SIMD, else
// cpu/.
//
//   import init, { Marquee } from "./pkg/marquee.js";
//   await init();                                   // optional: starts nothing until a load
//   const m = await Marquee.load("models/default/", { backend: "auto", onProgress });
//   m.backend; m.package; m.threads; m.fallbackReason; await m.classify(posterBytes, plot, { title, year });
//   await m.explain(posterBytes, plot, { genre: "Horror" }); m.dispose();

const packages = {
  "cpu-threads": new URL("cpu-threads/marquee_web.js", import.meta.url),
  cpu: new URL("cpu/marquee_web.js", import.meta.url),
  "cpu-relaxed": new URL("cpu-relaxed/marquee_web.js", import.meta.url),
  webgpu: new URL("webgpu/marquee_web.js", import.meta.url),
  explain: new URL("explain/marquee_web.js", import.meta.url),
};

/** A one-function module using `f32x4.relaxed_madd`: browsers without relaxed SIMD refuse it. */
function relaxedSimdProbe() {
  const zeros = () => [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const 0
  const body = [0x00, ...zeros(), ...zeros(), ...zeros(), 0xfd, 0x85, 0x02, 0x0b]; // relaxed_madd, end
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types = [0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b]; // () -> v128
  const functions = [0x03, 0x02, 0x01, 0x00];
  const code = [0x0a, body.length + 2, 0x01, body.length, ...body];
  return new Uint8Array([...header, ...types, ...functions, ...code]);
}

/** Whether wasm threads can run here: a cross-origin-isolated page has SharedArrayBuffer. */
function threadsAvailable() {
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
}

/** The CPU package this browser runs fastest: "cpu-threads" on a cross-origin-isolated page with
 * relaxed SIMD, "cpu-relaxed" with relaxed SIMD alone, else "cpu". */
function fastestCpuPackage() {
  let relaxed = false;
  try {
    relaxed = WebAssembly.validate(relaxedSimdProbe());
  } catch {
    relaxed = false;
  }
  if (!relaxed) return "cpu";
  return threadsAvailable() ? "cpu-threads" : "cpu-relaxed";
}

/** Web workers the threaded package starts: one per further core, the page's thread being the
 * first (at most 7: one classification's products do not split usefully over more). */
function helperThreads() {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 2;
  return Math.max(1, Math.min(cores, 8) - 1);
}

const started = new Map();

/** Imports and starts one package once per page; resolves to its module. */
function start(name) {
  if (!started.has(name)) {
    const module = import(packages[name].href).then(async (pkg) => {
      await pkg.default();
      if (name === "cpu-threads") await pkg.startThreads(helperThreads());
      return pkg;
    });
    started.set(
      name,
      module.catch((error) => {
        started.delete(name);
        throw error;
      }),
    );
  }
  return started.get(name);
}

/** Why WebGPU cannot be used here, or null when the browser offers an adapter. */
async function webgpuUnavailable() {
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return "this browser has no navigator.gpu";
  try {
    const adapter = await gpu.requestAdapter();
    return adapter ? null : "the browser offers no WebGPU adapter";
  } catch (error) {
    return `navigator.gpu.requestAdapter failed: ${error?.message ?? error}`;
  }
}

const choices = new Map();

/** Which package serves `backend` ("auto", "webgpu" or "cpu"), and why the CPU one if so; the
 * browser is asked once per page. */
function choosePackage(backend) {
  if (!choices.has(backend)) choices.set(backend, askBrowser(backend));
  return choices.get(backend);
}

async function askBrowser(backend) {
  if (backend === "cpu") return { name: fastestCpuPackage(), reason: null };
  if (backend !== "auto" && backend !== "webgpu") {
    throw new Error(`unknown backend "${backend}": use "auto", "webgpu" or "cpu"`);
  }
  const reason = await webgpuUnavailable();
  if (reason === null) return { name: "webgpu", reason: null };
  if (backend === "webgpu") throw new Error(`WebGPU is not available: ${reason}`);
  return { name: fastestCpuPackage(), reason };
}

const cpuPackages = ["cpu-threads", "cpu-relaxed", "cpu"];

/** The package to run: `cpuPackage` ("cpu-threads", "cpu-relaxed" or "cpu") overrides the CPU
 * choice. */
async function resolvePackage(backend, cpuPackage) {
  const chosen = await choosePackage(backend);
  if (!cpuPackage || chosen.name === "webgpu") return chosen;
  if (!cpuPackages.includes(cpuPackage)) {
    throw new Error(`unknown cpuPackage "${cpuPackage}": use ${cpuPackages.map((p) => `"${p}"`).join(", ")}`);
  }
  if (cpuPackage === "cpu-threads" && !threadsAvailable()) {
    throw new Error('cpuPackage "cpu-threads" needs a cross-origin-isolated page (COOP/COEP headers)');
  }
  return { ...chosen, name: cpuPackage };
}

/** Starts `chosen`'s package for `backend`; a package that is not there (not built yet, as
 * while the demo builds the WebGPU and threaded ones) gives way: WebGPU to the CPU where the
 * backend is "auto", threads to one thread, relaxed SIMD to plain SIMD128. */
async function startChosen(chosen, backend) {
  try {
    return { chosen, pkg: await start(chosen.name) };
  } catch (error) {
    if (chosen.name === "webgpu" && backend === "auto") {
      const reason = `the WebGPU package did not start (${error?.message ?? error})`;
      return startChosen({ name: fastestCpuPackage(), reason }, "cpu");
    }
    const next = cpuPackages[cpuPackages.indexOf(chosen.name) + 1];
    if (!next) throw error;
    return startChosen({ ...chosen, name: next }, backend);
  }
}

/** Kept for the documented `await init()`: packages start on the first load. */
export default async function init() {}

/** A classifier loaded from a bundle: the wasm package's, with the package choice and
 * explanations added. */
export class Marquee {
  #inner;
  #fallbackReason;
  #url;
  /** The explain package's `MarqueeExplainer` for the same bundle (a promise), once asked for. */
  #explainer = null;
  #disposed = false;

  constructor(inner, fallbackReason, packageName, url) {
    this.#inner = inner;
    this.#fallbackReason = fallbackReason;
    this.#url = url;
    /** Which wasm package runs it: "cpu-threads", "cpu-relaxed", "cpu" or "webgpu". */
    this.package = packageName;
    /** How many threads its CPU kernels use: the page's, plus the web workers of "cpu-threads". */
    this.threads = packageName === "cpu-threads" ? 1 + helperThreads() : 1;
    /** The size of the explain package's .wasm once the first `explain` fetched it (null before,
     * and where the browser does not tell the size of what it fetched). */
    this.explainPackageBytes = null;
  }

  /** Fetches and starts the wasm package that `backend` ("auto", "webgpu", "cpu") needs, ahead
   * of a load; resolves to its name ("cpu-threads", "cpu-relaxed", "cpu" or "webgpu"). `cpuPackage` picks the
   * CPU package instead of the browser check. */
  static async start(backend = "auto", cpuPackage = undefined) {
    const { chosen } = await startChosen(await resolvePackage(backend, cpuPackage), backend);
    return chosen.name;
  }

  /** Downloads (or reads from Cache Storage), verifies and builds the bundle at `url`. Options:
   * `backend` ("auto", "webgpu", "cpu"), `onProgress`, and `cpuPackage` ("cpu-threads",
   * "cpu-relaxed" or "cpu": which CPU package to run, instead of the fastest the browser runs). */
  static async load(url, options = {}) {
    const backend = options?.backend ?? "auto";
    const { chosen, pkg } = await startChosen(await resolvePackage(backend, options?.cpuPackage), backend);
    const onCpu = chosen.name !== "webgpu";
    const inner = await pkg.Marquee.load(url, { ...options, backend: onCpu ? "cpu" : backend });
    return new Marquee(inner, chosen.reason, chosen.name, url);
  }

  /** The URL of the .wasm a package runs from. */
  static wasmUrl(packageName) {
    return new URL(`${packageName}/marquee_web_bg.wasm`, import.meta.url).href;
  }

  get backend() {
    return this.#inner.backend;
  }

  get fallbackReason() {
    return this.#inner.fallbackReason ?? this.#fallbackReason ?? undefined;
  }

  get fromCache() {
    return this.#inner.fromCache;
  }

  get name() {
    return this.#inner.name;
  }

  get genres() {
    return this.#inner.genres;
  }

  get reads() {
    return this.#inner.reads;
  }

  get info() {
    return this.#inner.info;
  }

  /** Each genre's `{ genre, probability, threshold, predicted }`, most probable first.
   * `details`: optional `{ title, year }`, read where the bundle's lexical branch was made with
   * them (`reads.title`, `reads.year`). */
  classify(poster, plot, details) {
    return this.#inner.classify(poster, plot, details ?? null);
  }

  /** Why the model gives the movie its genres: per explained genre `{ genre, probability,
   * threshold, predicted, logit, words: [{ word, start, end, score, lexical, read }], poster:
   * { rows, cols, scores } | null, sources: { text, image, lexical, joint, bias }, route,
   * wordMethod, posterMethod }` (`start`/`end` index `plot`; a score above 0 pushes the genre
   * up). `genre`: one name gives that genre's explanation; a list of names, or none (every
   * predicted genre), gives a list. The first call fetches the explain package and builds the
   * bundle again on the CPU (its parts come from Cache Storage). */
  async explain(poster, plot, options = {}) {
    return (await this.#loadExplainer()).explain(poster, plot, options ?? {});
  }

  /** The explainer, loaded on the first call. */
  #loadExplainer() {
    if (this.#disposed) return Promise.reject(new Error("this classifier was disposed; load it again"));
    if (!this.#explainer) {
      this.#explainer = start("explain")
        .then((pkg) => {
          const wasm = performance.getEntriesByName(Marquee.wasmUrl("explain"))[0];
          this.explainPackageBytes = wasm?.decodedBodySize || null;
          return pkg.MarqueeExplainer.load(this.#url, {});
        })
        .catch((error) => {
          this.#explainer = null;
          throw error;
        });
    }
    return this.#explainer;
  }

  /** Frees the model, and the explainer where one was loaded; later calls reject. */
  dispose() {
    this.#inner.dispose();
    this.#disposed = true;
    this.#explainer?.then((explainer) => explainer.dispose(), () => {});
    this.#explainer = null;
  }
}
