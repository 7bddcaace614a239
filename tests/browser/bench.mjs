// Drives www/bench.html in headless Chromium, once per backend and twice per browser profile
// (the first visit downloads the bundle, the second loads it from Cache Storage), prints a
// Markdown table and writes the reports as JSON to `out` when given. With `peer`, the second
// visit also runs onnxruntime-web on the same fused model and movie (www/bench-peer/).
// Usage: node bench.mjs CONFIG_JSON, with {baseUrl, chromium?, backends: ["cpu", "webgpu"],
// runs?, webgpuRuns? (default: runs), peer?, out?}; a backend "cpu@cpu" (or "cpu@cpu-relaxed",
// "cpu@cpu-threads") runs that CPU package instead of the one the browser check picks. The peer
// runs on as many threads as the Marquee package did. scripts/bench-browser.sh starts the server and runs it.
import { writeFileSync } from "node:fs";
import { launch } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);
const runs = config.runs ?? 10;

/** Opens bench.html once and returns its report. */
async function visit(context, requested, peer) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const [backend, cpuPackage] = requested.split("@");
  const count = backend === "webgpu" ? (config.webgpuRuns ?? runs) : runs;
  const query = `backend=${backend}${cpuPackage ? `&package=${cpuPackage}` : ""}&runs=${count}${peer ? "&peer=1" : ""}`;
  const url = new URL(`bench.html?${query}`, config.baseUrl).href;
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state, null, { timeout: config.timeoutMs ?? 600000 });
  const report = JSON.parse(await page.locator("#report").textContent());
  await page.close();
  if (report.error || errors.length) throw new Error(`${url}: ${report.error ?? errors.join("; ")}`);
  return report;
}

const results = [];
for (const backend of config.backends) {
  const onCpu = backend.startsWith("cpu");
  const browser = await launch({ executablePath: config.chromium, webgpu: !onCpu });
  try {
    const first = await visit(browser.context, backend, false);
    const second = await visit(browser.context, backend, config.peer && onCpu);
    results.push({ requested: backend, firstVisit: first, secondVisit: second });
  } finally {
    await browser.close();
  }
}

if (config.out) writeFileSync(config.out, JSON.stringify(results, null, 2) + "\n");
const ms = (v) => v.toFixed(0);
const mb = (v) => (v / 1e6).toFixed(2);
console.log("| backend (package) | ready, first visit ms | ready, second visit ms | wasm start ms | bundle load (cached) ms | first classification ms | steady classification ms (median) | .wasm MB | bundle MB |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const { firstVisit: a, secondVisit: b } of results) {
  const backend = `${b.backend} (${b.package})${b.fallbackReason ? " (fallback)" : ""}`;
  console.log(
    `| ${backend} | ${ms(a.readyMs)} | ${ms(b.readyMs)} | ${ms(b.wasmStartMs)} | ${ms(b.loadMs)} | ${ms(b.firstMs)} | ${ms(b.steadyMedianMs)} (${b.runs} runs) | ${mb(b.wasmBytes[b.package])} | ${mb(b.bundleBytes)} (${b.dtype}) |`,
  );
}
const peers = results.flatMap((r) => (r.secondVisit.peers ?? []).map((p) => ({ marquee: r.secondVisit, ...p })));
if (peers.length) {
  console.log("\n| peer, same fused model and movie | threads (both) | session start ms | first run ms | steady run ms (median, alternating) | Marquee CPU ms (median, alternating) | Marquee / peer |");
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const p of peers) {
    console.log(`| ${p.name} (${p.tokens} tokens) | ${p.threads} | ${ms(p.startMs)} | ${ms(p.firstMs)} | ${ms(p.steadyMedianMs)} | ${ms(p.marqueeMedianMs)} (${p.marquee.package}) | ${(p.marqueeMedianMs / p.steadyMedianMs).toFixed(2)}x |`);
  }
}
const cpuRuns = results.filter((r) => r.secondVisit.backend === "cpu");
if (cpuRuns.length) {
  const check = (ok) => (ok ? "met" : "missed");
  const { firstVisit: a, secondVisit: b } = cpuRuns[0];
  const t = b.targets;
  console.log("\n| target (CPU packages) | measured | limit | |");
  console.log("|---|---:|---:|---|");
  for (const name of ["cpu", "cpu-relaxed", "cpu-threads"]) {
    const bytes = b.wasmBytes[name];
    console.log(`| CPU package .wasm (${name}) | ${mb(bytes)} MB | ${mb(t.cpuWasmBytes)} MB | ${check(bytes <= t.cpuWasmBytes)} |`);
  }
  console.log(`| default bundle | ${mb(b.bundleBytes)} MB | ${mb(t.bundleBytes)} MB | ${check(b.bundleBytes <= t.bundleBytes)} |`);
  console.log(`| first visit ready (${b.package}) | ${ms(a.readyMs)} ms | ${t.firstVisitReadyMs} ms | ${check(a.readyMs <= t.firstVisitReadyMs)} |`);
  console.log(`| second visit ready (${b.package}) | ${ms(b.readyMs)} ms | ${t.secondVisitReadyMs} ms | ${check(b.readyMs <= t.secondVisitReadyMs)} |`);
  for (const { secondVisit: run } of cpuRuns) {
    for (const p of run.peers ?? []) {
      const ratio = p.marqueeMedianMs / p.steadyMedianMs;
      const threads = `${p.threads} thread${p.threads > 1 ? "s" : ""} each`;
      console.log(`| fused classification (${run.package}) / ${p.name}, ${threads} | ${ratio.toFixed(2)}x | ${t.peerRatio}x | ${check(ratio <= t.peerRatio)} |`);
    }
  }
}
console.log(`\nModel: ${results[0]?.secondVisit.name}; sample movie ${results[0]?.secondVisit.sample}; ${results[0]?.secondVisit.userAgent}`);
