#!/usr/bin/env node
// Drive the AuraLink page in Debian's Chromium (playwright-core over CDP, no browser download):
// open the page, pick an agent, press Start, speak a WAV file into the fake microphone, and
// wait for the agent's captions. Prints one JSON object; exits 0 on success, 1 on failure.
//
//   --until connected       the page reached the "connected" state
//   --until agent-caption   an agent caption with text appeared (the greeting counts)
//   --until answer          a caption of the user's question, then an agent caption after it
//
//   node e2e/page.e2e.mjs --url http://127.0.0.1:8800/ [--agent NAME] [--wav question.wav]
//       [--until connected|agent-caption|answer] [--timeout 90] [--user-timeout 20]
//       [--require-user-caption] [--screenshot out.png] [--chromium /usr/bin/chromium]
//       [--lead-silence 4] [--tail-silence 20]
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    agent: { type: "string" },
    wav: { type: "string" },
    until: { type: "string", default: "agent-caption" },
    timeout: { type: "string", default: "90" },
    "user-timeout": { type: "string", default: "20" },
    "require-user-caption": { type: "boolean", default: false },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "lead-silence": { type: "string", default: "4" },
    "tail-silence": { type: "string", default: "20" },
  },
});

function usage(message) {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

if (!opt.url) usage("--url is required (the page, e.g. http://127.0.0.1:8800/)");
if (!["connected", "agent-caption", "answer"].includes(opt.until)) {
  usage("--until is connected, agent-caption or answer");
}
if (opt.until === "answer" && !opt.wav) usage("--until answer needs --wav (the question)");
const timeoutMs = Number(opt.timeout) * 1000;
const userTimeoutMs = Number(opt["user-timeout"]) * 1000;

/** The WAV with silence around it, so the question is heard after the agent has joined. */
async function paddedWav(path, leadSeconds, tailSeconds, dir) {
  const buf = await readFile(path);
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error(`${path} is not a WAV file`);
  }
  let fmt = null;
  let data = null;
  for (let at = 12; at + 8 <= buf.length; ) {
    const id = buf.toString("ascii", at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    if (id === "fmt ") fmt = buf.subarray(at + 8, at + 8 + size);
    if (id === "data") data = buf.subarray(at + 8, Math.min(buf.length, at + 8 + size));
    at += 8 + size + (size % 2);
  }
  if (!fmt || !data) throw new Error(`${path} has no fmt or data chunk`);
  const format = fmt.readUInt16LE(0);
  const channels = fmt.readUInt16LE(2);
  const rate = fmt.readUInt32LE(4);
  const bits = fmt.readUInt16LE(14);
  if (format !== 1 || bits !== 16) throw new Error(`${path} must be 16-bit PCM (format ${format}, ${bits} bits)`);
  const frame = channels * 2;
  const lead = Buffer.alloc(Math.round(leadSeconds * rate) * frame);
  const tail = Buffer.alloc(Math.round(tailSeconds * rate) * frame);
  const pcm = Buffer.concat([lead, data, tail]);
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
  const out = join(dir, "mic.wav");
  await writeFile(out, Buffer.concat([header, pcm]));
  return { path: out, seconds: data.length / (rate * frame) };
}

function captionsIn(page) {
  return page.$$eval('[data-testid="caption"]', (rows) =>
    rows.map((r) => ({
      speaker: r.getAttribute("data-speaker"),
      final: r.getAttribute("data-final") === "true",
      label: r.querySelector(".speaker")?.textContent ?? "",
      text: (r.querySelector(".text")?.textContent ?? "").trim(),
    })),
  );
}

async function snapshot(page, result) {
  result.captions = await captionsIn(page);
  result.agentCaptions = result.captions.filter((c) => c.speaker === "agent" && c.text);
  result.userCaptions = result.captions.filter((c) => c.speaker === "user" && c.text);
  result.agentState = await page.getByTestId("agent-state").getAttribute("data-state");
  result.status = await page.getByTestId("status").getAttribute("data-state");
  result.error = await page.getByTestId("error").evaluate((e) => (e.hidden ? null : e.textContent));
}

/** Wait until the captions satisfy `test` (evaluated in the page on a list of captions). */
function waitCaptions(page, test, timeout) {
  return page.waitForFunction(
    (source) => {
      const rows = [...document.querySelectorAll('[data-testid="caption"]')].map((r) => ({
        speaker: r.getAttribute("data-speaker"),
        text: (r.querySelector(".text")?.textContent ?? "").trim(),
      }));
      return new Function("rows", `return (${source})(rows)`)(rows);
    },
    test.toString(),
    { timeout, polling: 250 },
  );
}

const hasAgentText = (rows) => rows.some((r) => r.speaker === "agent" && r.text);
const hasUserText = (rows) => rows.some((r) => r.speaker === "user" && r.text);
const answered = (rows) => {
  const q = rows.findIndex((r) => r.speaker === "user" && r.text);
  return q >= 0 && rows.slice(q + 1).some((r) => r.speaker === "agent" && r.text);
};

const started = Date.now();
const result = {
  ok: false,
  url: opt.url,
  agent: opt.agent ?? null,
  status: null,
  agentState: null,
  error: null,
  failure: null,
  captions: [],
  agentCaptions: [],
  userCaptions: [],
  timings: {},
  console: [],
};
const since = () => Math.round((Date.now() - started) / 100) / 10;

const work = await mkdtemp(join(tmpdir(), "auralink-e2e-"));
let browser = null;
let exitCode = 1;
try {
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
  if (opt.wav) {
    const mic = await paddedWav(opt.wav, Number(opt["lead-silence"]), Number(opt["tail-silence"]), work);
    result.timings.question_s = Math.round(mic.seconds * 10) / 10;
    args.push(`--use-file-for-fake-audio-capture=${mic.path}`);
  }
  browser = await chromium.launch({ executablePath: opt.chromium, headless: true, args });
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await context.grantPermissions(["microphone"]);
  const page = await context.newPage();
  page.on("console", (m) => {
    if (["error", "warning"].includes(m.type()) && result.console.length < 50) {
      result.console.push(`${m.type()}: ${m.text()}`.slice(0, 300));
    }
  });
  page.on("pageerror", (e) => result.console.push(`pageerror: ${e.message}`.slice(0, 300)));

  await page.goto(opt.url, { waitUntil: "load", timeout: 30_000 });
  const select = page.getByTestId("agent-select");
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[data-testid="agent-select"]');
      const e = document.querySelector('[data-testid="error"]');
      return (s && !s.disabled) || (e && !e.hidden);
    },
    null,
    { timeout: 30_000 },
  );
  const loadError = await page.getByTestId("error").evaluate((e) => (e.hidden ? null : e.textContent));
  if (loadError) throw new Error(`the page could not load its agents: ${loadError}`);
  if (opt.agent) await select.selectOption(opt.agent);
  result.agent = await select.inputValue();

  await page.getByTestId("start").click();
  result.timings.clicked_s = since();
  // connected, or failed with a message on the page
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
  result.timings.connected_s = since();

  if (opt.until === "agent-caption") {
    await waitCaptions(page, hasAgentText, timeoutMs);
    result.timings.first_agent_caption_s = since();
    if (opt.wav) {
      // optional: the user's words, transcribed by the agent, shown as "You"
      await waitCaptions(page, hasUserText, userTimeoutMs)
        .then(() => {
          result.timings.first_user_caption_s = since();
        })
        .catch(() => undefined);
    }
  } else if (opt.until === "answer") {
    await waitCaptions(page, hasUserText, timeoutMs);
    result.timings.first_user_caption_s = since();
    await waitCaptions(page, answered, timeoutMs);
    result.timings.answer_caption_s = since();
    await page.waitForTimeout(1000); // let the answer's line fill a little more for the report
  }

  await snapshot(page, result);
  if (opt["require-user-caption"] && result.userCaptions.length === 0) {
    throw new Error(`no caption of the user's words appeared within ${opt["user-timeout"]} s`);
  }
  if (opt.screenshot) await page.screenshot({ path: opt.screenshot, fullPage: true });

  await page.getByTestId("leave").click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="status"]')?.getAttribute("data-state") === "disconnected",
    null,
    { timeout: 10_000 },
  );
  result.ok = true;
  exitCode = 0;
} catch (error) {
  const page = browser?.contexts()[0]?.pages()[0];
  if (page) {
    await snapshot(page, result).catch(() => undefined);
    if (opt.screenshot) await page.screenshot({ path: opt.screenshot, fullPage: true }).catch(() => undefined);
  }
  result.failure = String(error?.message ?? error).split("\n")[0];
} finally {
  result.timings.total_s = since();
  await browser?.close().catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(exitCode);
