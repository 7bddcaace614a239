// Headless Chromium as the browser tests and the browser benchmark start it: a fresh profile,
// the flags that keep it quiet offline, and WebGPU (SwiftShader here) only when asked for;
// without it `requestAdapter()` returns null, which is the CPU-fallback case.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Starts Chromium (`executablePath`, default /usr/bin/chromium); `close()` also removes its profile. */
export async function launch({ executablePath, webgpu, viewport }) {
  const profile = mkdtempSync(join(tmpdir(), "marquee-chromium-"));
  const args = ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  if (webgpu) args.push("--enable-unsafe-webgpu");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: executablePath ?? "/usr/bin/chromium",
    headless: true,
    args,
    ...(viewport ? { viewport } : {}),
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
