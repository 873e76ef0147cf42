// What the e2e drivers share: argument errors, WAV files for Chromium's fake microphone, a headless
// Debian Chromium with one page whose console problems are collected, joining and leaving the
// room through the page, and one run that always reports a result object and exits with its code.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

export function usage(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** Seconds since `started` (ms), to one decimal. */
export const secondsSince = (started) => Math.round((Date.now() - started) / 100) / 10;

/** Write 16-bit PCM as a WAV file at `path`. */
export async function writeWav(path, pcm, { rate, channels = 1 }) {
  const frame = channels * 2;
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * frame, 28);
  header.writeUInt16LE(frame, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(pcm.length, 40);
  await writeFile(path, Buffer.concat([header, pcm]));
  return path;
}

/** Headless Chromium with a fake microphone playing `micWav` (its beeps when none), and one page
 * whose console errors, warnings and page errors go into `result.console`. */
export async function openPage({ executablePath, micWav, viewport, result }) {
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ];
  if (micWav) args.push(`--use-file-for-fake-audio-capture=${micWav}`);
  const browser = await chromium.launch({ executablePath, headless: true, args });
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(["microphone"]);
  const page = await context.newPage();
  page.on("console", (m) => {
    if (["error", "warning"].includes(m.type()) && result.console.length < 50) {
      result.console.push(`${m.type()}: ${m.text()}`.slice(0, 300));
    }
  });
  page.on("pageerror", (e) => result.console.push(`pageerror: ${e.message}`.slice(0, 300)));
  return { browser, page };
}

/** Wait until `selector` is enabled or the page shows an error; throw that error as `what`. */
export async function ready(page, selector, what) {
  await page.waitForFunction(
    (selector) => {
      const s = document.querySelector(selector);
      const e = document.querySelector('[data-testid="error"]');
      return (s && !s.disabled) || (e && !e.hidden);
    },
    selector,
    { timeout: 30_000 },
  );
  const error = await page.getByTestId("error").evaluate((e) => (e.hidden ? null : e.textContent));
  if (error) throw new Error(`${what}: ${error}`);
}

/** Press Start and wait until the page is in the room (or throw what it said instead). */
export async function joinRoom(page, result) {
  await page.getByTestId("start").click();
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid="status"]')?.getAttribute("data-state");
      return s === "connected" || s === "failed" || s === "disconnected";
    },
    null,
    { timeout: 30_000 },
  );
  result.status = await page.getByTestId("status").getAttribute("data-state");
  if (result.status !== "connected") {
    result.error = await page.getByTestId("error").textContent();
    throw new Error(`the page did not connect: ${result.status}: ${result.error}`);
  }
}

/** Press Leave and wait until the page has left the room. */
export async function leave(page) {
  await page.getByTestId("leave").click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="status"]')?.getAttribute("data-state") === "disconnected",
    null,
    { timeout: 10_000 },
  );
}

/** Run `drive(work)` with a scratch folder; whatever happens, snapshot the page, take the screenshot,
 * close the browser, print `result` as the last JSON line and exit 0 (drive returned) or 1. */
export async function run({ prefix, result, started, screenshot, snapshot, drive }) {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const session = {};
  let exitCode = 1;
  try {
    await drive(work, session);
    result.ok = true;
    exitCode = 0;
  } catch (error) {
    const page = session.browser?.contexts()[0]?.pages()[0];
    if (page) {
      await snapshot(page).catch(() => undefined);
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => undefined);
    }
    result.failure = String(error?.message ?? error).split("\n")[0];
  } finally {
    result.timings.total_s = secondsSince(started);
    await session.browser?.close().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(exitCode);
}
