// The demo page (DEMO_UI) in a real browser: Debian's chromium driven by playwright-core.
// Two pages, two demo users in the demo room: what one types, the other sees live, and a
// page that joins later gets it as backfill; a page whose gateway is restarted comes back
// by itself and shows what was sent meanwhile.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ROOM, DEMO_USERS } from '../shared/demo-room';
import { insertMessages } from '../gateway/sql/insert-messages';
import { seedDemoRoom } from '../standalone/demo-seed';
import { startGatewayProcess } from './support/child-process';
import { startTcpProxy } from './support/tcp-proxy';
import { redisUrl } from './support/services';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

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

  /** Opens the page (of the gateway on `port`) as a demo user and joins the demo room with the page's own controls. */
  async function joinAs(name: string, port = system.port): Promise<Page> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${port}/demo?user=${name}`);
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

  it(
    'lists my rooms with unread counts, loads older history on scroll, edits and deletes own messages, shows typing and read marks',
    { timeout: 60_000 },
    async () => {
      const [alice, bob] = [DEMO_USERS.find((u) => u.name === 'Alice')!, DEMO_USERS.find((u) => u.name === 'Bob')!];
      const [room] = await system.sql<{ id: string }[]>`INSERT INTO arcyou_chat_rooms (name) VALUES ('History room') RETURNING id`;
      const roomId = room!.id;
      await system.sql`INSERT INTO arcyou_chat_members (room_id, user_id) VALUES (${roomId}, ${alice.id}), (${roomId}, ${bob.id})`;
      const stored = await insertMessages(
        system.sql,
        Array.from({ length: 60 }, (_, i) => ({ roomId, userId: alice.id, content: { text: `old ${i + 1}` }, extra: {} })),
        { fastPathOwner: null, fastLockSeconds: 5, notify: false },
      );
      // Bob has read up to the 55th: his join backfills the last five, the rest is history.
      await system.sql`UPDATE arcyou_chat_members SET last_read_message_id = ${stored[54]!.id} WHERE room_id = ${roomId} AND user_id = ${bob.id}`;

      const open = async (user: { id: string }) => {
        const page = await browser.newPage();
        page.on('dialog', (dialog) => void dialog.accept('edited in the browser'));
        await page.goto(`http://127.0.0.1:${system.port}/demo?user=${user.id}&room=${roomId}`);
        await expect.poll(() => page.inputValue('#token')).toBe(user.id);
        await page.click('#connect');
        await page.waitForSelector('#status[data-state="joined"]');
        return page;
      };
      const bobPage = await open(bob);
      await expect.poll(() => bobPage.locator('#messages li.message[data-source="backfill"]').count()).toBe(5);

      // The room list: both rooms; the demo room has unread messages from others.
      await expect.poll(() => bobPage.locator('#rooms li').count()).toBe(2);
      const demoUnread = bobPage.locator('#rooms li', { hasText: 'Demo room' }).locator('.unread');
      expect(Number(await demoUnread.getAttribute('data-count'))).toBeGreaterThan(0);

      // Scrolling up loads older messages from history, oldest first above the backfill.
      await expect.poll(() => bobPage.locator('#older').isVisible()).toBe(true);
      for (let i = 0; i < 5 && (await bobPage.locator('#messages li.message[data-source="history"]').count()) < 55; i++) {
        await bobPage.locator('#messages').evaluate((el) => el.scrollTo(0, 0));
        await bobPage.waitForTimeout(300);
      }
      const texts = await bobPage.locator('#messages li.message .text').allTextContents();
      expect(texts).toEqual(Array.from({ length: 60 }, (_, i) => `old ${i + 1}`));

      // Typing, edit, delete, read marks between two pages.
      const alicePage = await open(alice);
      await alicePage.type('#message', 'typing…');
      await bobPage.locator('#typing', { hasText: 'Alice is typing' }).waitFor();
      await alicePage.fill('#message', 'to be edited');
      await alicePage.press('#message', 'Enter');
      const atBob = bobPage.locator('#messages li.message[data-source="live"]', { hasText: 'to be edited' });
      await atBob.waitFor();
      const mine = alicePage.locator('#messages li.message.mine', { hasText: 'to be edited' });
      await mine.hover();
      await mine.locator('button.edit').click();
      await bobPage.locator('#messages li.message', { hasText: 'edited in the browser' }).locator('.edited').waitFor();
      await bobPage.check('#auto-ack');
      await alicePage.locator('.read-by', { hasText: 'read by Bob' }).waitFor();
      const edited = alicePage.locator('#messages li.message.mine', { hasText: 'edited in the browser' });
      await edited.hover();
      await edited.locator('button.delete').click();
      await bobPage.locator('#messages li.message.deleted', { hasText: 'message deleted' }).waitFor();
    },
  );

  it('comes back by itself after its gateway is restarted and shows the messages sent meanwhile, in order', { timeout: 90_000 }, async () => {
    // Bob's page talks to a gateway process of its own, behind a fixed address (as behind a
    // load balancer); Alice writes through the in-process one.
    const env = { DATABASE_URL: system.db.url, REDIS_URL: redisUrl(), DEMO_UI: 'true', LOG_LEVEL: 'info' };
    let gateway = await startGatewayProcess(env);
    const address = await startTcpProxy(gateway.port);
    const alice = await TestClient.connect(system.port);
    try {
      await alice.login(DEMO_USERS.find((u) => u.name === 'Alice')!.id, DEMO_ROOM.id);
      const send = async (text: string) =>
        expect(await alice.request({ op: 'send', room_id: DEMO_ROOM.id, content: { text } })).toMatchObject({ success: true });
      const bob = await joinAs('Bob', address.port);
      await send('before the restart');
      await messageText(bob, 'live', 'before the restart').waitFor();

      gateway.child.kill('SIGKILL');
      await gateway.exited;
      await bob.waitForSelector('#status:not([data-state="joined"])');
      const meanwhile = Array.from({ length: 5 }, (_, i) => `while the gateway was down ${i + 1}`);
      for (const text of meanwhile) await send(text);
      gateway = await startGatewayProcess(env);
      address.retarget(gateway.port);

      await bob.waitForSelector('#status[data-state="joined"]', { timeout: 30_000 });
      await bob.locator('#messages li.message .text', { hasText: meanwhile.at(-1)! }).waitFor({ timeout: 20_000 });
      await send('after the restart');
      await messageText(bob, 'live', 'after the restart').waitFor();
      const shown = await bob.locator('#messages li.message .text').allTextContents();
      const ours = ['before the restart', ...meanwhile, 'after the restart'];
      expect(shown.filter((text) => ours.includes(text))).toEqual(ours); // each once, in order
    } finally {
      alice.close();
      gateway.child.kill('SIGKILL');
      await address.close();
    }
  });
});
