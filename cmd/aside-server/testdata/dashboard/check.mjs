// Drives aside-server's dashboard in Debian's Chromium and prints what it
// saw as JSON (dashboard_test.go asserts on it):
//
//   node check.mjs check <base URL> <admin token> <screenshot.png>
//   node check.mjs disabled <base URL>                 (a server without the token)
//   node check.mjs shoot <base URL> <screenshot.png>   (docs/dashboard.png)
//
// playwright-core brings no browser: it drives /usr/bin/chromium, in a
// fresh profile, with everything that would reach the network turned off.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [mode, base, ...rest] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'aside-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const modes = { check, disabled, shoot };
  const out = await modes[mode](...rest);
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}

// check loads the page, makes requests and waits for the hit rate to show
// them, then sends the clears without and with the token.
async function check(token, screenshot) {
  const out = { requests: [], problems: [] };
  const page = await browser.newPage();
  page.on('request', (r) => out.requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') out.problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => out.problems.push(`page error: ${e.message}`));
  await page.goto(`${base}/`);
  await page.waitForSelector('[data-ns="users"]', { timeout: 15000 });
  out.namespaces = await page.$$eval('[data-ns]', (cards) => cards.map((c) => c.dataset.ns));
  const hitRate = () => page.textContent('[data-ns="users"] [data-field="hitRate"]');
  out.hitRateBefore = await hitRate();

  // 20 users read twice: 20 misses, then 20 hits.
  for (let round = 0; round < 2; round++) {
    for (let id = 1; id <= 20; id++) {
      const res = await fetch(`${base}/api/users/${id}`);
      if (!res.ok) throw new Error(`GET /api/users/${id}: ${res.status}`);
    }
  }
  await page.waitForFunction((before) => {
    const el = document.querySelector('[data-ns="users"] [data-field="hitRate"]');
    return el.textContent !== before && el.textContent === '50.0%';
  }, out.hitRateBefore, { timeout: 15000 }).catch(() => {});
  out.hitRateAfter = await hitRate();
  out.chart = await page.getAttribute('[data-ns="users"] .line', 'd');

  out.refused = await clear(page, 'user:*', '');
  out.cleared = await clear(page, 'user:*', token);
  page.once('dialog', (d) => d.accept());
  out.clearedAll = await clear(page, null, token);
  out.storage = await page.evaluate(() => localStorage.length + sessionStorage.length);
  out.tokenField = await page.inputValue('#token');
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 }); // a phone
  await page.waitForTimeout(100);
  out.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  out.phoneFont = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('dd')).fontSize));
  return out;
}

// clear fills the form and sends a clear (of pattern, or everything when
// pattern is null), and returns what the page showed.
async function clear(page, pattern, token) {
  await page.fill('#token', token);
  if (pattern != null) await page.fill('#pattern', pattern);
  const before = await page.textContent('#result');
  await page.click(pattern == null ? '#clear-all' : '#clear-pattern');
  await page.waitForFunction((b) => {
    const el = document.querySelector('#result');
    return el.textContent !== b && /\b(ok|refused)\b/.test(el.className);
  }, before, { timeout: 10000 });
  return page.$eval('#result', (el) => ({ kind: el.className, text: el.textContent, deleted: el.dataset.deleted ?? null }));
}

// disabled reads the clear form of a server whose mutations are off.
async function disabled() {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('#clear-off:not([hidden])', { timeout: 15000 });
  return {
    reason: await page.textContent('#clear-off'),
    enabled: await page.$$eval('#clear input, #clear button', (els) => els.filter((el) => !el.disabled).length),
  };
}

// shoot takes the README's screenshot of a server that has been running.
async function shoot(path) {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('[data-ns="users"]');
  await page.waitForTimeout(500);
  await page.screenshot({ path, fullPage: true });
  return { path };
}
