// No (key, nonce) pair is ever used twice: a relay tap sees no SFrame (KID, CTR) pair twice across a speaker's reload,
// the host's reload and a duplicated tab; and any member can reload, the host too, without stalling the room.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEMBER_LOCK_WAIT_MS } from '../../client/src/session/member-lock.ts';
import { parseKid } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { tapNonces } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, e2eeState, epochOf, expectHears, joinRoom, myId, roleShown, roomIdOf } from './pages.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;

beforeAll(async () => {
  // A disconnect grace long enough for a reload: the page says it is going away, so the away grace (5 s) applies.
  ({ relay, adversary } = await startHostileRelay({ disconnectGraceMs: 60_000 }));
  browser = await launchChromium({ toneHz: 440 });
  browser660 = await launchChromium({ toneHz: 660 });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await browser660?.close();
  await relay?.close();
});

/** A host (440 Hz) and a speaker it invited (660 Hz), heard by the host. */
async function roomWithSpeaker(title: string): Promise<{ host: Page; speaker: Page; speakerId: string; link: string }> {
  const { page: host, link } = await createRoom(browser, relay.url, title, 'Host');
  const speaker = await joinRoom(browser660, link, 'Speaker');
  const speakerId = await myId(speaker);
  await host.locator(`[data-testid="participant"][data-participant="${speakerId}"] [data-testid="invite-to-speak"]`).click();
  await speaker.getByTestId('accept-invite').click();
  await expectHears(host, speakerId, 660);
  return { host, speaker, speakerId, link };
}

interface View {
  e2ee: { state: string; reason: string | null };
  sent: { encrypted: number; droppedNoKey: number };
}
const viewOf = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { view(): View } }).teahouse.view());

/** Frames tapped from one sender index, to wait until its counter has gone well past where a new page would start. */
const framesOf = (tap: Awaited<ReturnType<typeof tapNonces>>, senderIndex: number) => tap.frames((kid) => parseKid(kid).senderIndex === senderIndex);

describe('a (KID, CTR) pair is sent at most once', () => {
  it('a speaker reloads: it sends again only under a new epoch, and the person unmutes and is heard', async () => {
    const { host, speaker, speakerId } = await roomWithSpeaker('Speaker reload');
    const tap = await tapNonces(relay, await roomIdOf(host));
    await expect.poll(() => framesOf(tap, 1), { timeout: 10_000 }).toBeGreaterThan(100);
    const epochBefore = (await epochOf(speaker))!;

    await speaker.reload();
    await expect.poll(() => e2eeState(speaker), { timeout: 20_000 }).toBe('encrypted');
    expect(await myId(speaker)).toBe(speakerId);
    expect(await roleShown(speaker, speakerId)).toBe('speaker');
    // The distributor gave the page that came back an epoch it never held (a ratchet carrying its package).
    await expect.poll(() => epochOf(speaker), { timeout: 10_000 }).toBeGreaterThan(epochBefore);
    expect(adversary.received(speakerId).some((m) => m.event === 'key.resend')).toBe(true);
    expect(await speaker.getByTestId('mic-toggle').getAttribute('aria-pressed')).toBe('false');
    await speaker.getByTestId('mic-toggle').click();
    await expectHears(host, speakerId, 660);
    const heard = framesOf(tap, 1);
    await expect.poll(() => framesOf(tap, 1), { timeout: 10_000 }).toBeGreaterThan(heard + 100);
    expect(tap.repeats()).toEqual([]);
    tap.close();
    for (const p of [host, speaker]) await p.close();
  }, 150_000);

  it("a relay that withholds a reloaded speaker's new epoch gets silence, not the epoch it held sent again; the room goes on", async () => {
    const { host, speaker, speakerId, link } = await roomWithSpeaker('Withheld new epoch');
    const tap = await tapNonces(relay, await roomIdOf(host));
    await expect.poll(() => framesOf(tap, 1), { timeout: 10_000 }).toBeGreaterThan(100);
    const held = (await epochOf(speaker))!;
    // The relay passes the speaker the epoch it held (the distributor's resend) and nothing newer.
    const withhold = adversary.intercept((m) => {
      if (m.recipient.participantId !== speakerId || (m.event !== 'key.commit' && m.event !== 'key.package')) return undefined;
      return (m.payload as { epoch: number }).epoch > held ? verdict.drop : undefined;
    });

    await speaker.reload();
    await expect.poll(() => epochOf(speaker), { timeout: 20_000 }).toBe(held);
    await speaker.getByTestId('mic-toggle').click();
    await expect.poll(async () => (await viewOf(speaker)).e2ee, { timeout: 10_000 }).toEqual({ state: 'waiting-for-key', epoch: held, reason: 'new-epoch' });
    // The microphone runs and every frame is dropped before encryption: none goes out under the held epoch.
    await expect.poll(async () => (await viewOf(speaker)).sent.droppedNoKey, { timeout: 10_000 }).toBeGreaterThan(50);
    expect((await viewOf(speaker)).sent.encrypted).toBe(0);
    expect(tap.repeats()).toEqual([]);

    // The relay lets commits through again: the next one (a newcomer's) shows the speaker the gap, it asks, and
    // sends again under an epoch it never held.
    withhold();
    const newcomer = await joinRoom(browser, link, 'Newcomer');
    await expect.poll(async () => (await viewOf(speaker)).e2ee.state, { timeout: 15_000 }).toBe('encrypted');
    expect((await epochOf(speaker))!).toBeGreaterThan(held);
    const before = framesOf(tap, 1);
    await expect.poll(() => framesOf(tap, 1), { timeout: 10_000 }).toBeGreaterThan(before + 100);
    await expectHears(newcomer, speakerId, 660);
    expect(tap.repeats()).toEqual([]);
    tap.close();
    for (const p of [host, speaker, newcomer]) await p.close();
  }, 150_000);

  it('the host reloads: it distributes a fresh epoch above its own; a listener hears it again and a newcomer joins and hears, within 10 s', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Host reload', 'Host');
    const hostId = await myId(host);
    const listener = await joinRoom(browser660, link, 'Listener');
    await expectHears(listener, hostId, 440);
    const tap = await tapNonces(relay, await roomIdOf(host));
    await expect.poll(() => framesOf(tap, 0), { timeout: 10_000 }).toBeGreaterThan(100);
    const epochBefore = (await epochOf(host))!;

    await host.reload();
    await expect.poll(() => e2eeState(host), { timeout: 20_000 }).toBe('encrypted');
    expect(await myId(host)).toBe(hostId);
    expect(await epochOf(host)).toBeGreaterThan(epochBefore);
    // Host again, as the stage it held says; and every member took its fresh epoch.
    await expect.poll(() => roleShown(host, hostId)).toBe('host');
    await expect.poll(() => epochOf(listener)).toBe(await epochOf(host));
    await host.getByTestId('mic-toggle').click();
    await expectHears(listener, hostId, 440, 10_000);
    const newcomer = await joinRoom(browser, link, 'Newcomer');
    await expectHears(newcomer, hostId, 440, 10_000);
    const heard = framesOf(tap, 0);
    await expect.poll(() => framesOf(tap, 0), { timeout: 10_000 }).toBeGreaterThan(heard + 100);
    expect(tap.repeats()).toEqual([]);
    tap.close();
    for (const p of [host, listener, newcomer]) await p.close();
  }, 150_000);

  it("a duplicated tab of a speaker is told at once by the speaker's page that it must join as a new member; the speaker goes on and is heard", async () => {
    const { host, speaker, speakerId } = await roomWithSpeaker('Duplicated tab');
    const tap = await tapNonces(relay, await roomIdOf(host));
    await expect.poll(() => framesOf(tap, 1), { timeout: 10_000 }).toBeGreaterThan(100);

    // What a duplicated tab is: a page of the same browser context starting with a copy of the tab's sessionStorage.
    const copied = await speaker.evaluate(() => Object.entries(sessionStorage));
    const duplicate = await speaker.context().newPage();
    await duplicate.addInitScript(
      ({ entries, waitMs }) => {
        if (sessionStorage.length === 0) for (const [k, v] of entries) sessionStorage.setItem(k, v);
        // The lock's own bound taken away: only the speaker's page answering that it holds the member's lock lets the
        // copy through (waiting the bound out, as before, would hang here).
        const setTimer = window.setTimeout.bind(window);
        window.setTimeout = ((run: TimerHandler, ms?: number, ...rest: unknown[]) => (ms === waitMs ? 0 : setTimer(run, ms, ...rest))) as typeof window.setTimeout;
        const timeout = AbortSignal.timeout.bind(AbortSignal);
        AbortSignal.timeout = (ms: number) => (ms === waitMs ? new AbortController().signal : timeout(ms));
      },
      { entries: copied, waitMs: MEMBER_LOCK_WAIT_MS },
    );
    await duplicate.goto(speaker.url());
    await expect
      .poll(
        () =>
          duplicate
            .getByTestId('join-name')
            .isVisible()
            .catch(() => false),
        { timeout: 30_000 },
      )
      .toBe(true);
    // The person is told why this tab asks for a name again.
    expect(await duplicate.getByTestId('other-tab').isVisible()).toBe(true);
    await duplicate.getByTestId('join-name').fill('Copy');
    await duplicate.getByTestId('join-room').click();
    await expect.poll(() => e2eeState(duplicate), { timeout: 20_000 }).toBe('encrypted');
    expect(await myId(duplicate)).not.toBe(speakerId);
    expect(await myId(speaker)).toBe(speakerId);
    const heard = framesOf(tap, 1);
    await expect.poll(() => framesOf(tap, 1), { timeout: 10_000 }).toBeGreaterThan(heard + 100);
    await expectHears(host, speakerId, 660);
    expect(tap.repeats()).toEqual([]);
    tap.close();
    for (const p of [host, speaker, duplicate]) await p.close();
  }, 150_000);
});
