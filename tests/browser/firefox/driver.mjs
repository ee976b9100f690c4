// Drives Debian's firefox-esr over WebDriver BiDi for the Python browser tests (tests/browser/firefox.py).
//
// One Firefox per process; every `open` is a page in a browser context of its own (one user each).
// Protocol: line-delimited JSON on stdin/stdout. Each request {"id": N, "cmd": ..., ...} gets exactly
// one reply {"id": N, "ok": true, "result": ...} or {"id": N, "ok": false, "error": "..."}; requests
// run concurrently. The first line written is {"ready": true, "version": "..."} (or {"ready": false,
// "error": ...}). Diagnostics go to stderr.
//
//   open      {url, cookie?: {name, value, url}, init?: "() => ..."}
//                                                        -> page handle (int), once loaded; `init` runs
//                                                           in every document before its own scripts
//   eval      {page, fn: "async (...args) => ...", args?} -> the function's (JSON) result
//   waitFor   {page, fn, args?, timeout: ms, polling?: ms} -> the first truthy result (error on timeout)
//   click     {page, selector, timeout?: ms}               -> null, once visible, enabled and clicked
//   console   {page}                                       -> ["<type>: <text>", ...] collected so far
//   screenshot{page, path}                                 -> null
//   closePage {page}                                       -> null (closes its context)
//   close     {}                                           -> null, then the process exits
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const EXECUTABLE = process.env.FIREFOX || "/usr/bin/firefox-esr";
const DEFAULT_TIMEOUT = 30000;
const MAX_CONSOLE = 500; // messages kept per page

const PREFS = {
  // Fake camera and microphone, no permission prompt.
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  // Without it Firefox gathers no relay candidate from a TURN server on 127.0.0.1.
  "media.peerconnection.ice.loopback": true,
  // Remote <video> and Web Audio play without a user gesture (Chromium: --autoplay-policy=...).
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  "media.autoplay.block-webaudio": false,
  // A fake audio backend with fake speakers: with no sound device here an AudioContext never starts
  // (the microphone meter reads 0) and no audio output is listed.
  "media.cubeb.force_mock_context": true,
  // Stay off the network: no lookups of Mozilla's hosts, no background services.
  "network.dns.native-is-localhost": true,
  "app.update.enabled": false,
  "app.normandy.enabled": false,
  "browser.safebrowsing.malware.enabled": false,
  "browser.safebrowsing.phishing.enabled": false,
  "browser.safebrowsing.downloads.enabled": false,
  "browser.safebrowsing.blockedURIs.enabled": false,
  "datareporting.healthreport.uploadEnabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
  "extensions.update.enabled": false,
  "extensions.getAddons.cache.enabled": false,
  "browser.search.update": false,
  "services.settings.server": "http://127.0.0.1:9/",
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "browser.newtabpage.enabled": false,
  "browser.startup.page": 0,
};

const pages = new Map(); // handle -> {page, context, log}
let nextHandle = 1;
let browser;

function write(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function entry(handle) {
  const e = pages.get(handle);
  if (!e) throw new Error(`no page ${handle}`);
  return e;
}

// The source of a function, as the test wrote it, turned back into a function: puppeteer sends
// its source text to the page.
function fnOf(source) {
  const fn = (0, eval)(`(${source})`);
  if (typeof fn !== "function") throw new Error("fn is not a function");
  return fn;
}

function remember(log, line) {
  log.push(line);
  if (log.length > MAX_CONSOLE) log.splice(0, log.length - MAX_CONSOLE);
}

const commands = {
  async open({ url, cookie, init, timeout = DEFAULT_TIMEOUT }) {
    const context = await browser.createBrowserContext();
    if (cookie) {
      const { hostname } = new URL(cookie.url || url);
      await context.setCookie({ name: cookie.name, value: cookie.value, domain: hostname, path: "/" });
    }
    const page = await context.newPage();
    const log = [];
    page.on("console", (msg) => remember(log, `${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (err) => remember(log, `pageerror: ${err && err.message ? err.message : err}`));
    if (init) await page.evaluateOnNewDocument(fnOf(init));
    const handle = nextHandle++;
    pages.set(handle, { page, context, log });
    await page.goto(url, { waitUntil: "load", timeout });
    return handle;
  },

  async eval({ page, fn, args = [] }) {
    return await entry(page).page.evaluate(fnOf(fn), ...args);
  },

  async waitFor({ page, fn, args = [], timeout = DEFAULT_TIMEOUT, polling = 250 }) {
    const result = await entry(page).page.waitForFunction(fnOf(fn), { timeout, polling }, ...args);
    const value = await result.jsonValue();
    await result.dispose();
    return value;
  },

  async click({ page, selector, timeout = DEFAULT_TIMEOUT }) {
    // A locator waits until the element is visible, enabled and still, then clicks it.
    await entry(page).page.locator(selector).setTimeout(timeout).click();
    return null;
  },

  async console({ page }) {
    return entry(page).log;
  },

  async screenshot({ page, path }) {
    await entry(page).page.screenshot({ path });
    return null;
  },

  async closePage({ page }) {
    const e = pages.get(page);
    if (!e) return null;
    pages.delete(page);
    await e.context.close();
    return null;
  },

  async close() {
    await shutdown(0);
    return null;
  },
};

let closing = false;
async function shutdown(code) {
  if (closing) return;
  closing = true;
  try {
    if (browser) await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10000))]);
  } catch (err) {
    console.error("closing firefox:", err);
  }
  // Reply to `close` first, then exit.
  setImmediate(() => process.exit(code));
}

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    write({ id: null, ok: false, error: `bad request: ${err.message}` });
    return;
  }
  const { id, cmd } = request;
  const run = commands[cmd];
  if (!run) {
    write({ id, ok: false, error: `unknown command ${cmd}` });
    return;
  }
  try {
    const result = await run(request);
    write({ id, ok: true, result: result === undefined ? null : result });
  } catch (err) {
    // A timeout's message says it all; anything else comes with the driver-side stack.
    const text = err && err.name === "TimeoutError" ? `${err.name}: ${err.message}` : String(err && err.stack ? err.stack : err);
    write({ id, ok: false, error: text });
  }
}

async function main() {
  try {
    browser = await puppeteer.launch({
      browser: "firefox",
      protocol: "webDriverBiDi",
      executablePath: EXECUTABLE,
      headless: true,
      extraPrefsFirefox: PREFS,
      protocolTimeout: 60000,
    });
  } catch (err) {
    write({ ready: false, error: String(err && err.stack ? err.stack : err) });
    process.exit(1);
  }
  browser.on("disconnected", () => {
    if (!closing) {
      console.error("firefox disconnected");
      process.exit(2);
    }
  });
  write({ ready: true, version: await browser.version() });
  const input = createInterface({ input: process.stdin });
  input.on("line", (line) => {
    if (line.trim()) handle(line);
  });
  // The test process went away: close Firefox with it.
  input.on("close", () => shutdown(0));
}

for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => shutdown(0));

main();
