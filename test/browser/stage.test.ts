import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { epochKey, expectUndecryptable, tapRoom } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, e2eeState, epochOf, expectHears, joinRoom, myId, openPage, roomIdOf } from './pages.ts';

let relay: Relay;
let browser: Browser;
let browser660: Browser;

beforeAll(async () => {
  relay = await startTestRelay();
  browser = await launchChromium({ toneHz: 440 });
  browser660 = await launchChromium({ toneHz: 660 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await browser660?.close();
  await relay?.close();
});

describe('moderation in real browsers', () => {
  it('kick: the member is removed, the room rekeys, the others keep hearing', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Kick', 'Host');
    const hostId = await myId(host);
    const stays = await joinRoom(browser, link, 'Stays');
    const troll = await joinRoom(browser, link, 'Troll');
    const trollId = await myId(troll);
    await expectHears(troll, hostId, 440);
    const held = await epochKey(troll);
    const before = await epochOf(host);
    await host.locator(`[data-testid="participant"][data-participant="${trollId}"] [data-testid="kick-participant"]`).click();
    await expect.poll(() => troll.getByTestId('room-ended').getAttribute('data-reason')).toBe('kicked');
    await expect.poll(() => epochOf(host)).toBeGreaterThan(before!);
    await expect.poll(() => epochOf(stays)).toBe(await epochOf(host));
    await expect.poll(() => stays.locator('[data-testid="participant"]').count()).toBe(2);
    await new Promise((r) => setTimeout(r, 1000));
    await expectHears(stays, hostId, 440);
    // The host rotated the link with the kick: a new room id, so the kicked member cannot return with a new identity.
    const roomId = await roomIdOf(host);
    expect(roomId).not.toBe(new URL(link).pathname.split('/')[2]);
    await expect.poll(() => roomIdOf(stays)).toBe(roomId);
    // What is sent after the kick does not decrypt under the keys the kicked browser held.
    const tap = await tapRoom(relay, roomId);
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(100);
    tap.close();
    await expectUndecryptable(tap.payloads, held.secret, (await epochKey(host)).epoch);
    // Nor with the same identity: it was refused at the relay.
    expect(relay.rooms.get(roomId)!.banned.size).toBe(1);
    for (const p of [host, stays, troll]) await p.close();
  }, 90_000);

  it('lock: a newcomer waits in the lobby with no key until a moderator admits them by name', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Locked', 'Host');
    const hostId = await myId(host);
    await host.getByTestId('lock-room').click();
    await expect.poll(() => host.getByTestId('lock-room').getAttribute('aria-pressed')).toBe('true');
    const visitor = await openPage(browser, link);
    await visitor.getByTestId('join-name').fill('Visitor Chen');
    await visitor.getByTestId('join-room').click();
    await expect.poll(() => visitor.getByTestId('lobby-waiting').count()).toBe(1);
    await expect.poll(() => host.getByTestId('lobby-entry').textContent()).toContain('Visitor Chen');
    expect(await visitor.evaluate(() => (window as unknown as { teahouse: { currentEpochKey(): unknown } }).teahouse.currentEpochKey())).toBeNull();
    await host.getByTestId('lobby-admit').click();
    await expect.poll(() => e2eeState(visitor), { timeout: 15_000 }).toBe('encrypted');
    await expectHears(visitor, hostId, 440);

    const declined = await openPage(browser, link);
    await declined.getByTestId('join-name').fill('Nobody');
    await declined.getByTestId('join-room').click();
    await expect.poll(() => host.getByTestId('lobby-entry').count()).toBe(1);
    await host.getByTestId('lobby-decline').click();
    await expect.poll(() => declined.getByTestId('room-ended').getAttribute('data-reason')).toBe('lobbyDeclined');
    for (const p of [host, visitor, declined]) await p.close();
  }, 90_000);

  it('hand-over: when the host leaves, the moderator distributes keys and a newcomer hears the room', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Hand-over', 'Host');
    const mod = await joinRoom(browser660, link, 'Moderator');
    const modId = await myId(mod);
    const listener = await joinRoom(browser, link, 'Listener');
    await host.locator(`[data-testid="participant"][data-participant="${modId}"] [data-testid="make-moderator"]`).click();
    await expect.poll(() => listener.locator(`[data-testid="participant"][data-participant="${modId}"]`).getAttribute('data-role')).toBe('moderator');
    // Being made moderator opens no microphone: the moderator switches it on.
    await mod.getByTestId('mic-toggle').click();
    await expectHears(listener, modId, 660);
    const before = await epochOf(listener);
    const fingerprint = await listener.getByTestId('fingerprint').textContent();
    await host.getByTestId('leave-room').click();
    // The moderator takes over: a fresh epoch signed by it, accepted by the listener.
    await expect.poll(() => epochOf(listener), { timeout: 15_000 }).toBeGreaterThan(before!);
    expect(await epochOf(mod)).toBe(await epochOf(listener));
    expect(await listener.getByTestId('fingerprint').textContent()).toBe(fingerprint);
    const late = await joinRoom(browser, link, 'Late');
    await expectHears(late, modId, 660);
    await expectHears(listener, modId, 660);
    for (const p of [mod, listener, late]) await p.close();
  }, 120_000);

  it('link rotation: members carry on with a new fingerprint, the old link is refused, the new one works', async () => {
    const { page: host, link: oldLink } = await createRoom(browser, relay.url, 'Leaky', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, oldLink, 'Listener');
    await expectHears(listener, hostId, 440);
    const oldFingerprint = await listener.getByTestId('fingerprint').textContent();
    host.once('dialog', (d) => void d.accept());
    await host.getByTestId('rotate-link').click();
    await expect.poll(() => host.getByTestId('room-link').textContent()).not.toBe(oldLink);
    const newLink = (await host.getByTestId('room-link').textContent())!;
    await expect.poll(() => listener.getByTestId('fingerprint').textContent()).not.toBe(oldFingerprint);
    expect(await listener.getByTestId('fingerprint').textContent()).toBe(await host.getByTestId('fingerprint').textContent());
    await expect.poll(() => listener.getByTestId('room-link').textContent()).toBe(newLink);
    // The address bar shows the new room's path only; each tab keeps the new secret and who it is in the new room,
    // and has dropped everything it kept under the old one.
    const newRoomId = await roomIdOf(listener);
    const oldRoomId = new URL(oldLink).pathname.split('/')[2]!;
    for (const page of [host, listener]) {
      expect(await page.evaluate(() => location.href)).toBe(`${relay.url}/r/${newRoomId}`);
      const stored = await page.evaluate(() => Object.fromEntries(Object.entries(sessionStorage)));
      expect(stored[`teahouse.room-secret.${newRoomId}`]).toBe(newLink.slice(newLink.indexOf('#') + 1));
      // A stage member also keeps the KEM offers it took (teahouse.kem.<room>), under the new room only.
      expect(
        Object.keys(stored)
          .filter((k) => k !== `teahouse.kem.${newRoomId}`)
          .sort(),
      ).toEqual([`teahouse.member.${newRoomId}`, `teahouse.room-secret.${newRoomId}`]);
      expect(Object.keys(stored).some((k) => k.endsWith(oldRoomId))).toBe(false);
    }
    expect(await listener.getByText(/fingerprint changed/).count()).toBe(1);
    await expectHears(listener, hostId, 440);

    const stale = await openPage(browser, oldLink);
    await expect
      .poll(() =>
        stale
          .getByTestId('room-ended')
          .getAttribute('data-reason')
          .catch(() => null),
      )
      .toBe('linkRevoked');
    const fresh = await joinRoom(browser, newLink, 'Newcomer');
    await expectHears(fresh, hostId, 440);
    // The newcomer verifies the members who re-announced under the new keys: names, not placeholders. A listener is
    // shown the stage (here the host), not the other listeners.
    await expect.poll(() => fresh.locator(`[data-testid="participant"][data-participant="${hostId}"] .name`).textContent()).toContain('Host');
    for (const p of [host, listener, stale, fresh]) await p.close();
  }, 120_000);
});
