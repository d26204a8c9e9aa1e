import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Relay } from '../../server/index.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, dropConnection, epochOf, expectHears, joinRoom, myId, openPage, roomIdOf } from './pages.ts';

let hostBrowser: Browser;
let listenerBrowser: Browser;
const relays: Relay[] = [];

async function relay(options: Parameters<typeof startTestRelay>[0] = {}): Promise<Relay> {
  const r = await startTestRelay({ disconnectGraceMs: 30_000, ...options });
  relays.push(r);
  return r;
}

beforeAll(async () => {
  hostBrowser = await launchChromium({ toneHz: 440 });
  listenerBrowser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await hostBrowser?.close();
  await listenerBrowser?.close();
  for (const r of relays) await r.close();
});

/** A host speaking 440 Hz and a listener hearing it. */
async function hostAndListener(r: Relay, title: string): Promise<{ host: Page; listener: Page; hostId: string; roomId: string }> {
  const { page: host, link } = await createRoom(hostBrowser, r.url, title, 'Host');
  const listener = await joinRoom(listenerBrowser, link, 'Listener');
  const hostId = await myId(host);
  await expectHears(listener, hostId, 440);
  return { host, listener, hostId, roomId: await roomIdOf(host) };
}

/** The relay forwards the speaker's current producer to the listener: media was set up again on this relay. */
function consumes(r: Relay, roomId: string, listenerId: string, speakerId: string): boolean {
  const room = r.rooms.get(roomId);
  const speaker = room?.members.get(speakerId);
  const listener = room?.members.get(listenerId);
  if (!speaker || !listener || speaker.producers.size === 0) return false;
  return [...listener.consumers.values()].some((c) => speaker.producers.has(c.producerId) && !c.closed);
}

const fingerprint = (page: Page) => page.getByTestId('fingerprint').textContent();
const reconnectingShown = (page: Page) =>
  page
    .getByTestId('reconnecting')
    .count()
    .then((n) => n > 0);

describe('faults seen from the browser', () => {
  it('the relay restarts: the host re-creates the room, the listener rejoins, with the same fingerprint and a fresh epoch, no reload', async () => {
    const first = await relay();
    const { host, listener, hostId, roomId } = await hostAndListener(first, 'Restart');
    const fingerprintBefore = await fingerprint(host);
    expect(await fingerprint(listener)).toBe(fingerprintBefore);
    const epochBefore = Math.max((await epochOf(host))!, (await epochOf(listener))!);
    // A marker in page memory: it survives only if the page is never reloaded.
    for (const page of [host, listener]) await page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));

    await first.close();
    await expect.poll(() => reconnectingShown(host)).toBe(true);
    await expect.poll(() => reconnectingShown(listener)).toBe(true);

    const second = await relay({ port: first.port, host: '127.0.0.1' });
    await expect.poll(() => reconnectingShown(host), { timeout: 45_000 }).toBe(false);
    await expect.poll(() => reconnectingShown(listener), { timeout: 45_000 }).toBe(false);

    // Same room id on the fresh relay, re-created by the old host, who is host again; the listener is a member.
    const room = second.rooms.get(roomId)!;
    expect(room).toBeDefined();
    const newHostId = await myId(host);
    const listenerId = await myId(listener);
    expect(newHostId).not.toBe(hostId);
    expect(room.members.get(newHostId)?.role).toBe('host');
    await expect.poll(() => room.members.get(listenerId)?.role).toBe('listener');

    await expect.poll(() => consumes(second, roomId, listenerId, newHostId), { timeout: 30_000 }).toBe(true);
    await expectHears(listener, newHostId, 440, 30_000);
    expect(await fingerprint(host)).toBe(fingerprintBefore);
    expect(await fingerprint(listener)).toBe(fingerprintBefore);
    for (const page of [host, listener]) {
      await expect.poll(() => page.getByTestId('e2ee-status').getAttribute('data-state')).toBe('encrypted');
      await expect.poll(() => epochOf(page)).toBeGreaterThan(epochBefore);
      expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
    }
    expect(await epochOf(listener)).toBe(await epochOf(host));
    await host.close();
    await listener.close();
  }, 180_000);

  it('the relay restarts and the host does not come back: the moderator re-creates the locked room after its turn, lets former members in, and the fingerprint says the host changed', async () => {
    const first = await relay();
    const { page: host, link } = await createRoom(hostBrowser, first.url, 'Takeover', 'Host');
    const mod = await joinRoom(hostBrowser, link, 'Moderator');
    const listener = await joinRoom(listenerBrowser, link, 'Listener');
    const modId = await myId(mod);
    await host.locator(`[data-testid="participant"][data-participant="${modId}"] [data-testid="make-moderator"]`).click();
    await expect.poll(() => listener.locator(`[data-testid="participant"][data-participant="${modId}"]`).getAttribute('data-role')).toBe('moderator');
    // Being made moderator opens no microphone: the moderator switches it on.
    await mod.getByTestId('mic-toggle').click();
    await expectHears(listener, modId, 440);
    const roomId = await roomIdOf(listener);
    const fingerprintBefore = await fingerprint(listener);
    const epochBefore = (await epochOf(listener))!;
    await host.getByTestId('lock-room').click();
    await expect.poll(() => first.rooms.get(roomId)?.locked).toBe(true);

    await first.close();
    await host.close();
    const second = await relay({ port: first.port, host: '127.0.0.1' });
    await expect.poll(() => reconnectingShown(mod), { timeout: 45_000 }).toBe(false);
    await expect.poll(() => reconnectingShown(listener), { timeout: 45_000 }).toBe(false);
    const newModId = await myId(mod);
    expect(second.rooms.get(roomId)?.members.get(newModId)?.role).toBe('host');
    await expectHears(listener, newModId, 440, 30_000);
    await expect.poll(() => epochOf(listener)).toBeGreaterThan(epochBefore);
    expect(await epochOf(mod)).toBe(await epochOf(listener));
    // The fingerprint binds the host's key: a new host is a new fingerprint, and members are told it changed.
    expect(await fingerprint(listener)).not.toBe(fingerprintBefore);
    expect(await fingerprint(listener)).toBe(await fingerprint(mod));
    expect(await listener.getByText(/fingerprint changed/).count()).toBe(1);
    // Still locked: the listener came back in as a former member, a stranger with the link waits in the lobby.
    expect(second.rooms.get(roomId)?.locked).toBe(true);
    const stranger = await openPage(listenerBrowser, link);
    await stranger.getByTestId('join-name').fill('Stranger');
    await stranger.getByTestId('join-room').click();
    await expect.poll(() => stranger.getByTestId('lobby-waiting').count()).toBe(1);
    expect(second.rooms.get(roomId)?.lobby.size).toBe(1);
    for (const page of [mod, listener, stranger]) await page.close();
  }, 180_000);

  it('the relay restarts and nobody who may distribute comes back: the listener keeps trying, then says the room is lost', async () => {
    const first = await relay();
    const { host, listener } = await hostAndListener(first, 'Lost');
    await first.close();
    await host.close();
    await relay({ port: first.port, host: '127.0.0.1' });
    await expect.poll(() => reconnectingShown(listener)).toBe(true);
    await expect
      .poll(
        () =>
          listener
            .getByTestId('room-ended')
            .getAttribute('data-reason')
            .catch(() => null),
        { timeout: 100_000, interval: 1_000 },
      )
      .toBe('roomLost');
    await listener.close();
  }, 150_000);

  it('a network drop within the grace: the member comes back as itself with no rekey; a longer one is a leave, a rekey and a fresh join', async () => {
    let resumes = 0;
    // A grace that a reconnect on a busy machine (socket.io waits 0.5-1.5 s before trying) fits in with room to spare.
    const r = await relay({
      disconnectGraceMs: 6_000,
      onClientMessage: (event, payload) => {
        if (event === 'room.join' && typeof (payload as { resumeToken?: unknown }).resumeToken === 'string') resumes++;
      },
    });
    const { host, listener, hostId, roomId } = await hostAndListener(r, 'Drop');
    const listenerId = await myId(listener);
    const epoch = await epochOf(host);
    expect(await epochOf(listener)).toBe(epoch);

    // Short: socket.io reconnects within a second or two, well within the grace.
    await dropConnection(listener);
    await expect.poll(() => resumes, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => r.rooms.get(roomId)?.members.get(listenerId)?.socket != null).toBe(true);
    expect(await myId(listener)).toBe(listenerId);
    expect(await epochOf(listener)).toBe(epoch);
    expect(await epochOf(host)).toBe(epoch);
    await expect.poll(() => reconnectingShown(listener)).toBe(false);
    await expectHears(listener, hostId, 440);
    expect(await host.getByTestId('participant').count()).toBe(2);

    // Long: kept down for well past the grace, the member is gone and the host rekeys; it then joins afresh.
    await dropConnection(listener, 20_000);
    await expect.poll(() => host.getByTestId('participant').count(), { timeout: 20_000 }).toBe(1);
    await expect.poll(() => epochOf(host)).toBeGreaterThan(epoch!);
    await expect.poll(() => myId(listener), { timeout: 45_000 }).not.toBe(listenerId);
    await expect.poll(() => host.getByTestId('participant').count()).toBe(2);
    await expect.poll(() => reconnectingShown(listener)).toBe(false);
    // The rejoin's ratchet comes when the host's batch window closes: compare both sides afresh each time.
    await expect.poll(async () => (await epochOf(listener)) === (await epochOf(host))).toBe(true);
    await expectHears(listener, hostId, 440, 30_000);
    await host.close();
    await listener.close();
  }, 180_000);

  it('the mediasoup worker dies: the browsers re-create their transports on their own, the listener hears again, no rekey', async () => {
    const r = await relay();
    const { host, listener, hostId, roomId } = await hostAndListener(r, 'Worker');
    const listenerId = await myId(listener);
    const epoch = await epochOf(host);
    const room = r.rooms.get(roomId)!;
    const oldProducers = [...room.members.get(hostId)!.producers.keys()];
    expect(oldProducers).toHaveLength(1);
    const [dead] = r.workers();

    process.kill(dead!.pid, 'SIGKILL');
    await expect.poll(() => r.workers()[0]?.pid, { timeout: 30_000 }).not.toBe(dead!.pid);
    // A new producer from the host and a consumer of it for the listener: both pages rebuilt their media.
    await expect.poll(() => [...(room.members.get(hostId)?.producers.keys() ?? [])].some((id) => !oldProducers.includes(id)), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => consumes(r, roomId, listenerId, hostId), { timeout: 30_000 }).toBe(true);
    await expectHears(listener, hostId, 440, 30_000);
    expect(await epochOf(host)).toBe(epoch);
    expect(await epochOf(listener)).toBe(epoch);
    expect(await myId(listener)).toBe(listenerId);
    await host.close();
    await listener.close();
  }, 120_000);
});
