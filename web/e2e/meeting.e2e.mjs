#!/usr/bin/env node
// Drive the AuraLink page into a meeting in Debian's Chromium (playwright-core over CDP): open a
// meeting link, give a name, pick a caption language, join, and record every caption line the page
// shows (who, what, final or not, translated into which language) until another participant's
// line with the expected words has come, then wait a while longer for its translation.
//
// Prints JSON lines on stdout: {"event":"joined", ...} once the page is in the room (the caller
// then has another participant speak), and last the result object; exits 0 when the expected
// caption came (the translation is reported, not required), 1 otherwise.
//
//   node e2e/meeting.e2e.mjs --url http://127.0.0.1:8800/j/<code> --name "Page User"
//       [--language es] --speaker "Python Guest" --words capital,france
//       [--translation-words francia,capital] [--timeout 150] [--translation-timeout 60]
//       [--screenshot out.png] [--chromium /usr/bin/chromium]
import { join } from "node:path";
import { parseArgs } from "node:util";

import { joinRoom, leave, openPage, ready, run, secondsSince, usage, writeWav } from "./harness.mjs";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    name: { type: "string", default: "Page User" },
    language: { type: "string", default: "en" },
    speaks: { type: "string", default: "" },
    chat: { type: "string", default: "" },
    speaker: { type: "string" },
    words: { type: "string" },
    "translation-words": { type: "string", default: "" },
    timeout: { type: "string", default: "150" },
    "translation-timeout": { type: "string", default: "60" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});

if (!opt.url) usage("--url is required (a meeting link, e.g. http://127.0.0.1:8800/j/<code>)");
if (!opt.speaker || !opt.words) usage("--speaker and --words say which caption to wait for");
const words = opt.words.toLowerCase().split(",").filter(Boolean);
const translationWords = opt["translation-words"].toLowerCase().split(",").filter(Boolean);
const timeoutMs = Number(opt.timeout) * 1000;
const translationTimeoutMs = Number(opt["translation-timeout"]) * 1000;

/** A silent 16 kHz WAV: the page's microphone, so the fake device's beeps are not transcribed. */
async function silentWav(dir, seconds = 5) {
  const rate = 16000;
  return writeWav(join(dir, "silence.wav"), Buffer.alloc(rate * seconds * 2), { rate });
}

const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

/** Installed in the page: every state a caption line goes through, in order, in window.__captionLog. */
function recordCaptions() {
  const log = [];
  window.__captionLog = log;
  const seen = new Map();
  const note = (row) => {
    const entry = {
      segment: row.getAttribute("data-segment"),
      speaker: row.getAttribute("data-speaker"),
      label: row.querySelector(".speaker")?.textContent ?? "",
      text: (row.querySelector(".text")?.textContent ?? "").trim(),
      final: row.getAttribute("data-final") === "true",
      translated: row.getAttribute("data-translated") === "true",
      language: row.getAttribute("data-language"),
    };
    const key = JSON.stringify(entry);
    if (!entry.text || seen.get(entry.segment) === key) return;
    seen.set(entry.segment, key);
    log.push({ ...entry, at: Math.round(performance.now()) });
  };
  const captions = document.querySelector('[data-testid="captions"]');
  new MutationObserver(() => {
    for (const row of captions.querySelectorAll('[data-testid="caption"]')) note(row);
  }).observe(captions, { subtree: true, childList: true, characterData: true, attributes: true });
}

const started = Date.now();
const since = () => secondsSince(started);
const result = {
  ok: false,
  url: opt.url,
  status: null,
  error: null,
  failure: null,
  mode: null,
  log: [],
  captions: [],
  accessibility: {},
  timings: {},
  console: [],
};

async function snapshot(page) {
  result.log = await page.evaluate(() => window.__captionLog ?? []);
  result.captions = await page.$$eval('[data-testid="caption"]', (rows) =>
    rows.map((r) => ({
      speaker: r.getAttribute("data-speaker"),
      label: r.querySelector(".speaker")?.textContent ?? "",
      text: (r.querySelector(".text")?.textContent ?? "").trim(),
      lang: r.querySelector(".text")?.getAttribute("lang") ?? null,
      final: r.getAttribute("data-final") === "true",
      translated: r.getAttribute("data-translated") === "true",
    })),
  );
  result.status = await page.getByTestId("status").getAttribute("data-state");
  result.error = await page.getByTestId("error").evaluate((e) => (e.hidden ? null : e.textContent));
}

await run({
  prefix: "auralink-meeting-e2e-",
  result,
  started,
  screenshot: opt.screenshot,
  snapshot,
  drive: async (work, session) => {
    const { browser, page } = await openPage({
      executablePath: opt.chromium,
      micWav: await silentWav(work),
      viewport: { width: 1000, height: 800 },
      result,
    });
    session.browser = browser;
    page.on("response", async (r) => {
      if (r.request().method() === "POST" && /\/j\/[^/]+\/session$/.test(r.url()) && r.ok()) {
        result.mode = (await r.json().catch(() => ({}))).mode ?? null;
      }
    });

    await page.goto(opt.url, { waitUntil: "load", timeout: 30_000 }); // /j/<code> → /?link=<code>
    await ready(page, '[data-testid="start"]', "the page could not load the link");
    const language = page.getByLabel("Captions in");
    if (!(await language.isVisible())) throw new Error("the page offers no caption language for this link");
    await page.getByLabel("Your name").fill(opt.name);
    await language.selectOption(opt.language);
    await page.getByLabel("I speak").selectOption(opt.speaks);
    await page.evaluate(recordCaptions);
    result.accessibility = await page.evaluate(() => {
      const c = document.querySelector('[data-testid="captions"]');
      return { ariaLive: c?.getAttribute("aria-live"), start: document.querySelector("#start")?.textContent };
    });

    await joinRoom(page, result);
    result.timings.connected_s = since();
    say({ event: "joined", at_s: since() });

    const heard = (speaker, wanted) =>
      page.waitForFunction(
        ({ speaker, wanted }) =>
          (window.__captionLog ?? []).some(
            (e) =>
              e.label === speaker && e.final && !e.translated && wanted.some((w) => e.text.toLowerCase().includes(w)),
          ),
        { speaker, wanted },
        { timeout: timeoutMs, polling: 250 },
      );
    await heard(opt.speaker, words);
    result.timings.caption_s = since();
    if (opt.chat) {
      // a chat message through the page: it goes to the agent, which posts it (moderated) for everyone
      await page.getByTestId("chat-input").fill(opt.chat);
      await page.getByTestId("chat-send").click();
    }
    if (opt.language !== "en") {
      await page
        .waitForFunction(
          ({ speaker, language, wanted }) =>
            (window.__captionLog ?? []).some(
              (e) =>
                e.label === speaker &&
                e.translated &&
                e.language === language &&
                (wanted.length === 0 || wanted.some((w) => e.text.toLowerCase().includes(w))),
            ),
          { speaker: opt.speaker, language: opt.language, wanted: translationWords },
          { timeout: translationTimeoutMs, polling: 250 },
        )
        .then(() => {
          result.timings.translation_s = since();
        })
        .catch(() => undefined); // reported: the caller decides whether a translation was due
    }

    await snapshot(page);
    result.chatLog = await page.getByTestId("chat-log").evaluate((log) =>
      [...log.querySelectorAll("li")].map((li) => li.textContent ?? ""),
    );
    if (opt.screenshot) await page.screenshot({ path: opt.screenshot, fullPage: true });
    await leave(page);
  },
});
