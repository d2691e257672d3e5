// Shared helpers for Coterie's browser tests.
//
// The tests drive the real `coterie` binary (COTERIE_BIN, or
// $CARGO_TARGET_DIR/debug/coterie, or ../target/debug/coterie) in Debian's
// Chromium through playwright-core, and check every page they visit with
// axe-core. Run them with `scripts/test` (everything) or, once the binary is
// built, `cd e2e && npm test`.
//
// Environment:
//   COTERIE_BIN               the server binary to start
//   CHROMIUM_PATH             the browser (default /usr/bin/chromium)
//   COTERIE_E2E_DATABASE_URL  run the server on this database instead of SQLite
//   COTERIE_E2E_CACHE_URL     ... and on this cache instead of memory://
//   COTERIE_E2E_KEEP=1        keep each server's data folder after the run
//   COTERIE_E2E_SCREENSHOTS=0 skip screenshots (axe still runs)

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(E2E_DIR, '..');
export const SCREENSHOT_DIR = path.join(E2E_DIR, 'screenshots');
export const RESULTS_DIR = path.join(E2E_DIR, 'test-results');

export const VIEWPORTS = [
  { label: 'phone', width: 390, height: 844 },
  { label: 'desktop', width: 1280, height: 900 },
];

export const DESKTOP = { width: 1280, height: 900 };

// ---------------------------------------------------------------------------
// The server

function serverBinary() {
  if (process.env.COTERIE_BIN) return path.resolve(process.env.COTERIE_BIN);
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(process.env.CARGO_TARGET_DIR)
    : path.join(REPO_DIR, 'target');
  return path.join(target, 'debug', 'coterie');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(file, lines = 60) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

// Environment for the child: our own settings, never a developer's
// COTERIE_* variables that would point the test server at a real database.
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('COTERIE_')) env[k] = v;
  }
  if (!env.RUST_LOG) env.RUST_LOG = 'info';
  if (process.env.COTERIE_E2E_DATABASE_URL) env.COTERIE_DATABASE_URL = process.env.COTERIE_E2E_DATABASE_URL;
  if (process.env.COTERIE_E2E_CACHE_URL) env.COTERIE_CACHE_URL = process.env.COTERIE_E2E_CACHE_URL;
  // Tests talk only to this machine: no avatar requests to gravatar.com.
  env.COTERIE_AVATARS_GRAVATAR = 'false';
  return { ...env, ...extra };
}

const liveServers = new Set();
process.on('exit', () => {
  for (const proc of liveServers) {
    try { proc.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Start `coterie serve` on a free port with a fresh data folder, and wait for
 * GET /healthz to answer 200. Returns { url, port, dataDir, logFile, stop(),
 * nextEmail(), failed }.
 */
export async function startServer({ name = 'e2e', timeoutMs = 60_000 } = {}) {
  const bin = serverBinary();
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary not found at ${bin}: build it with \`cargo build --bin coterie\` or set COTERIE_BIN`);
  }
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), `coterie-e2e-${name}-`));
  const logFile = path.join(dataDir, 'server.log');

  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const addr = `127.0.0.1:${port}`;
    const out = fs.openSync(logFile, 'a');
    const proc = spawn(bin, ['serve', '--addr', addr, '--data-dir', dataDir], {
      cwd: dataDir,
      env: childEnv({ COTERIE_PUBLIC_URL: url, COTERIE_ADDR: addr, COTERIE_DATA_DIR: dataDir }),
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    liveServers.add(proc);
    let exited = null;
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      liveServers.delete(proc);
    });

    const deadline = Date.now() + timeoutMs;
    let up = false;
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) { up = true; break; }
      } catch { /* not listening yet */ }
      await sleep(150);
    }
    if (up) {
      const server = {
        name, url, port, dataDir, logFile, proc, failed: false,
        seenEmails: new Set(),
        nextEmail: (opts) => nextEmail(server, opts),
        stop: () => stopServer(server),
        logTail: (n) => tail(logFile, n),
      };
      return server;
    }
    proc.kill('SIGKILL');
    lastError = exited
      ? `coterie serve exited early (${JSON.stringify(exited)})`
      : `coterie serve did not answer GET /healthz within ${timeoutMs / 1000}s`;
    // A port taken between our probe and the server's bind is worth a retry;
    // anything else will fail the same way again.
    if (!/address already in use|AddrInUse/i.test(tail(logFile, 20))) break;
  }
  const log = tail(logFile);
  throw new Error(`${lastError}\n--- ${logFile} ---\n${log}`);
}

async function stopServer(server) {
  const { proc } = server;
  if (proc.exitCode === null && proc.signalCode === null) {
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timedOut = await Promise.race([gone.then(() => false), sleep(10_000).then(() => true)]);
    if (timedOut) {
      console.log(`[e2e] ${server.name}: server did not stop within 10s of SIGTERM; killing it`);
      proc.kill('SIGKILL');
      await gone;
    }
  }
  await fsp.mkdir(RESULTS_DIR, { recursive: true });
  const kept = path.join(RESULTS_DIR, `${server.name}-server.log`);
  await fsp.copyFile(server.logFile, kept).catch(() => {});
  if (server.failed) {
    console.log(`[e2e] ${server.name}: a test failed; last lines of the server log (${kept}):\n${tail(server.logFile, 40)}`);
  }
  if (process.env.COTERIE_E2E_KEEP === '1' || server.failed) {
    console.log(`[e2e] ${server.name}: data folder kept at ${server.dataDir}`);
  } else {
    await fsp.rm(server.dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Email: the default mailer writes each message to <data>/outbox/*.eml

function parseHeaders(text) {
  const headers = {};
  const unfolded = text.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim().toLowerCase();
    if (!(key in headers)) headers[key] = line.slice(i + 1).trim();
  }
  return headers;
}

// Split a message (as a latin1 string: one char per byte) into headers and body.
function splitMessage(raw) {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return { headers: parseHeaders(raw), body: '' };
  return { headers: parseHeaders(raw.slice(0, m.index)), body: raw.slice(m.index + m[0].length) };
}

function decodeBody(body, encoding) {
  const enc = (encoding || '7bit').toLowerCase();
  let bytes;
  if (enc === 'base64') {
    bytes = Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  } else if (enc === 'quoted-printable') {
    const s = body
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
    bytes = Buffer.from(s, 'latin1');
  } else {
    bytes = Buffer.from(body, 'latin1');
  }
  return bytes.toString('utf8');
}

// RFC 2047 encoded words, for subjects like =?utf-8?b?...?=
function decodeWords(value = '') {
  return value.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_, _charset, kind, text) => {
    if (kind.toLowerCase() === 'b') return Buffer.from(text, 'base64').toString('utf8');
    const s = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(s, 'latin1').toString('utf8');
  });
}

function leafParts(headers, body, out) {
  const type = (headers['content-type'] || 'text/plain').toLowerCase();
  if (type.startsWith('multipart/')) {
    const b = /boundary="?([^";]+)"?/i.exec(headers['content-type']);
    if (!b) return out;
    const chunks = body.split(`--${b[1]}`);
    // chunks[0] is the preamble; a chunk starting with "--" is the end marker.
    for (const chunk of chunks.slice(1)) {
      if (chunk.startsWith('--')) break;
      const part = splitMessage(chunk.replace(/^\r?\n/, ''));
      leafParts(part.headers, part.body, out);
    }
    return out;
  }
  out.push({ type, text: decodeBody(body, headers['content-transfer-encoding']) });
  return out;
}

const LINK_RE = /https?:\/\/[^\s<>"'()\]]+/g;

function linksIn(text, html) {
  const found = [];
  const add = (s) => {
    const link = s.replace(/&amp;/g, '&').replace(/[.,;:!?]+$/, '');
    if (!found.includes(link)) found.push(link);
  };
  for (const m of text.matchAll(LINK_RE)) add(m[0]);
  for (const m of html.matchAll(LINK_RE)) add(m[0]);
  return found;
}

/** Parse one .eml file: { file, headers, subject, to, text, html, links }. */
export function readEmail(file) {
  const raw = fs.readFileSync(file).toString('latin1');
  const { headers, body } = splitMessage(raw);
  const parts = leafParts(headers, body, []);
  const text = parts.filter((p) => p.type.startsWith('text/plain')).map((p) => p.text).join('\n');
  const html = parts.filter((p) => p.type.startsWith('text/html')).map((p) => p.text).join('\n');
  return {
    file,
    headers,
    subject: decodeWords(headers.subject),
    to: decodeWords(headers.to),
    text,
    html,
    links: linksIn(text, html),
  };
}

/**
 * Wait for the newest message in <data>/outbox that this server object has not
 * handed out before (optionally: addressed to `to`), and return it parsed.
 * `firstLink` is its first http(s) link.
 */
async function nextEmail(server, { to, timeoutMs = 15_000 } = {}) {
  const outbox = path.join(server.dataDir, 'outbox');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let names = [];
    try { names = (await fsp.readdir(outbox)).filter((n) => n.endsWith('.eml')); } catch { /* no outbox yet */ }
    const fresh = [];
    for (const n of names) {
      const file = path.join(outbox, n);
      if (server.seenEmails.has(file)) continue;
      try {
        const st = await fsp.stat(file);
        if (st.size === 0) continue; // still being written
        fresh.push({ file, mtime: st.mtimeMs });
      } catch { /* vanished */ }
    }
    fresh.sort((a, b) => b.mtime - a.mtime || b.file.localeCompare(a.file));
    for (const { file } of fresh) {
      const mail = readEmail(file);
      if (to && !mail.to.toLowerCase().includes(to.toLowerCase())) continue;
      server.seenEmails.add(file);
      return { ...mail, firstLink: mail.links[0] };
    }
    if (Date.now() > deadline) {
      throw new Error(`no new email${to ? ` to ${to}` : ''} in ${outbox} after ${timeoutMs / 1000}s (files there: ${names.join(', ') || 'none'})`);
    }
    await sleep(200);
  }
}

/** Count the messages in the outbox (to check that a rejected form sent none). */
export async function outboxCount(server) {
  try {
    return (await fsp.readdir(path.join(server.dataDir, 'outbox'))).filter((n) => n.endsWith('.eml')).length;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------
// The browser

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: scripts/setup installs Debian's chromium`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

// ---------------------------------------------------------------------------
// Forms: prefer what a person sees (labels, button names); fall back on the
// field names from docs/THEMING.md.

/** The form that posts to a path containing `action`, else the one holding field `name`. */
export async function formFor(page, action, name) {
  const byAction = page.locator(`form[action*="${action}"]`);
  if (await byAction.count()) return byAction.first();
  return page.locator('form').filter({ has: page.locator(`[name="${name}"]`) }).first();
}

/** The control named `name` in `scope`, found by its label when the label works. */
export async function field(scope, name, label) {
  if (label) {
    const byLabel = scope.getByLabel(label);
    const n = await byLabel.count();
    for (let i = 0; i < n; i++) {
      const el = byLabel.nth(i);
      if ((await el.getAttribute('name')) === name) return el;
    }
  }
  return scope.locator(`[name="${name}"]`).first();
}

export async function fill(scope, name, label, value) {
  const el = await field(scope, name, label);
  await el.fill(value);
  return el;
}

/**
 * Press the form's submit button (by its accessible name when it matches) and
 * wait for the POST's response and the page that follows. Returns the
 * response to the POST (often a 303).
 */
export async function submit(page, form, buttonName) {
  let button = form.getByRole('button', { name: buttonName });
  if (!(await button.count())) {
    button = form.locator('button[type=submit], button:not([type]), input[type=submit]');
  }
  const posted = page.waitForResponse((r) => r.request().method() === 'POST', { timeout: 20_000 });
  await button.first().click();
  const response = await posted;
  await page.waitForLoadState('load');
  return response;
}

/** Visible text of the page's main content (or body). */
export async function mainText(page) {
  const main = page.locator('main');
  const scope = (await main.count()) ? main.first() : page.locator('body');
  return (await scope.innerText()).replace(/\s+/g, ' ');
}

const LOGOUT_NAME = /log ?out|sign ?out/i;

/**
 * The header's Log out button, wherever it is in the DOM (it may sit in a
 * closed member menu). `.count()` > 0 means a member is logged in.
 */
export function logoutButton(page) {
  return page.getByRole('button', { name: LOGOUT_NAME, includeHidden: true });
}

/**
 * Press the header's Log out button, opening the menu that holds it first
 * (a <details> member menu works without JavaScript). Returns the response
 * to the POST.
 */
export async function logOut(page) {
  const button = page.getByRole('button', { name: LOGOUT_NAME }).first();
  if (!(await button.isVisible())) {
    const hidden = logoutButton(page).first();
    if (!(await hidden.count())) throw new Error(`no Log out button on ${page.url()}`);
    // Open whatever disclosure holds it: a <details> menu, or a menu button.
    const summary = page.locator('details', { has: hidden }).locator('> summary');
    if (await summary.count()) {
      await summary.first().click();
    } else {
      const toggle = page.locator('header [aria-expanded="false"]').first();
      if (await toggle.count()) await toggle.click();
    }
    await button.waitFor({ state: 'visible', timeout: 5_000 });
  }
  const posted = page.waitForResponse((r) => r.request().method() === 'POST', { timeout: 20_000 });
  await button.click();
  const response = await posted;
  await page.waitForLoadState('load');
  return response;
}

// ---------------------------------------------------------------------------
// Page checks: screenshots at phone and desktop width, axe, CSP, overflow

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BLOCKING = new Set(['serious', 'critical']);

export class PageChecks {
  constructor(testName) {
    this.testName = testName;
    this.problems = [];
    this.violationCount = 0;
    this.dialogAnswers = new WeakMap();
  }

  /** Record a problem once; the same problem again is counted, with where it was. */
  problem(text, where) {
    let found = this.problems.find((p) => p.text === text);
    if (!found) this.problems.push((found = { text, count: 0, where: [] }));
    found.count++;
    if (where && !found.where.includes(where)) found.where.push(where);
  }

  /** Record uncaught script errors and CSP refusals on this page. */
  watch(page) {
    page.on('pageerror', (err) => this.problem(`script error on ${new URL(page.url()).pathname}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy|Refused to (execute|apply|load)/i.test(msg.text())) {
        // The first sentence says what was blocked; the rest is Chromium's advice.
        const what = msg.text().split(/(?<=\.)\s/)[0].slice(0, 200);
        this.problem(`CSP violation (the policy forbids inline scripts and styles): ${what}`, new URL(page.url()).pathname);
      }
    });
    page.on('dialog', (d) => {
      const answer = this.dialogAnswers.get(page)?.shift();
      if (answer) { answer(d); return; }
      this.problem(`a ${d.type()} dialog opened on ${new URL(page.url()).pathname}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    return page;
  }

  /**
   * Expect a dialog on `page` (say the confirm() of a form with data-confirm)
   * and answer it: accept, or dismiss with `{ accept: false }`. An expected
   * dialog is not a problem. Resolves to { type, message } once answered; call
   * it before the click that opens the dialog.
   */
  answerNextDialog(page, { accept = true } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.dialogAnswers.has(page)) this.dialogAnswers.set(page, []);
      this.dialogAnswers.get(page).push((d) => {
        const seen = { type: d.type(), message: d.message() };
        (accept ? d.accept() : d.dismiss()).then(() => resolve(seen), reject);
      });
    });
  }

  /** Screenshots at both widths, a phone overflow check, and axe. */
  async check(page, name, { axe = true, screenshots = true } = {}) {
    await page.waitForLoadState('load');
    const original = page.viewportSize() || DESKTOP;
    if (screenshots && process.env.COTERIE_E2E_SCREENSHOTS !== '0') {
      await fsp.mkdir(SCREENSHOT_DIR, { recursive: true });
      for (const vp of VIEWPORTS) {
        await page.setViewportSize({ width: vp.width, height: vp.height });
        if (vp.label === 'phone') {
          const overflow = await page.evaluate(() => {
            const doc = document.documentElement;
            return { scroll: doc.scrollWidth, client: doc.clientWidth };
          });
          if (overflow.scroll > overflow.client + 1) {
            this.problem(`${name}: page is ${overflow.scroll}px wide at ${vp.width}px (sideways scrolling on phones)`);
          }
        }
        const file = path.join(SCREENSHOT_DIR, `${this.testName}-${name}-${vp.width}.png`);
        await page.screenshot({ path: file, fullPage: true });
      }
      await page.setViewportSize(original);
    }
    if (axe) await this.axe(page, name);
  }

  async axe(page, name) {
    await page.evaluate(AXE_SOURCE);
    const { violations, passed } = await page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ['violations'] });
      return {
        passed: result.passes.length,
        violations: result.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          helpUrl: v.helpUrl,
          nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 160) })),
        })),
      };
    });
    console.log(`[axe] ${this.testName}/${name}: ${violations.length} rule(s) violated, ${passed} passed`);
    for (const v of violations) {
      this.violationCount++;
      const where = v.nodes.slice(0, 5).map((n) => `      ${n.target}  ${n.html}`).join('\n');
      const more = v.nodes.length > 5 ? `\n      ... and ${v.nodes.length - 5} more` : '';
      console.log(`[axe] ${this.testName}/${name} ${page.url()}\n  ${v.impact}: ${v.id}: ${v.help} (${v.nodes.length} element(s)) ${v.helpUrl}\n${where}${more}`);
      if (BLOCKING.has(v.impact)) {
        this.problem(`axe ${v.impact}: ${v.id}: ${v.help}`, `${name} (${v.nodes.map((n) => n.target).join(', ')})`);
      }
    }
    return violations;
  }

  /** Fail with every problem recorded on every page, not just the first. */
  assertClean() {
    if (this.problems.length) {
      const lines = this.problems.map((p) => {
        const times = p.count > 1 ? ` (${p.count} times)` : '';
        const where = p.where.length ? `\n    on: ${p.where.join('; ')}` : '';
        return `${p.text}${times}${where}`;
      });
      throw new Error(`${this.problems.length} problem(s) found on the pages:\n- ${lines.join('\n- ')}`);
    }
  }
}

// ---------------------------------------------------------------------------
// Test data

/** A lowercase, letters-and-digits name that no other run uses. */
export function uniqueName(prefix) {
  return `${prefix}${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([len, typed, crc]);
}

/**
 * A real RGB PNG of `size`x`size` pixels in a grid of coloured blocks, so a
 * resized or cropped avatar still shows something recognisable.
 */
export function makePng(size = 300, blocks = 3) {
  const palette = [
    [0xd9, 0x3a, 0x49], [0xf2, 0xa5, 0x41], [0xf4, 0xe2, 0x85],
    [0x5c, 0xa4, 0xa9], [0x3b, 0x4c, 0xca], [0x6a, 0x3d, 0x9a],
    [0x2e, 0x8b, 0x57], [0x22, 0x22, 0x22], [0xfa, 0xfa, 0xfa],
  ];
  const stride = size * 3 + 1;
  const raw = Buffer.alloc(stride * size);
  const block = Math.ceil(size / blocks);
  for (let y = 0; y < size; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const [r, g, b] = palette[(Math.floor(y / block) * blocks + Math.floor(x / block)) % palette.length];
      const o = y * stride + 1 + x * 3;
      raw[o] = r; raw[o + 1] = g; raw[o + 2] = b;
    }
  }
  return rgbPng(size, size, raw);
}

/** A PNG of `raw` RGB rows, each led by its filter byte. */
function rgbPng(width, height, raw, level = zlib.constants.Z_DEFAULT_COMPRESSION) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // deflate, adaptive filters, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw, { level })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A real RGB PNG of random pixels, which does not compress: about
 * `width` * `height` * 3 bytes, for uploads that take a while to send.
 */
export function makeNoisyPng(width, height) {
  const stride = width * 3 + 1;
  const raw = crypto.randomBytes(stride * height);
  for (let y = 0; y < height; y++) raw[y * stride] = 0; // filter: none
  return rgbPng(width, height, raw, 1);
}

export const GRAVATAR_RE = /(^|\/\/)([a-z0-9-]+\.)?gravatar\.com\//i;

// ---------------------------------------------------------------------------
// Members made from the command line

/**
 * Create a confirmed member on `server` with `coterie user create` (role
 * "member", "moderator" or "staff"), as an operator would. Resolves once the
 * command has exited successfully.
 */
export async function createMember(server, { username, email, password, role = 'member' }) {
  const args = ['--data-dir', server.dataDir, 'user', 'create', '--username', username, '--email', email, '--password-stdin'];
  if (role !== 'member') args.push(`--${role}`);
  const proc = spawn(serverBinary(), args, {
    cwd: server.dataDir,
    env: childEnv({ COTERIE_DATA_DIR: server.dataDir }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  proc.stdin.end(`${password}\n`);
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  if (code !== 0) throw new Error(`coterie user create ${username} exited with ${code}: ${output.trim()}`);
}
