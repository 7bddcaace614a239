// Drives www/bench.html in headless Chromium, once per backend and twice per browser profile
// (the first visit downloads the bundle, the second loads it from Cache Storage), prints a
// Markdown table and writes the reports as JSON to `out` when given.
// Usage: node bench.mjs CONFIG_JSON, with {baseUrl, chromium?, backends: ["cpu", "webgpu"],
// runs?, out?}. scripts/bench-browser.sh starts the server and runs it.
import { writeFileSync } from "node:fs";
import { launch } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);
const runs = config.runs ?? 10;

/** Opens bench.html once and returns its report. */
async function visit(context, backend) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const url = new URL(`bench.html?backend=${backend}&runs=${runs}`, config.baseUrl).href;
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state, null, { timeout: config.timeoutMs ?? 600000 });
  const report = JSON.parse(await page.locator("#report").textContent());
  await page.close();
  if (report.error || errors.length) throw new Error(`${url}: ${report.error ?? errors.join("; ")}`);
  return report;
}

const results = [];
for (const backend of config.backends) {
  const browser = await launch({ executablePath: config.chromium, webgpu: backend !== "cpu" });
  try {
    const first = await visit(browser.context, backend);
    const second = await visit(browser.context, backend);
    results.push({ requested: backend, firstVisit: first, secondVisit: second });
  } finally {
    await browser.close();
  }
}

if (config.out) writeFileSync(config.out, JSON.stringify(results, null, 2) + "\n");
const ms = (v) => v.toFixed(0);
console.log("| backend | bundle load, first visit (network) ms | cold load, second visit (Cache Storage) ms | wasm start ms | first classification ms | steady classification ms (median) | .wasm MB | bundle MB |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const { firstVisit: a, secondVisit: b } of results) {
  const backend = b.backend + (b.fallbackReason ? " (fallback)" : "");
  console.log(
    `| ${backend} | ${ms(a.loadMs)} | ${ms(b.loadMs)} | ${ms(b.wasmStartMs)} | ${ms(b.firstMs)} | ${ms(b.steadyMedianMs)} (${b.runs} runs) | ${(b.wasmBytes / 1e6).toFixed(1)} | ${(b.bundleBytes / 1e6).toFixed(1)} |`,
  );
}
console.log(`\nModel: ${results[0]?.secondVisit.name}; sample movie ${results[0]?.secondVisit.sample}; ${results[0]?.secondVisit.userAgent}`);
