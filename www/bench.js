// The browser benchmark behind bench.html: times the wasm package's start, the bundle load
// (network or Cache Storage), the time from navigation to a ready classifier, the first and the
// steady-state classification of a sample movie, and reports the sizes of the wasm packages and
// of the bundle. With `?peer=1` it then runs the same fused model (MiniLM + EfficientNet-Lite0)
// in onnxruntime-web, the engine under transformers.js, on the same movie, its runs alternating
// with Marquee's classifications, on as many threads as Marquee's CPU package used (one, or the threaded package's count on a cross-origin-isolated
// page) (bench/export_onnx.py makes its files; scripts/bench-browser.sh copies them and
// onnxruntime-web into bench-peer/). tests/browser/bench.mjs drives it in headless
// Chromium; the page sets data-state="done" (or "failed") on <body> and writes its report as
// JSON in #report.
import { Marquee } from "./pkg/marquee.js";

const params = new URLSearchParams(location.search);
const backend = params.get("backend") ?? "auto";
// "cpu-threads", "cpu-relaxed" or "cpu" runs that CPU package instead of the one the browser
// check picks.
const cpuPackage = params.get("package") ?? undefined;
const runs = Math.max(1, Number(params.get("runs") ?? 10));
// Classifications after the first and before the timed ones, for Marquee and the peer alike: the
// browser compiles a module's hot functions again, optimised, while it runs (V8's tiering).
const warmup = Math.max(0, Number(params.get("warmup") ?? 3));
const peer = params.get("peer") === "1";
const bundleUrl = new URL(params.get("model") ?? "models/default/", document.baseURI).href;

/** The targets of issue 16, checked on every run. */
const TARGETS = {
  cpuWasmBytes: 4e6,
  bundleBytes: 30e6,
  firstVisitReadyMs: 2500,
  secondVisitReadyMs: 1000,
  peerRatio: 0.8,
};

const status = document.getElementById("status");
const table = document.getElementById("table");
const reportView = document.getElementById("report");

/** Milliseconds that `work` takes, and its result. */
async function timed(work) {
  const start = performance.now();
  const value = await work();
  return [performance.now() - start, value];
}

/** The body length of a URL, in bytes. */
async function byteLength(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
  return (await response.arrayBuffer()).byteLength;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function show(report) {
  const megabytes = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  const ms = (value) => `${value.toFixed(0)} ms`;
  const rows = [
    ["Model", report.name, ""],
    ["Backend (package)", `${report.backend} (${report.package})${report.fallbackReason ? `: ${report.fallbackReason}` : ""}`, ""],
    ["Threads", String(report.threads), ""],
    ["Bundle from", report.fromCache ? "Cache Storage" : "the network", ""],
    ["wasm package start", ms(report.wasmStartMs), ""],
    ["Bundle load", ms(report.loadMs), ""],
    ["Ready (from navigation)", ms(report.readyMs), report.fromCache ? `≤ ${TARGETS.secondVisitReadyMs} ms` : `≤ ${TARGETS.firstVisitReadyMs} ms`],
    ["First classification", ms(report.firstMs), ""],
    [`Steady classification (median of ${report.runs}, after ${report.warmup} untimed)`, ms(report.steadyMedianMs), ""],
    ["CPU package .wasm (SIMD128)", megabytes(report.wasmBytes.cpu), `≤ ${megabytes(TARGETS.cpuWasmBytes)}`],
    ["CPU package .wasm (relaxed SIMD)", megabytes(report.wasmBytes["cpu-relaxed"]), `≤ ${megabytes(TARGETS.cpuWasmBytes)}`],
    ["CPU package .wasm (threads)", megabytes(report.wasmBytes["cpu-threads"]), `≤ ${megabytes(TARGETS.cpuWasmBytes)}`],
    ["WebGPU package .wasm", megabytes(report.wasmBytes.webgpu), ""],
    ["Bundle", `${megabytes(report.bundleBytes)} (${report.dtype})`, `≤ ${megabytes(TARGETS.bundleBytes)}`],
  ];
  for (const p of report.peers ?? []) {
    rows.push([`${p.name} (${p.threads} thread${p.threads > 1 ? "s" : ""}): session start`, ms(p.startMs), ""]);
    rows.push([`${p.name}: steady classification (median of ${p.runs}, alternating with Marquee)`, ms(p.steadyMedianMs), ""]);
    rows.push([`Marquee, alternating with ${p.name} (median of ${p.runs})`, ms(p.marqueeMedianMs), ""]);
    rows.push([`Marquee / ${p.name}`, `${(p.marqueeMedianMs / p.steadyMedianMs).toFixed(2)}x`, `≤ ${TARGETS.peerRatio}x`]);
  }
  const body = table.querySelector("tbody");
  for (const [measure, value, target] of rows) {
    const row = body.insertRow();
    row.insertCell().textContent = measure;
    row.insertCell().textContent = value;
    row.insertCell().textContent = target;
  }
  table.hidden = false;
}

/** Resolves after `ms` milliseconds: between timed runs, so that threads one engine leaves
 * spinning (Marquee's helpers poll for a few milliseconds, onnxruntime's workers spin too) are
 * idle before the other engine's run starts. */
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The fused model in onnxruntime-web (wasm, on `threads` threads), on the sample's token ids
 * and pixels, timed in alternation with `marquee` (Marquee's classification of the same movie,
 * in the same tab): the two engines meet the same moments of a busy machine, so their ratio
 * stays fair where separate series would not. */
async function runPeer(file, name, threads, marquee) {
  const ort = await import(new URL("bench-peer/ort/ort.wasm.min.mjs", document.baseURI).href);
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = new URL("bench-peer/ort/", document.baseURI).href;
  const inputs = await (await fetch("bench-peer/inputs.json")).json();
  const [startMs, session] = await timed(() => ort.InferenceSession.create(new URL(`bench-peer/${file}`, document.baseURI).href));
  const ids = BigInt64Array.from(inputs.input_ids.map(BigInt));
  const feeds = {
    input_ids: new ort.Tensor("int64", ids, [1, ids.length]),
    attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    images: new ort.Tensor("float32", Float32Array.from(inputs.images), inputs.image_shape),
  };
  const [firstMs] = await timed(() => session.run(feeds));
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const [steady, marqueeSteady] = [[], []];
  for (let i = 0; i < runs; i++) {
    status.textContent = `${name} and Marquee, alternating: ${i + 1}/${runs}…`;
    await pause(20);
    marqueeSteady.push((await timed(marquee))[0]);
    await pause(20);
    steady.push((await timed(() => session.run(feeds)))[0]);
  }
  await session.release();
  return {
    name,
    file,
    threads,
    tokens: ids.length,
    startMs,
    firstMs,
    steadyMedianMs: median(steady),
    steadyMs: steady,
    marqueeMedianMs: median(marqueeSteady),
    marqueeMs: marqueeSteady,
    runs,
    warmup,
  };
}

async function run() {
  const [wasmStartMs, packageName] = await timed(() => Marquee.start(backend, cpuPackage));
  const [loadMs, classifier] = await timed(() => Marquee.load(bundleUrl, { backend, cpuPackage }));
  const readyMs = performance.now();
  const samples = await (await fetch("samples/samples.json")).json();
  const sample = samples[0];
  const poster = new Uint8Array(await (await fetch(sample.poster)).arrayBuffer());
  const [firstMs] = await timed(() => classifier.classify(poster, sample.plot));
  for (let i = 0; i < warmup; i++) await classifier.classify(poster, sample.plot);
  const steady = [];
  for (let i = 0; i < runs; i++) {
    status.textContent = `Classifying ${i + 1}/${runs}…`;
    steady.push((await timed(() => classifier.classify(poster, sample.plot)))[0]);
  }
  const manifest = await (await fetch(new URL("manifest.json", bundleUrl))).json();
  const report = {
    name: classifier.name,
    backend: classifier.backend,
    package: packageName,
    threads: classifier.threads,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    fallbackReason: classifier.fallbackReason ?? null,
    fromCache: classifier.fromCache,
    sample: sample.id,
    wasmStartMs,
    loadMs,
    readyMs,
    firstMs,
    steadyMedianMs: median(steady),
    steadyMs: steady,
    runs,
    warmup,
    wasmBytes: {
      cpu: await byteLength(Marquee.wasmUrl("cpu")),
      "cpu-relaxed": await byteLength(Marquee.wasmUrl("cpu-relaxed")),
      "cpu-threads": await byteLength(Marquee.wasmUrl("cpu-threads")),
      webgpu: await byteLength(Marquee.wasmUrl("webgpu")),
    },
    bundleBytes: Object.values(manifest.parts).reduce((sum, part) => sum + part.bytes, 0),
    dtype: manifest.dtype,
    targets: TARGETS,
    userAgent: navigator.userAgent,
  };
  if (peer) {
    report.peers = [];
    const marquee = () => classifier.classify(poster, sample.plot);
    for (const [file, name] of [
      ["fusion.onnx", "onnxruntime-web f32"],
      ["fusion-int8.onnx", "onnxruntime-web int8"],
    ]) {
      report.peers.push(await runPeer(file, name, report.threads, marquee));
    }
  }
  classifier.dispose();
  return report;
}

try {
  const report = await run();
  show(report);
  reportView.textContent = JSON.stringify(report, null, 2);
  status.textContent = "Done.";
  document.body.dataset.state = "done";
} catch (error) {
  status.textContent = `The benchmark failed: ${error.message ?? error}`;
  reportView.textContent = JSON.stringify({ error: String(error.message ?? error) });
  document.body.dataset.state = "failed";
}
