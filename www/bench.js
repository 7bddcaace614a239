// The browser benchmark behind bench.html: times the wasm start, the bundle load (network or
// Cache Storage), the first and the steady-state classification of a sample movie, and reports
// the .wasm and bundle sizes. tests/browser/bench.mjs drives it in headless Chromium; the page
// sets data-state="done" (or "failed") on <body> and writes its report as JSON in #report.
import init, { Marquee } from "./pkg/marquee_web.js";

const params = new URLSearchParams(location.search);
const backend = params.get("backend") ?? "auto";
const runs = Math.max(1, Number(params.get("runs") ?? 10));
const bundleUrl = new URL(params.get("model") ?? "models/default/", document.baseURI).href;

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
  const megabytes = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  const ms = (value) => `${value.toFixed(0)} ms`;
  const rows = [
    ["Model", report.name],
    ["Backend", report.backend + (report.fallbackReason ? ` (${report.fallbackReason})` : "")],
    ["Bundle from", report.fromCache ? "Cache Storage" : "the network"],
    ["wasm start", ms(report.wasmStartMs)],
    ["Bundle load", ms(report.loadMs)],
    ["First classification", ms(report.firstMs)],
    [`Steady classification (median of ${report.runs})`, ms(report.steadyMedianMs)],
    [".wasm size", megabytes(report.wasmBytes)],
    ["Bundle size", megabytes(report.bundleBytes)],
  ];
  const body = table.querySelector("tbody");
  for (const [measure, value] of rows) {
    const row = body.insertRow();
    row.insertCell().textContent = measure;
    row.insertCell().textContent = value;
  }
  table.hidden = false;
}

async function run() {
  const [wasmStartMs] = await timed(() => init({ module_or_path: new URL("pkg/marquee_web_bg.wasm", import.meta.url) }));
  const [loadMs, classifier] = await timed(() => Marquee.load(bundleUrl, { backend }));
  const samples = await (await fetch("samples/samples.json")).json();
  const sample = samples[0];
  const poster = new Uint8Array(await (await fetch(sample.poster)).arrayBuffer());
  const [firstMs] = await timed(() => classifier.classify(poster, sample.plot));
  const steady = [];
  for (let i = 0; i < runs; i++) {
    status.textContent = `Classifying ${i + 1}/${runs}…`;
    steady.push((await timed(() => classifier.classify(poster, sample.plot)))[0]);
  }
  const manifest = await (await fetch(new URL("manifest.json", bundleUrl))).json();
  const report = {
    name: classifier.name,
    backend: classifier.backend,
    fallbackReason: classifier.fallbackReason ?? null,
    fromCache: classifier.fromCache,
    sample: sample.id,
    wasmStartMs,
    loadMs,
    firstMs,
    steadyMedianMs: median(steady),
    steadyMs: steady,
    runs,
    wasmBytes: await byteLength(new URL("pkg/marquee_web_bg.wasm", import.meta.url)),
    bundleBytes: Object.values(manifest.parts).reduce((sum, part) => sum + part.bytes, 0),
    userAgent: navigator.userAgent,
  };
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
