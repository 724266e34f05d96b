// The demo page (DEMO_UI) in a real browser: Debian's chromium driven by playwright-core.
// Two pages, two demo users in the demo room: what one types, the other sees live, and a
// page that joins later gets it as backfill.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_USERS } from '../shared/demo-room';
import { seedDemoRoom } from '../standalone/demo-seed';
import { startSystem, type TestSystem } from './support/system';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('demo page', () => {
  let system: TestSystem;
  let profileDir: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`);
    system = await startSystem({ DEMO_UI: 'true' });
    await seedDemoRoom(system.sql);
    profileDir = await mkdtemp(join(tmpdir(), 'arcyou-chromium-'));
    // A persistent context is how Playwright takes a --user-data-dir: a fresh one per run.
    browser = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
    browser.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  /** Opens the page as a demo user and joins the demo room with the page's own controls. */
  async function joinAs(name: string): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${system.port}/demo?user=${name}`);
    const user = DEMO_USERS.find((u) => u.name === name)!;
    await expect.poll(() => page.inputValue('#token')).toBe(user.id);
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="joined"]');
    expect(errors).toEqual([]);
    return page;
  }

  const messageText = (page: Page, source: 'live' | 'backfill', text: string) =>
    page.locator(`#messages li.message[data-source="${source}"] .text`, { hasText: text });

  it('shows a message typed in one page live in the other, and as backfill to a page that joins later', { timeout: 60_000 }, async () => {
    const alice = await joinAs('Alice');
    const bob = await joinAs('Bob');
    // The seeded welcome message came with the join.
    await messageText(bob, 'backfill', 'Welcome').waitFor();

    await alice.fill('#message', 'hello from the browser');
    await alice.press('#message', 'Enter');

    await messageText(bob, 'live', 'hello from the browser').waitFor();
    const item = bob.locator('#messages li.message', { hasText: 'hello from the browser' });
    await expect.poll(() => item.locator('.author').textContent()).toBe('Alice');
    // The sender sees it too, confirmed by the server (no longer "sending").
    await messageText(alice, 'live', 'hello from the browser').waitFor();
    expect(await alice.locator('#messages li.sending').count()).toBe(0);

    const carol = await joinAs('Carol');
    await messageText(carol, 'backfill', 'hello from the browser').waitFor();
    expect(await carol.locator('#messages li.message[data-source="live"]').count()).toBe(0);
  });
});
