// Marquee's browser entry point (copied to www/pkg/marquee.js by scripts/build-web.sh). Two
// wasm packages sit beside it: cpu/ (burn's CPU backend only, a few MB) and webgpu/ (WebGPU and
// the CPU). This module fetches the WebGPU package only when the browser offers a WebGPU adapter
// and the caller did not ask for the CPU, so a visitor without WebGPU downloads no WebGPU code.
//
//   import init, { Marquee } from "./pkg/marquee.js";
//   await init();                                   // optional: starts nothing until a load
//   const m = await Marquee.load("models/default/", { backend: "auto", onProgress });
//   m.backend; m.fallbackReason; await m.classify(posterBytes, plot); m.dispose();

const packages = {
  cpu: new URL("cpu/marquee_web.js", import.meta.url),
  webgpu: new URL("webgpu/marquee_web.js", import.meta.url),
};
const started = new Map();

/** Imports and starts one package once per page; resolves to its module. */
function start(name) {
  if (!started.has(name)) {
    const module = import(packages[name].href).then(async (pkg) => {
      await pkg.default();
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
  if (backend === "cpu") return { name: "cpu", reason: null };
  if (backend !== "auto" && backend !== "webgpu") {
    throw new Error(`unknown backend "${backend}": use "auto", "webgpu" or "cpu"`);
  }
  const reason = await webgpuUnavailable();
  if (reason === null) return { name: "webgpu", reason: null };
  if (backend === "webgpu") throw new Error(`WebGPU is not available: ${reason}`);
  return { name: "cpu", reason };
}

/** Kept for the documented `await init()`: packages start on the first load. */
export default async function init() {}

/** A classifier loaded from a bundle: the wasm package's, with the package choice added. */
export class Marquee {
  #inner;
  #fallbackReason;

  constructor(inner, fallbackReason, packageName) {
    this.#inner = inner;
    this.#fallbackReason = fallbackReason;
    /** Which wasm package runs it: "cpu" or "webgpu". */
    this.package = packageName;
  }

  /** Fetches and starts the wasm package that `backend` ("auto", "webgpu", "cpu") needs, ahead
   * of a load; resolves to its name ("cpu" or "webgpu"). */
  static async start(backend = "auto") {
    const chosen = await choosePackage(backend);
    await start(chosen.name);
    return chosen.name;
  }

  /** Downloads (or reads from Cache Storage), verifies and builds the bundle at `url`. */
  static async load(url, options = {}) {
    const backend = options?.backend ?? "auto";
    const chosen = await choosePackage(backend);
    const pkg = await start(chosen.name);
    const inner = await pkg.Marquee.load(url, { ...options, backend: chosen.name === "cpu" ? "cpu" : backend });
    return new Marquee(inner, chosen.reason, chosen.name);
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

  classify(poster, plot) {
    return this.#inner.classify(poster, plot);
  }

  dispose() {
    this.#inner.dispose();
  }
}
