import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf } from '../../protocol/messages.ts';
import { CommitNoKeyError, decodeHeader, deriveRoomKeys, fromBase64url, fromHex, generateIdentity, announcementSignKey, generateRoomSecret, initCrypto, memberKeyIdOf, openCommit, parseKid, toBase64url, toHex } from '../../crypto/index.ts';
import type { Relay } from '../../server/index.ts';
import { announce, connect, startTestRelay } from '../helpers/relay.ts';
import { epochKey, expectUndecryptable, tapRoom } from '../helpers/tap.ts';
import { launchChromium } from './chromium.ts';
import { createRoom, epochOf, expectHears, joinRoom, myId } from './pages.ts';

let relay: Relay;
let browser: Browser;
const seen: string[] = [];

beforeAll(async () => {
  relay = await startTestRelay({ onClientMessage: (event, payload) => seen.push(`${event} ${JSON.stringify(payload)}`) });
  browser = await launchChromium({ toneHz: 440 });
  await initCrypto();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

function roomIdOf(link: string): string {
  return new URL(link).pathname.split('/')[2]!;
}

describe('what the relay sees', () => {
  it("only SFrame ciphertext with the room's KIDs, never the sender's plaintext frames, names, title or secret", async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Secret garden', 'Hostess Mei');
    const roomId = roomIdOf(link);
    const listener = await joinRoom(browser, link, 'Listener Wu');
    await expectHears(listener, await myId(host), 440);
    const tap = await tapRoom(relay, roomId);
    const plaintexts: string[] = await host.evaluate(() => (window as unknown as { teahouse: { capturePlaintext(n: number): Promise<string[]> } }).teahouse.capturePlaintext(50));
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(100);
    tap.close();
    const { epoch } = await epochKey(host);
    expect(plaintexts).toHaveLength(50);
    const relayHex = tap.payloads.map((p) => toHex(p));
    for (const payload of tap.payloads) {
      const header = decodeHeader(payload);
      const kid = parseKid(header.kid);
      expect(kid.epoch).toBeGreaterThanOrEqual(1);
      expect(kid.epoch).toBeLessThanOrEqual(epoch);
      expect(kid.senderIndex).toBe(0);
    }
    for (const plain of plaintexts) {
      expect(plain.length).toBeGreaterThan(4);
      expect(relayHex.some((hex) => hex.includes(plain))).toBe(false);
    }

    const wire = seen.join('\n');
    const secretFragment = link.split('#')[1]!;
    for (const secret of ['Secret garden', 'Hostess Mei', 'Listener Wu', secretFragment, (await epochKey(host)).secret, toBase64url(fromHex((await epochKey(host)).secret))]) {
      expect(wire).not.toContain(secret);
    }
    expect(wire).toContain(roomId);
    await listener.close();
    await host.close();
  }, 90_000);

  it('a wrong secret in the link is refused and never gets a key', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Closed circle', 'Host');
    const roomId = roomIdOf(link);
    const other = generateRoomSecret();
    // In the browser: the secret does not derive this room id, so the page refuses before contacting the relay.
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${relay.url}/r/${roomId}#${toBase64url(other)}`);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/does not belong/);
    await expect(page.getByTestId('join-room').count()).resolves.toBe(0);

    // A crafted client joining the room id with the wrong secret: its announcement does not verify, so no key.
    const impostorKeys = { ...deriveRoomKeys(other), roomId };
    const impostor = await connect(relay);
    const impostorIdentity = generateIdentity();
    const joined = await impostor.req('room.join', { roomId, announcement: announce({ secret: other, keys: impostorKeys }, 'Impostor', impostorIdentity) });
    if ('lobby' in joined) throw new Error('unexpected lobby');
    const hostAnnouncement = joined.room.participants.find((p) => p.role === 'host')!.announcement;
    const hostSignPublicKey = fromBase64url(announcementSignKey(hostAnnouncement)!);
    const hostKeyOf = (memberKeyId: string) => (memberKeyId === memberKeyIdOf(hostSignPublicKey) ? hostSignPublicKey : null);
    const commits: string[] = [];
    impostor.socket.on('key.commit', ({ commit }: { commit: string }) => commits.push(commit));
    const friend = await joinRoom(browser, link, 'Friend');
    await expect.poll(() => commits.length).toBeGreaterThan(0);
    const hostEntry = host.locator('[data-testid="participant"][data-role="listener"]');
    await expect.poll(() => hostEntry.count()).toBe(2);
    expect(await host.getByText('Impostor').count()).toBe(0);
    // A round trip on its socket: every event the relay queued for the impostor before it has now arrived.
    await impostor.req('room.peek', { roomId });
    // The relay handed it no package, and the headers are genuine (the host's signature verifies) but open to nothing.
    expect(impostor.received.filter((r) => r.event === 'key.package' || r.event === 'key.packages' || (r.event === 'key.commit' && (r.payload as EventOf<'key.commit'>).package))).toEqual([]);
    for (const commit of commits) {
      expect(() => openCommit({ blob: commit, package: null, roomId, linkKey: impostorKeys.linkKey, signKeyOf: hostKeyOf, pairwiseKeyWith: () => null, me: impostorIdentity, current: null })).toThrow(CommitNoKeyError);
    }
    expect(await epochOf(friend)).not.toBeNull();
    impostor.close();
    await friend.close();
    await host.close();
  }, 90_000);

  it('a listener who leaves cannot decrypt what is sent after the rekey', async () => {
    const { page: host, link } = await createRoom(browser, relay.url, 'Rekey', 'Host');
    const roomId = roomIdOf(link);
    const stayer = await joinRoom(browser, link, 'Stayer');
    const leaver = await joinRoom(browser, link, 'Leaver');
    const hostId = await myId(host);
    await expectHears(leaver, hostId, 440);
    const held = await epochKey(leaver);
    const before = await epochOf(host);
    await leaver.getByTestId('leave-room').click();
    await expect.poll(() => epochOf(host)).toBeGreaterThan(before!);
    await expect.poll(() => epochOf(stayer)).toBe(await epochOf(host));
    // Let frames sent under the old epoch before the switch drain, so every frame tapped is of the new epoch.
    await new Promise((r) => setTimeout(r, 1500));
    const tap = await tapRoom(relay, roomId);
    await expect.poll(() => tap.payloads.length, { timeout: 10_000 }).toBeGreaterThan(100);
    tap.close();
    await expectHears(stayer, hostId, 440);

    await expectUndecryptable(tap.payloads, held.secret, (await epochKey(host)).epoch);
    await stayer.close();
    await host.close();
  }, 90_000);

  it('a different link shows a different fingerprint', async () => {
    const a = await createRoom(browser, relay.url, 'A', 'Host A');
    const b = await createRoom(browser, relay.url, 'B', 'Host B');
    const [fa, fb] = await Promise.all([a.page.getByTestId('fingerprint').textContent(), b.page.getByTestId('fingerprint').textContent()]);
    expect(fa).not.toBe(fb);
    await a.page.close();
    await b.page.close();
  }, 60_000);
});
