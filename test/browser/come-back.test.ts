// Coming back as yourself: a reload keeps the member (a listener without a rekey, a speaker with a new epoch and a new
// producer; the stage seat kept, the microphone closed), and a member that missed a commit catches up from the
// distributor, even when the relay dropped it on purpose.
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { startTestRelay } from '../helpers/relay.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, e2eeState, epochCode, epochOf, expectHears, joinRoom, myId, roleShown, roomIdOf } from './pages.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;
const uninstall: (() => void)[] = [];

beforeAll(async () => {
  // A disconnect grace long enough for a reload: the page says it is going away, so the away grace (5 s) applies.
  ({ relay, adversary } = await startHostileRelay({ disconnectGraceMs: 60_000 }));
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

const membersAtRelay = () => [...relay.rooms.values()][0]!.members.size;

describe('a reload in the same tab', () => {
  it('comes back as the same member: no rekey for the room, the listener hears again', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Reload', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, link, 'Listener');
    const id = await myId(listener);
    await expectHears(listener, hostId, 440);
    await expect.poll(() => epochOf(listener)).toBe(await epochOf(host));
    const epochBefore = await epochOf(host);
    const count = membersAtRelay();

    await listener.reload();
    await expect.poll(() => e2eeState(listener), { timeout: 20_000 }).toBe('encrypted');
    expect(await myId(listener)).toBe(id);
    await expectHears(listener, hostId, 440);
    expect(await epochCode(listener)).toBe(await epochCode(host));
    // Nobody left or joined: the room was not rekeyed for the reload.
    expect(await epochOf(host)).toBe(epochBefore);
    expect(membersAtRelay()).toBe(count);
    // It asked the distributor for the epoch it had lost, and got it from the host alone.
    expect(adversary.received(id).some((m) => m.event === 'key.resend')).toBe(true);
    for (const p of [host, listener]) await p.close();
  }, 120_000);

  it('past the grace, comes back as a new participant of the same member and is keyed again under its new offer', async () => {
    // No grace and no batch window: the old page is removed at once, the leave's fresh epoch goes out before the new
    // page joins, and the host keys the new page at once, under the offer the old page made (its secret died with it).
    const graceless = await startTestRelay({ disconnectGraceMs: 0, keyBatchMs: 0 });
    try {
      const { page: host, link } = await createRoom(browser, graceless.url, 'Past the grace', 'Host');
      const hostId = await myId(host);
      const listener = await joinRoom(browser, link, 'Listener');
      const before = await myId(listener);
      await expectHears(listener, hostId, 440);
      await listener.reload();
      await expect.poll(() => e2eeState(listener), { timeout: 30_000 }).toBe('encrypted');
      expect(await myId(listener)).not.toBe(before);
      await expectHears(listener, hostId, 440);
      expect(await epochCode(listener)).toBe(await epochCode(host));
      for (const p of [host, listener]) await p.close();
    } finally {
      await graceless.close();
    }
  }, 120_000);

  it('keeps a speaker on stage with its microphone closed until the person switches it on', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Reload speaker', 'Host');
    const speaker = await joinRoom(browser660, link, 'Speaker');
    const id = await myId(speaker);
    await host.locator(`[data-testid="participant"][data-participant="${id}"] [data-testid="invite-to-speak"]`).click();
    await speaker.getByTestId('accept-invite').click();
    await expectHears(host, id, 660);

    // This test's room, not the first the relay holds: an earlier test's room may still be in its grace.
    const roomId = await roomIdOf(host);
    const producersAtRelay = () => [...(relay.rooms.get(roomId)?.members.get(id)?.producers.keys() ?? [])];
    const before = producersAtRelay();
    expect(before).toHaveLength(1);
    await speaker.reload();
    await expect.poll(() => e2eeState(speaker), { timeout: 20_000 }).toBe('encrypted');
    expect(await myId(speaker)).toBe(id);
    expect(await roleShown(speaker, id)).toBe('speaker');
    expect(await speaker.getByTestId('mic-toggle').getAttribute('aria-pressed')).toBe('false');
    await speaker.getByTestId('mic-toggle').click();
    // Heard through the new page's producer: the host's analyser on the old page's consumer kept showing the tone
    // after that page was gone, which is how this test passed while the relay refused the new microphone.
    await expect.poll(producersAtRelay, { timeout: 10_000 }).toEqual([expect.not.stringMatching(before[0]!)]);
    expect(await speaker.getByTestId('room-notice').count()).toBe(0);
    await expectHears(host, id, 660);
    for (const p of [host, speaker]) await p.close();
  }, 120_000);
});

describe('a newcomer whose own commit comes before its join reply', () => {
  it('keeps it and opens it once the reply names the distributor', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Early commit', 'Host');
    const hostId = await myId(host);
    // The relay holds the next join reply back past the distributor's batch window, so the header and the newcomer's
    // package reach it first, while it does not know yet who may distribute.
    let held = 0;
    uninstall.push(
      adversary.intercept((m) => {
        if (m.kind !== 'ack' || m.request !== 'room.join' || held > 0) return undefined;
        held++;
        return verdict.delay(2_000);
      }),
    );
    const late = await joinRoom(browser, link, 'Late reply');
    expect(held).toBe(1);
    const id = await myId(late);
    // The reply was held; the newcomer's package went out meanwhile (the batch window is a quarter of the hold).
    const log = adversary.sent(id);
    const reply = log.find((m) => m.kind === 'ack' && m.request === 'room.join')!;
    expect(reply.fate).toBe('delayed');
    expect(log.some((m) => (m.event === 'key.package' || (m.event === 'key.commit' && (m.payload as EventOf<'key.commit'>).package)) && m.seq > reply.seq)).toBe(true);
    await expect.poll(() => epochCode(late)).toBe(await epochCode(host));
    await expectHears(late, hostId, 440);
    for (const p of [host, late]) await p.close();
  }, 120_000);
});

describe('a newcomer whose join reply comes after two commits', () => {
  it('opens both in order once the reply names the distributor, and holds the room epoch', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Two early commits', 'Host');
    const hostId = await myId(host);
    // The relay holds the next join reply back while another member joins: the newcomer gets its own ratchet (with its
    // package) and then the other's ratchet (a header alone, which follows the first), both before it knows who may
    // distribute. Taking the first must not throw the second away.
    let heldAt = 0;
    uninstall.push(
      adversary.intercept((m) => {
        if (m.kind !== 'ack' || m.request !== 'room.join' || heldAt > 0) return undefined;
        heldAt = Date.now();
        return verdict.delay(12_000);
      }),
    );
    const lateJoining = joinRoom(browser, link, 'Late reply');
    await expect.poll(() => heldAt, { timeout: 30_000 }).toBeGreaterThan(0);
    const other = await joinRoom(browser, link, 'Other');
    // The other member joined (and was keyed) while the newcomer's reply was still held.
    expect(Date.now() - heldAt).toBeLessThan(12_000);
    const late = await lateJoining;
    const id = await myId(late);
    const reply = adversary.sent(id).find((m) => m.kind === 'ack' && m.request === 'room.join')!;
    expect(adversary.sent(id).filter((m) => m.event === 'key.commit' && m.seq > reply.seq).length).toBeGreaterThanOrEqual(2);
    await expect.poll(() => epochCode(late)).toBe(await epochCode(host));
    await expectHears(late, hostId, 440);
    for (const p of [host, other, late]) await p.close();
  }, 150_000);
});

describe('a member that missed a commit', () => {
  it('catches up from the distributor when the relay dropped a ratchet on purpose', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Catch up', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser, link, 'Listener');
    const id = await myId(listener);
    await expect.poll(() => epochOf(listener)).toBe(await epochOf(host));

    // The ratchets of the next join (a newcomer's) never reach the listener: on a loaded machine the newcomer's KEM
    // offer can come after the batch window, and the host then ratchets twice (without it, then with it), so every
    // commit until the newcomer holds the room's epoch is dropped, or the second would show the listener the gap.
    let dropping = true;
    let dropped = 0;
    uninstall.push(
      adversary.intercept((m) => {
        if (!dropping || m.recipient.participantId !== id || m.event !== 'key.commit') return undefined;
        dropped++;
        return verdict.drop;
      }),
    );
    const second = await joinRoom(browser, link, 'Second');
    await expect.poll(() => epochOf(second)).toBe(await epochOf(host));
    dropping = false;
    expect(dropped).toBeGreaterThanOrEqual(1);
    expect(await epochOf(listener)).toBeLessThan((await epochOf(host))!);
    // The one after it does; the listener sees the gap, asks, and holds the room's epoch again.
    const third = await joinRoom(browser, link, 'Third');
    await expect.poll(() => epochOf(third)).toBe(await epochOf(host));
    await expect.poll(() => epochCode(listener), { timeout: 15_000 }).toBe(await epochCode(host));
    expect(adversary.received(id).some((m) => m.event === 'key.resend')).toBe(true);
    await expectHears(listener, hostId, 440);
    for (const p of [host, listener, second, third]) await p.close();
  }, 120_000);
});
