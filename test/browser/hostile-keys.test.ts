// Attacks by the relay on the key schedule, against real pages: withheld commits after a kick, a forked room, forged
// stage decisions, and a member whose public key cannot be sealed to.
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitNoKeyError, createAnnouncement, deriveRoomKeys, generateIdentity, initCrypto, openCommit, pairwiseKey, parseRoomLink, sealMetadata, verifyAnnouncement } from '../../crypto/index.ts';
import type { EventOf, JoinResult } from '../../protocol/messages.ts';
import type { Relay } from '../../server/index.ts';
import { startHostileRelay, verdict, type Adversary } from '../helpers/hostile-relay.ts';
import { connect } from '../helpers/relay.ts';
import { epochKey, expectUndecryptable, tapRoom } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, e2eeState, epochCode, epochOf, expectHears, joinRoom, myId, roomIdOf } from './pages.ts';
import { FRESHNESS } from '../../client/src/session/freshness.ts';

let relay: Relay;
let adversary: Adversary;
let browser: Browser;
let browser660: Browser;
const uninstall: (() => void)[] = [];

beforeAll(async () => {
  await initCrypto();
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

const participantRow = (page: Page, id: string) => page.locator(`[data-testid="participant"][data-participant="${id}"]`);
const rejected = (page: Page) => page.evaluate(() => (window as unknown as { teahouse: { rejected(): { commits: number; decisions: number } } }).teahouse.rejected());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The host invites the listener, who accepts: a speaker whose tone the host hears. */
async function makeSpeaker(host: Page, speaker: Page, speakerId: string, hz: number): Promise<void> {
  await participantRow(host, speakerId).getByTestId('invite-to-speak').click();
  await speaker.getByTestId('accept-invite').click();
  await expectHears(host, speakerId, hz);
}

describe('a relay withholding the commit after a kick', () => {
  it('cannot keep a speaker encrypting under keys the kicked member holds: the speaker stops within the bound', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Withheld', 'Host');
    const speaker = await joinRoom(browser660, link, 'Speaker');
    const speakerId = await myId(speaker);
    const troll = await joinRoom(browser, link, 'Troll');
    const trollId = await myId(troll);
    await makeSpeaker(host, speaker, speakerId, 660);
    await expectHears(troll, speakerId, 660);
    await expect.poll(() => epochOf(troll)).toBe(await epochOf(host));
    const held = await epochKey(troll);

    // From now on the speaker is kept in the dark: no commit header or package, no rotation notice, no confirmation reaches it.
    uninstall.push(adversary.intercept((m) => (m.recipient.participantId === speakerId && ['key.commit', 'key.package', 'room.rotated', 'epoch.confirm', 'stage.decision'].includes(m.event ?? '') ? verdict.drop : undefined)));
    const speakerEpoch = await epochOf(speaker);
    await participantRow(host, trollId).getByTestId('kick-participant').click();
    await expect.poll(() => troll.getByTestId('room-ended').getAttribute('data-reason')).toBe('kicked');
    await expect.poll(() => epochOf(host)).toBeGreaterThan(speakerEpoch!);
    expect(await epochOf(speaker)).toBe(speakerEpoch);

    // The speaker cannot confirm its epoch any more, so it stops and says so.
    await expect.poll(() => e2eeState(speaker), { timeout: FRESHNESS.validForMs + 15_000 }).toBe('waiting-for-key');
    const roomId = await roomIdOf(host);
    // Past the bound, nothing the relay forwards from that speaker opens under what the kicked member held.
    await sleep(1_000);
    const tap = await tapRoom(relay, roomId);
    await sleep(3_000);
    tap.close();
    await expectUndecryptable(tap.payloads, held.secret, (await epochKey(host)).epoch);
    const stats = await speaker.evaluate(() => (window as unknown as { teahouse: { view(): { sent: { droppedStale?: number } } } }).teahouse.view().sent);
    expect(stats.droppedStale ?? 0).toBeGreaterThan(0);
    for (const p of [host, speaker, troll]) await p.close();
  }, 120_000);
});

describe('a relay telling two groups different stories', () => {
  it('splits the room into groups that share no key and read different epoch codes: silence, not disclosure', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Fork', 'Host');
    const hostId = await myId(host);
    const mod = await joinRoom(browser660, link, 'Mod');
    const modId = await myId(mod);
    await participantRow(host, modId).getByTestId('make-moderator').click();
    await expect.poll(() => participantRow(mod, modId).getAttribute('data-role')).toBe('moderator');
    const kept = await joinRoom(browser, link, 'Kept');
    const split = await joinRoom(browser, link, 'Split');
    const splitId = await myId(split);
    await expectHears(split, hostId, 440);
    for (const p of [mod, kept, split]) await expect.poll(() => epochCode(p)).toBe(await epochCode(host));

    // The moderator and one listener are told the host left; nothing from the host reaches them any more.
    const deceived = new Set([modId, splitId]);
    uninstall.push(
      adversary.intercept((m) => {
        if (!deceived.has(m.recipient.participantId ?? '')) return undefined;
        const p = m.payload as Record<string, unknown> | undefined;
        if ((m.event === 'key.commit' || m.event === 'key.package') && p?.from === hostId) return verdict.drop;
        if ((m.event === 'peer.updated' || m.event === 'peer.joined') && (p?.participant as { participantId?: string })?.participantId === hostId) return verdict.drop;
        if (m.event === 'producer.added' && p?.participantId === hostId) return verdict.drop;
        return undefined;
      }),
    );
    for (const id of deceived) adversary.inject(id, 'peer.left', { participantId: hostId, reason: 'left' } satisfies EventOf<'peer.left'>);

    // The moderator takes over for its side with a fresh epoch; the host's side refuses it.
    await expect.poll(() => epochOf(split)).toBeGreaterThan((await epochOf(host))!);
    await expect.poll(() => epochCode(mod)).toBe(await epochCode(split));
    await expect.poll(async () => (await rejected(kept)).commits + (await rejected(host)).commits).toBeGreaterThan(0);
    expect(await epochCode(kept)).toBe(await epochCode(host));
    expect(await epochCode(split)).not.toBe(await epochCode(host));
    expect((await epochKey(split)).secret).not.toBe((await epochKey(host)).secret);
    expect((await epochKey(mod)).secret).not.toBe((await epochKey(kept)).secret);

    // Nothing the host sends now opens under the deceived side's key.
    const tap = await tapRoom(relay, await roomIdOf(host));
    await sleep(2_000);
    tap.close();
    await expectUndecryptable(tap.payloads, (await epochKey(split)).secret, (await epochKey(host)).epoch);
    for (const p of [host, mod, kept, split]) await p.close();
  }, 150_000);
});

describe('forged stage decisions', () => {
  it('a role the relay claims is not shown, and an invitation nobody signed prompts nobody', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Forged stage', 'Host');
    const hostId = await myId(host);
    const alice = await joinRoom(browser660, link, 'Alice');
    const aliceId = await myId(alice);
    const bob = await joinRoom(browser, link, 'Bob');
    const bobId = await myId(bob);
    await expect.poll(() => epochCode(bob)).toBe(await epochCode(host));

    // The relay tells everyone Bob is a moderator, and tells Alice the host invited her, with no valid signature.
    const joined = adversary.sent(hostId).find((m) => m.event === 'peer.joined' && (m.payload as EventOf<'peer.joined'>).participant.participantId === bobId)!;
    const bobSnapshot = (joined.payload as EventOf<'peer.joined'>).participant;
    for (const id of [hostId, aliceId]) adversary.inject(id, 'peer.updated', { participant: { ...bobSnapshot, role: 'moderator' } });
    adversary.inject(aliceId, 'stage.invited', { by: hostId, decision: 'AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    // …and replays to Bob a genuine invitation meant for Alice, and to the host a stage decision Alice never made.
    await participantRow(host, aliceId).getByTestId('invite-to-speak').click();
    await expect.poll(() => alice.getByTestId('accept-invite').count()).toBe(1);
    const genuine = adversary.sent(aliceId).find((m) => m.event === 'stage.invited')!;
    adversary.replay(genuine, bobId);
    await expect.poll(async () => (await rejected(bob)).decisions).toBeGreaterThan(0);
    await expect.poll(async () => (await rejected(alice)).decisions).toBeGreaterThan(0);
    expect(await bob.getByTestId('accept-invite').count()).toBe(0);
    expect(await participantRow(host, bobId).getAttribute('data-role')).toBe('listener');
    // Alice, a listener, is not told of Bob, another listener: the relay's claim does not put him on her stage either.
    expect(await participantRow(alice, bobId).count()).toBe(0);

    // The genuine one works: Alice accepts, the host signs her onto the stage, everyone shows her as a speaker.
    await alice.getByTestId('accept-invite').click();
    await expectHears(host, aliceId, 660);
    for (const p of [host, bob]) await expect.poll(() => participantRow(p, aliceId).getAttribute('data-role')).toBe('speaker');
    // Replaying the acceptance later changes nothing and is refused.
    const decisionsBefore = (await rejected(host)).decisions;
    const acceptance = adversary.sent(hostId).find((m) => m.event === 'stage.decision')!;
    adversary.replay(acceptance, hostId);
    await expect.poll(async () => (await rejected(host)).decisions).toBeGreaterThan(decisionsBefore);
    for (const p of [host, alice, bob]) await p.close();
  }, 120_000);
});

describe('a member whose public key cannot be sealed to', () => {
  it('is refused when its announcement is verified, and later leaves still rekey everyone else', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Poison', 'Host');
    const hostId = await myId(host);
    const stays = await joinRoom(browser660, link, 'Stays');
    const leaves = await joinRoom(browser, link, 'Leaves');
    await expect.poll(() => epochCode(leaves)).toBe(await epochCode(host));

    // A link holder announces an all-zero box key with a valid MAC and signature.
    const { secret } = parseRoomLink(link);
    const keys = deriveRoomKeys(secret);
    const poisoned = generateIdentity();
    poisoned.boxPublicKey = new Uint8Array(32);
    const sealedProfile = sealMetadata(keys.metaKey, keys.roomId, 'profile', { name: 'Zero' });
    const client = await connect(relay);
    const joinedPoison = await client.req('room.join', { roomId: keys.roomId, announcement: createAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, identity: poisoned, sealedProfile }) });
    const poisonId = 'lobby' in joinedPoison ? '' : joinedPoison.participantId;
    await expect.poll(() => participantRow(host, poisonId).count()).toBe(1);

    const before = (await epochOf(host))!;
    await leaves.getByTestId('leave-room').click();
    await expect.poll(() => epochOf(host)).toBeGreaterThan(before);
    await expect.poll(() => epochOf(stays)).toBe(await epochOf(host));
    expect(await epochCode(stays)).toBe(await epochCode(host));
    await expectHears(stays, hostId, 440);
    // The poisoned member shows without a name and holds no key in any commit the relay passed it.
    expect(await participantRow(host, poisonId).textContent()).not.toContain('Zero');
    const hostAnnouncement = (joinedPoison as JoinResult).room.participants.find((p) => p.participantId === hostId)!.announcement;
    const hostMember = verifyAnnouncement({ roomId: keys.roomId, authKey: keys.authKey, blob: hostAnnouncement });
    // A round trip on its socket: every event the relay queued for it before has now arrived.
    await client.req('room.peek', { roomId: keys.roomId });
    // A fresh header goes only with packages, so it got none; every header the member who stays got is tried, as a
    // relay that hands them on would.
    const staysId = await myId(stays);
    const commits = adversary.sent(staysId).flatMap((m) => (m.event === 'key.commit' ? [(m.payload as EventOf<'key.commit'>).commit] : []));
    expect(commits.length).toBeGreaterThan(0);
    // The host left it out of every commit: the relay was given no package for it, so it passed it none.
    expect(client.received.filter((r) => r.event === 'key.package' || (r.event === 'key.commit' && (r.payload as EventOf<'key.commit'>).package))).toEqual([]);
    // Its own secret key with the host's box key makes a pairwise key, but not the one the host would have used.
    const pairwiseKeyWith = (distributor: string) => pairwiseKey({ roomId: keys.roomId, mySecretKey: poisoned.boxSecretKey, theirPublicKey: hostMember.boxPublicKey, distributor, member: poisoned.memberKeyId });
    for (const blob of commits) {
      expect(() => openCommit({ blob, package: null, roomId: keys.roomId, linkKey: keys.linkKey, signKeyOf: () => hostMember.signPublicKey, pairwiseKeyWith, me: poisoned, current: null })).toThrow(CommitNoKeyError);
    }
    client.close();
    for (const p of [host, stays, leaves]) await p.close();
  }, 120_000);
});
