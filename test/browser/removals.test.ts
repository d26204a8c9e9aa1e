// A kick binds the room, not only its distributor: a relay that withholds the kick's commit from a speaker and then
// says the host left cannot get the kicked member keyed again, through the hand-over and a relay restart.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { epochKey, expectUndecryptable, tapRoom } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, epochOf, expectHears, joinRoom, myId, roomIdOf } from './pages.ts';

let browser: Browser;
let browser660: Browser;
const relays: Relay[] = [];
const uninstall: (() => void)[] = [];

beforeAll(async () => {
  browser = await launchChromium({ toneHz: 440 });
  browser660 = await launchChromium({ toneHz: 660 });
}, 60_000);
afterEach(() => {
  for (const off of uninstall.splice(0)) off();
});
afterAll(async () => {
  await browser?.close();
  await browser660?.close();
  for (const r of relays) await r.close();
});

async function hostile(options: Parameters<typeof startHostileRelay>[0] = {}): Promise<{ relay: Relay; adversary: Adversary }> {
  const started = await startHostileRelay({ disconnectGraceMs: 30_000, ...options });
  relays.push(started.relay);
  return started;
}

const participantRow = (page: Page, id: string) => page.locator(`[data-testid="participant"][data-participant="${id}"]`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const subject = (payload: unknown) => {
  const p = payload as { participant?: { participantId?: string }; participantId?: string; from?: string } | undefined;
  return p?.participant?.participantId ?? p?.participantId ?? p?.from ?? null;
};

describe('a kick withheld from a speaker who then takes over', () => {
  it('the kicked member opens nothing sent after the kick, through the hand-over and a relay restart', async () => {
    const { relay, adversary } = await hostile();
    const { page: host, link } = await createRoom(browser, relay.url, 'Removals', 'Host');
    const hostId = await myId(host);
    const speaker = await joinRoom(browser660, link, 'Speaker');
    const speakerId = await myId(speaker);
    const troll = await joinRoom(browser, link, 'Troll');
    const trollId = await myId(troll);
    const listener = await joinRoom(browser, link, 'Listener');
    await participantRow(host, speakerId).getByTestId('invite-to-speak').click();
    await speaker.getByTestId('accept-invite').click();
    await expectHears(troll, speakerId, 660);
    // Locked: after the restart, only former members come back in, from the lobby.
    await host.getByTestId('lock-room').click();
    for (const p of [speaker, troll, listener]) await expect.poll(() => epochOf(p)).toBe(await epochOf(host));
    const held = await epochKey(troll);

    // The speaker sees the kick decision but nothing of the host's fresh commit, the rotation or the troll's leave,
    // and no confirmation; the troll is not told it was kicked, so its page stays to take whatever it is given.
    uninstall.push(
      adversary.intercept((m) => {
        if (m.recipient.participantId === trollId && m.event === 'member.kicked') return verdict.drop;
        if (m.recipient.participantId !== speakerId) return undefined;
        if (['key.commit', 'key.package', 'room.rotated', 'epoch.confirm'].includes(m.event ?? '')) return verdict.drop;
        if (m.event === 'peer.left' && subject(m.payload) === trollId) return verdict.drop;
        return undefined;
      }),
    );
    await participantRow(host, trollId).getByTestId('kick-participant').click();
    await expect.poll(() => adversary.sent(speakerId).some((m) => m.event === 'stage.decision' && m.fate === 'passed')).toBe(true);
    await expect.poll(() => epochOf(listener)).toBeGreaterThan(held.epoch);

    // Then the relay tells the speaker the host left, and shows it nothing of the host from now on.
    uninstall.push(adversary.intercept((m) => (m.recipient.participantId === speakerId && m.kind === 'event' && subject(m.payload) === hostId ? verdict.drop : undefined)));
    adversary.inject(speakerId, 'peer.left', { participantId: hostId, reason: 'left' } satisfies EventOf<'peer.left'>);

    // The speaker takes over with a fresh epoch, says so, and keys the troll with nothing, though the relay lists it.
    await expect.poll(() => epochOf(speaker)).toBeGreaterThan(held.epoch);
    await expect.poll(() => speaker.getByTestId('distributor-changed').count()).toBe(1);
    const commits = adversary
      .received(speakerId)
      .filter((m) => m.event === 'key.commit')
      .map((m) => m.payload as { commit: string; epoch: number; packages: { to: string; package: string }[] });
    expect(commits.length).toBeGreaterThan(0);
    expect(commits.flatMap((c) => c.packages.map((p) => p.to))).not.toContain(trollId);
    // Whatever the relay hands the troll of it, it opens nothing.
    for (const c of commits) {
      for (const pkg of [undefined, ...c.packages.map((p) => p.package)]) adversary.inject(trollId, 'key.commit', { from: speakerId, commit: c.commit, epoch: c.epoch, ...(pkg ? { package: pkg } : {}) });
    }
    await sleep(1_000);
    expect((await epochKey(troll)).epoch).toBe(held.epoch);
    const takeover = await epochKey(speaker);
    const tap = await tapRoom(relay, await roomIdOf(host), speakerId);
    await sleep(3_000);
    tap.close();
    await expectUndecryptable(tap.payloads, held.secret, takeover.epoch);

    // The relay restarts. The speaker re-creates the room it knows (locked) and lets former members back in from its
    // lobby: the troll, which still holds the old link, is not one of them.
    const speakerRoomId = await roomIdOf(speaker);
    await relay.close();
    const { relay: second } = await hostile({ port: relay.port, host: '127.0.0.1' });
    await expect.poll(() => second.rooms.get(speakerRoomId)?.lobby.size ?? 0, { timeout: 60_000 }).toBeGreaterThan(0);
    await expect.poll(() => epochOf(speaker), { timeout: 30_000 }).toBeGreaterThan(takeover.epoch);
    await sleep(3_000);
    const rebuilt = await epochKey(speaker);
    expect(second.rooms.get(speakerRoomId)!.members.size).toBe(1);
    const trollNow = await epochKey(troll);
    expect(trollNow === null || trollNow.epoch === held.epoch).toBe(true);
    expect(trollNow?.secret).not.toBe(rebuilt.secret);
    for (const p of [host, speaker, troll, listener]) await p.close();
  }, 240_000);
});
