/**
 * Headless Chromium for the browser tests (the HTML report, the page of `tensorlaws serve`, and
 * vitest.browser.config.ts): the system's Chromium (Playwright cannot download one here), with
 * a WebGPU adapter on SwiftShader where there is no GPU, kept off the network.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright";

export const CHROMIUM = process.env.TENSORLAWS_CHROMIUM ?? "/usr/bin/chromium";

export const chromiumArgs: string[] = [
  "--headless=new",
  "--enable-unsafe-webgpu",
  "--use-webgpu-adapter=swiftshader",
  "--enable-features=Vulkan",
  // CI machines have no network: without these Chromium keeps retrying its background calls.
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  // Chromium's sandbox refuses to start as root (CI containers).
  ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM} (apt-get install chromium, or set TENSORLAWS_CHROMIUM)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs });
}
