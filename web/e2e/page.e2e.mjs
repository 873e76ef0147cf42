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
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { joinRoom, leave, openPage, ready, run, secondsSince, usage, writeWav } from "./harness.mjs";

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
  const out = await writeWav(join(dir, "mic.wav"), Buffer.concat([lead, data, tail]), { rate, channels });
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
const since = () => secondsSince(started);

await run({
  prefix: "auralink-e2e-",
  result,
  started,
  screenshot: opt.screenshot,
  snapshot: (page) => snapshot(page, result),
  drive: async (work, session) => {
    let micWav = null;
    if (opt.wav) {
      const mic = await paddedWav(opt.wav, Number(opt["lead-silence"]), Number(opt["tail-silence"]), work);
      result.timings.question_s = Math.round(mic.seconds * 10) / 10;
      micWav = mic.path;
    }
    const { browser, page } = await openPage({
      executablePath: opt.chromium,
      micWav,
      viewport: { width: 1000, height: 700 },
      result,
    });
    session.browser = browser;

    await page.goto(opt.url, { waitUntil: "load", timeout: 30_000 });
    await ready(page, '[data-testid="agent-select"]', "the page could not load its agents");
    const select = page.getByTestId("agent-select");
    if (opt.agent) await select.selectOption(opt.agent);
    result.agent = await select.inputValue();

    result.timings.clicked_s = since();
    await joinRoom(page, result); // connected, or failed with a message on the page
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
    await leave(page);
  },
});
