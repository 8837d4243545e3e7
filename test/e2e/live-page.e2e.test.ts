// The live run page of examples/sse-server.ts in real headless Chromium
// (Debian's /usr/bin/chromium driven by playwright-core). The example
// imports the built package, so `npm run build` first (as `npm test` does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveServer, type LiveServer } from '../../examples/sse-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// As root, on a machine without network: no sandbox, no GPU, no QUIC, no background traffic.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let live: LiveServer;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  live = await startLiveServer({ port: 0, delayMs: 300 });
  profile = mkdtempSync(join(tmpdir(), 'agentbus-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 760 },
  });
});

afterAll(async () => {
  await context?.close();
  await live?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
});

describe('live run page', () => {
  it('shows a run\'s steps as they happen, with tool durations and token counts, then its finished state', async () => {
    const page = await context.newPage();
    await page.goto(live.url);
    await expect.poll(() => page.locator('#badge').textContent()).toBe('idle');
    await page.click('#start');

    // A step arrives while the run is still going: the page is live, not a replay at the end.
    await page.locator('#timeline li[data-type="agent.tool.started"]').first().waitFor();
    const whileRunning = await page.evaluate(() => ({
      state: document.body.dataset.state,
      rows: document.querySelectorAll('#timeline li').length,
    }));
    expect(whileRunning.state).toBe('running');

    await page.locator('body[data-state="finished"]').waitFor({ timeout: 20_000 });
    const rows = await page.locator('#timeline li').count();
    expect(rows).toBeGreaterThan(whileRunning.rows);
    expect(await page.locator('#badge').textContent()).toBe('finished');

    const tools = page.locator('#timeline li[data-type="agent.tool.started"]');
    expect(await tools.count()).toBe(2);
    for (const text of await tools.locator('.dur').allTextContents()) expect(text).toMatch(/^✓ \d+ ms$/);
    expect(await tools.locator('.kind').allTextContents()).toEqual(['tool get_weather', 'tool convert_temperature']);
    expect(await page.locator('#c-models').textContent()).toBe('3');
    expect(await page.locator('#c-tools').textContent()).toBe('2');
    expect(await page.locator('#c-tokens').textContent()).toMatch(/^[1-9]\d* \/ [1-9]\d*$/);
    expect(await page.locator('#timeline li[data-type="run.started"] .dur').textContent()).toMatch(/^✓ /);

    await page.screenshot({ path: '/tmp/agentbus-live-page.png', fullPage: true });
    await page.close();
    await live.idle();
  });
});
