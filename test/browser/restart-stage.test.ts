// The stage after a relay restart, in Chromium: roles, hands and mutes come back from signed state, microphones stay closed.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict } from '../helpers/hostile-relay.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, dropConnection, epochCode, epochOf, expectHears, joinRoom, myId, roleShown, roomIdOf } from './pages.ts';

const rejectedDecisions = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { rejected(): { decisions: number } } }).teahouse.rejected().decisions);

let hostBrowser: Browser;
let speakerBrowser: Browser;
let quietBrowser: Browser;
const relays: Relay[] = [];

async function relay(options: Parameters<typeof startTestRelay>[0] = {}): Promise<Relay> {
  const r = await startTestRelay({ disconnectGraceMs: 30_000, ...options });
  relays.push(r);
  return r;
}

beforeAll(async () => {
  hostBrowser = await launchChromium({ toneHz: 440 });
  speakerBrowser = await launchChromium({ toneHz: 660 });
  quietBrowser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await speakerBrowser?.close();
  await quietBrowser?.close();
  for (const r of relays) await r.close();
});

const entry = (page: Page, participantId: string) => page.locator(`[data-testid="participant"][data-participant="${participantId}"]`);
const micPressed = (page: Page) => page.getByTestId('mic-toggle').getAttribute('aria-pressed');
const reconnectingShown = (page: Page) =>
  page
    .getByTestId('reconnecting')
    .count()
    .then((n) => n > 0);

describe('stage state across a relay restart', () => {
  it('relay restart in Chromium: roles and hands restored, microphones closed until switched on', async () => {
    const first = await relay();
    const { page: host, link } = await createRoom(hostBrowser, first.url, 'Stage', 'Host');
    const mod = await joinRoom(quietBrowser, link, 'Moderator');
    const speaker = await joinRoom(speakerBrowser, link, 'Speaker');
    const listener = await joinRoom(quietBrowser, link, 'Listener');
    const pages = [host, mod, speaker, listener];
    const [modId, speakerId, listenerId] = await Promise.all([myId(mod), myId(speaker), myId(listener)]);

    await entry(host, modId).getByTestId('make-moderator').click();
    await entry(host, speakerId).getByTestId('invite-to-speak').click();
    await speaker.getByTestId('accept-invite').click();
    await expectHears(host, speakerId, 660);
    await listener.getByTestId('raise-hand').click();
    await expect.poll(() => entry(host, listenerId).locator('.hand').count()).toBe(1);
    for (const page of pages) {
      await expect.poll(() => roleShown(page, modId)).toBe('moderator');
      await expect.poll(() => roleShown(page, speakerId)).toBe('speaker');
    }
    const roomId = await roomIdOf(host);

    await first.close();
    for (const page of pages) await expect.poll(() => reconnectingShown(page)).toBe(true);
    const second = await relay({ port: first.port, host: '127.0.0.1' });
    for (const page of pages) await expect.poll(() => reconnectingShown(page), { timeout: 45_000 }).toBe(false);

    const room = second.rooms.get(roomId)!;
    const ids = await Promise.all(pages.map(myId));
    const [newHostId, newModId, newSpeakerId, newListenerId] = ids as [string, string, string, string];
    expect(newSpeakerId).not.toBe(speakerId);
    // Every page shows the stage as it was, from the signed stage of the new room's commits.
    const expected: [string, string][] = [
      [newHostId, 'host'],
      [newModId, 'moderator'],
      [newSpeakerId, 'speaker'],
    ];
    for (const page of pages) {
      for (const [id, role] of expected) await expect.poll(() => roleShown(page, id).catch(() => null), { timeout: 45_000 }).toBe(role);
    }
    await expect.poll(() => roleShown(listener, newListenerId)).toBe('listener');
    // The relay enforces what the signed decisions gave back.
    expect(room.members.get(newModId)?.role).toBe('moderator');
    expect(room.members.get(newSpeakerId)?.role).toBe('speaker');
    // The listener raised its hand again itself.
    await expect.poll(() => listener.getByTestId('raise-hand').getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => entry(host, newListenerId).locator('.hand').count()).toBe(1);
    // All four share the new epoch's keys.
    await expect.poll(async () => new Set(await Promise.all(pages.map(epochCode))).size).toBe(1);
    expect(await epochCode(host)).not.toBeNull();

    // Back on stage, muted: no microphone opened by itself, on the speaker's page or at the relay.
    await expect.poll(() => entry(host, newSpeakerId).locator('.muted').count()).toBe(1);
    await expect.poll(() => entry(host, newModId).locator('.muted').count()).toBe(1);
    for (const page of [speaker, mod]) expect(await micPressed(page)).toBe('false');
    expect(room.members.get(newSpeakerId)?.producers.size).toBe(0);
    expect(room.members.get(newModId)?.producers.size).toBe(0);

    // The speaker's own action opens it, and the room hears it again.
    await speaker.getByTestId('mic-toggle').click();
    await expect.poll(() => micPressed(speaker)).toBe('true');
    await expect.poll(() => room.members.get(newSpeakerId)?.muted).toBe(false);
    await expectHears(host, newSpeakerId, 660, 30_000);
    await expectHears(listener, newSpeakerId, 660, 30_000);
    await expectHears(listener, newHostId, 440, 30_000);
    for (const page of pages) await page.close();
  }, 240_000);

  it('a hostile relay cannot seat a returning speaker with an invitation it held back from before: it is refused, not asked', async () => {
    const { relay: r, adversary } = await startHostileRelay({ disconnectGraceMs: 3_000 });
    relays.push(r);
    const { page: host, link } = await createRoom(hostBrowser, r.url, 'Withheld', 'Host');
    const speaker = await joinRoom(speakerBrowser, link, 'Speaker');
    const speakerId = await myId(speaker);
    // The relay keeps the host's first invitation to itself; the second one the speaker accepts.
    let withheld: unknown = null;
    const stopWithholding = adversary.forEvent('stage.invited', (payload, message) => {
      if (message.recipient.participantId !== speakerId || withheld) return;
      withheld = payload;
      return verdict.drop;
    });
    await entry(host, speakerId).getByTestId('invite-to-speak').click();
    await expect.poll(() => withheld).not.toBeNull();
    stopWithholding();
    await entry(host, speakerId).getByTestId('invite-to-speak').click();
    await speaker.getByTestId('accept-invite').click();
    await expectHears(host, speakerId, 660);

    // Cut off past the grace, the speaker comes back as a new member, a listener, holding the stage it had.
    await dropConnection(speaker, 10_000);
    await expect.poll(() => myId(speaker), { timeout: 45_000 }).not.toBe(speakerId);
    const newSpeakerId = await myId(speaker);
    await expect.poll(async () => (await epochOf(speaker)) !== null && (await epochOf(speaker)) === (await epochOf(host)), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => roleShown(host, newSpeakerId).catch(() => null)).toBe('listener');

    // The held-back invitation is genuine and not yet answered, but older than the speaker's return: it was signed under
    // a commit the member no longer holds (decisions are bound to their commit, protocol §6), so it is refused and counted,
    // never taken as a seat and not even asked about.
    const refusedBefore = (await rejectedDecisions(speaker)) ?? 0;
    adversary.inject(newSpeakerId, 'stage.invited', withheld);
    await expect.poll(() => rejectedDecisions(speaker)).toBe(refusedBefore + 1);
    expect(await speaker.getByTestId('accept-invite').count()).toBe(0);
    expect(await roleShown(speaker, newSpeakerId)).toBe('listener');
    const seat = r.rooms.get(await roomIdOf(host))?.members.get(newSpeakerId);
    expect(seat?.role).toBe('listener');
    expect(seat?.producers.size).toBe(0);
    for (const page of [host, speaker]) await page.close();
  }, 180_000);
});
