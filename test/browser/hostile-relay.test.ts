// Attacks by the relay on real pages: a relay that claims a listener is a speaker cannot switch its microphone on.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, JoinResult, ParticipantSnapshot } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, type Adversary } from '../helpers/hostile-relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, expectHears, joinRoom, myId, roleShown, type PageOptions } from './pages.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;
const uninstall: (() => void)[] = [];

beforeAll(async () => {
  ({ relay, adversary } = await startHostileRelay());
  browser = await launchChromium({ toneHz: 440 });
  browser660 = await launchChromium({ toneHz: 660 });
}, 60_000);
afterEach(() => {
  for (const off of uninstall.splice(0)) off();
});
afterAll(async () => {
  await browser?.close();
  await browser660?.close();
  await relay?.close();
});

/** Counts the page's microphone requests, before any of its scripts runs. */
const countMicrophone: PageOptions = {
  before: () => {
    const devices = navigator.mediaDevices;
    const getUserMedia = devices.getUserMedia.bind(devices);
    const w = window as unknown as { microphoneRequests: number };
    w.microphoneRequests = 0;
    devices.getUserMedia = (constraints) => {
      w.microphoneRequests++;
      return getUserMedia(constraints);
    };
  },
};
const microphoneRequests = (page: Page) => page.evaluate(() => (window as unknown as { microphoneRequests: number }).microphoneRequests);

/** What the relay received from this participant that would carry its voice. */
function sending(participantId: string): string[] {
  return adversary
    .received(participantId)
    .filter((m) => (m.event === 'transport.create' && (m.payload as { direction: string }).direction === 'send') || m.event === 'producer.create')
    .map((m) => m.event);
}
const recvTransports = (participantId: string) => adversary.received(participantId).filter((m) => m.event === 'transport.create' && (m.payload as { direction: string }).direction === 'recv').length;

/** Tells the page its media was reset, then waits until it re-created its receiving side and hears the host again. */
async function forgeMediaReset(page: Page, id: string, hostId: string): Promise<void> {
  const before = recvTransports(id);
  adversary.inject(id, 'room.mediaReset', {});
  await expect.poll(() => recvTransports(id), { timeout: 15_000 }).toBeGreaterThan(before);
  await expectHears(page, hostId, 440);
}

describe("a relay cannot switch on a listener's microphone", () => {
  it('not by answering the join with a speaker role, nor by a later media reset', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Forged join', 'Host');
    const hostId = await myId(host);
    uninstall.push(
      adversary.rewriteAck('room.join', (data) => {
        const result = data as JoinResult;
        const participants = result.room.participants.map((p) => (p.participantId === result.participantId ? { ...p, role: 'speaker' as const } : p));
        return { ...result, role: 'speaker', room: { ...result.room, participants } };
      }),
    );
    const listener = await joinRoom(browser660, link, 'Listener', countMicrophone);
    const id = await myId(listener);
    // The forgery landed, but the page shows the role its signed roster gives, while the relay knows a listener.
    expect(adversary.sent(id).some((m) => m.request === 'room.join' && m.fate === 'replaced')).toBe(true);
    await expect.poll(() => roleShown(listener, id)).toBe('listener');
    expect(relay.rooms.get(new URL(link).pathname.split('/')[2]!)!.members.get(id)!.role).toBe('listener');
    await expectHears(listener, hostId, 440);
    await forgeMediaReset(listener, id, hostId);
    expect(await microphoneRequests(listener)).toBe(0);
    expect(sending(id)).toEqual([]);
    for (const p of [host, listener]) await p.close();
  }, 90_000);

  it('not by a forged update putting the listener on stage, nor by a media reset after it', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Forged update', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser660, link, 'Listener', countMicrophone);
    const id = await myId(listener);
    await expectHears(listener, hostId, 440);
    const joined = adversary.sent(hostId).find((m) => m.event === 'peer.joined' && (m.payload as EventOf<'peer.joined'>).participant.participantId === id)!;
    const snapshot: ParticipantSnapshot = (joined.payload as EventOf<'peer.joined'>).participant;
    adversary.inject(id, 'peer.updated', { participant: { ...snapshot, role: 'speaker' } });
    await expect.poll(() => adversary.sent(id).some((m) => m.event === 'peer.updated' && m.fate === 'injected')).toBe(true);
    expect(await roleShown(listener, id)).toBe('listener');
    await forgeMediaReset(listener, id, hostId);
    expect(await microphoneRequests(listener)).toBe(0);
    expect(sending(id)).toEqual([]);
    for (const p of [host, listener]) await p.close();
  }, 90_000);

  it('control: a genuine invitation the person accepts opens the microphone, and the host hears it', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Genuine', 'Host');
    const listener = await joinRoom(browser660, link, 'Listener', countMicrophone);
    const id = await myId(listener);
    expect(await microphoneRequests(listener)).toBe(0);
    await host.locator(`[data-testid="participant"][data-participant="${id}"] [data-testid="invite-to-speak"]`).click();
    await listener.getByTestId('accept-invite').click();
    await expectHears(host, id, 660);
    expect(await microphoneRequests(listener)).toBe(1);
    expect(sending(id)).toEqual(['transport.create', 'producer.create']);
    for (const p of [host, listener]) await p.close();
  }, 90_000);
});

describe('a relay cannot take a member out of its room by its word alone', () => {
  const relayEventsRejected = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { rejected(): { relayEvents: number } } }).teahouse.rejected().relayEvents);

  it('not by admitting it from a lobby it never waited in, nor by moving the room to an id it holds no secret for', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Stay', 'Host');
    const hostId = await myId(host);
    const guest = await joinRoom(browser660, link, 'Guest');
    const id = await myId(guest);
    await expectHears(guest, hostId, 440);
    await expect.poll(() => guest.locator('[data-testid="participant"]').count()).toBe(2);

    // The guest's own join reply, sent again as an admission from the lobby, with a member list of the guest alone:
    // entered again, the page would forget the host.
    const reply = adversary.sent(id).find((m) => m.kind === 'ack' && m.request === 'room.join')!;
    const joined = (reply.payload as { data: JoinResult }).data;
    adversary.inject(id, 'lobby.admitted', { ...joined, room: { ...joined.room, participants: joined.room.participants.filter((p) => p.participantId === id) } });
    await expect.poll(() => relayEventsRejected(guest)).toBe(1);
    // A rotation to a room id no commit gave it the secret of.
    adversary.inject(id, 'room.rotated', { newRoomId: 'A'.repeat(22) });
    await expect.poll(() => relayEventsRejected(guest)).toBe(2);

    expect(await guest.getByTestId('room-ended').count()).toBe(0);
    expect(await guest.locator('[data-testid="participant"]').count()).toBe(2);
    await expectHears(guest, hostId, 440);
    // And the genuine rotation still moves it: the host's new link, with its secret sealed to the guest.
    host.once('dialog', (d) => void d.accept());
    await host.getByTestId('rotate-link').click();
    await expect.poll(() => host.getByTestId('room-link').textContent()).not.toBe(link);
    const newLink = await host.getByTestId('room-link').textContent();
    await expect.poll(() => guest.getByTestId('room-link').textContent()).toBe(newLink);
    await expectHears(guest, hostId, 440);
    for (const p of [host, guest]) await p.close();
  }, 120_000);
});
