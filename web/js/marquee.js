// Marquee's browser entry point (copied to www/pkg/marquee.js by scripts/build-web.sh). Three
// wasm packages sit beside it: cpu-relaxed/ and cpu/ (burn's CPU backend only, a few MB; the
// first with relaxed SIMD's fused multiply-add in its matrix products, the second with plain
// SIMD128) and webgpu/ (WebGPU and the CPU). This module fetches the WebGPU package only when the
// browser offers a WebGPU adapter and the caller did not ask for the CPU, so a visitor without
// WebGPU downloads no WebGPU code; otherwise it takes cpu-relaxed/ where the browser compiles
// relaxed SIMD, else cpu/.
//
//   import init, { Marquee } from "./pkg/marquee.js";
//   await init();                                   // optional: starts nothing until a load
//   const m = await Marquee.load("models/default/", { backend: "auto", onProgress });
//   m.backend; m.package; m.fallbackReason; await m.classify(posterBytes, plot); m.dispose();

const packages = {
  cpu: new URL("cpu/marquee_web.js", import.meta.url),
  "cpu-relaxed": new URL("cpu-relaxed/marquee_web.js", import.meta.url),
  webgpu: new URL("webgpu/marquee_web.js", import.meta.url),
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

/** The CPU package this browser runs fastest: "cpu-relaxed" where it has relaxed SIMD. */
function fastestCpuPackage() {
  try {
    return WebAssembly.validate(relaxedSimdProbe()) ? "cpu-relaxed" : "cpu";
  } catch {
    return "cpu";
  }
}
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
  if (backend === "cpu") return { name: fastestCpuPackage(), reason: null };
  if (backend !== "auto" && backend !== "webgpu") {
    throw new Error(`unknown backend "${backend}": use "auto", "webgpu" or "cpu"`);
  }
  const reason = await webgpuUnavailable();
  if (reason === null) return { name: "webgpu", reason: null };
  if (backend === "webgpu") throw new Error(`WebGPU is not available: ${reason}`);
  return { name: fastestCpuPackage(), reason };
}

/** The package to run: `cpuPackage` ("cpu" or "cpu-relaxed") overrides the CPU choice. */
async function resolvePackage(backend, cpuPackage) {
  const chosen = await choosePackage(backend);
  if (!cpuPackage || chosen.name === "webgpu") return chosen;
  if (cpuPackage !== "cpu" && cpuPackage !== "cpu-relaxed") {
    throw new Error(`unknown cpuPackage "${cpuPackage}": use "cpu" or "cpu-relaxed"`);
  }
  return { ...chosen, name: cpuPackage };
}

/** Starts `chosen`'s package for `backend`; a package that is not there (not built yet, as
 * while the demo builds the WebGPU one) gives way: WebGPU to the CPU where the backend is "auto",
 * relaxed SIMD to plain SIMD128. */
async function startChosen(chosen, backend) {
  try {
    return { chosen, pkg: await start(chosen.name) };
  } catch (error) {
    if (chosen.name === "webgpu" && backend === "auto") {
      const reason = `the WebGPU package did not start (${error?.message ?? error})`;
      return startChosen({ name: fastestCpuPackage(), reason }, "cpu");
    }
    if (chosen.name !== "cpu-relaxed") throw error;
    const plain = { ...chosen, name: "cpu" };
    return { chosen: plain, pkg: await start("cpu") };
  }
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
    /** Which wasm package runs it: "cpu-relaxed", "cpu" or "webgpu". */
    this.package = packageName;
  }

  /** Fetches and starts the wasm package that `backend` ("auto", "webgpu", "cpu") needs, ahead
   * of a load; resolves to its name ("cpu-relaxed", "cpu" or "webgpu"). `cpuPackage` picks the
   * CPU package instead of the browser check. */
  static async start(backend = "auto", cpuPackage = undefined) {
    const { chosen } = await startChosen(await resolvePackage(backend, cpuPackage), backend);
    return chosen.name;
  }

  /** Downloads (or reads from Cache Storage), verifies and builds the bundle at `url`. Options:
   * `backend` ("auto", "webgpu", "cpu"), `onProgress`, and `cpuPackage` ("cpu" or
   * "cpu-relaxed": which CPU package to run, instead of the fastest the browser compiles). */
  static async load(url, options = {}) {
    const backend = options?.backend ?? "auto";
    const { chosen, pkg } = await startChosen(await resolvePackage(backend, options?.cpuPackage), backend);
    const onCpu = chosen.name !== "webgpu";
    const inner = await pkg.Marquee.load(url, { ...options, backend: onCpu ? "cpu" : backend });
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
