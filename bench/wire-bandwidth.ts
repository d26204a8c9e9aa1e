// What a speaker sends on the wire, and the share of it frame signatures take: Chromium's getStats and the relay's tap.
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { decodeHeader, FRAME_SIG_CHUNK } from '../crypto/index.ts';
import { startRelay } from '../server/index.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { TEST_CLIENT_DIR } from '../test/helpers/relay.ts';
import { rtpPayload } from '../test/helpers/rtp.ts';
import { renderTable, writeJson, type Table } from './report.ts';
import { recordPeerConnections } from './peer-connections.ts';

const PAGE_TIMEOUT_MS = 120_000;
const UDP = 8;
const IPV4 = 20;
const IPV6 = 40;
/** The SRTP authentication tag of each DTLS-SRTP profile (RFC 5764, RFC 7714). */
const SRTP_TAG: Record<string, number> = { AES_CM_128_HMAC_SHA1_80: 10, AES_CM_128_HMAC_SHA1_32: 4, AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 16 };

interface LegStats {
  packets: number;
  payloadBytes: number;
  headerBytes: number;
  /** Everything the connection's transport sent or received (SRTP, RTCP, consent checks), UDP payloads. */
  transportBytes: number;
  srtpCipher: string;
}

/** The page's audio counters so far, sending or receiving, from the connection that carries such a stream. */
function legStats(page: Page, side: 'send' | 'receive'): Promise<LegStats | null> {
  return page.evaluate(async (side) => {
    const [type, dir] = side === 'send' ? ['outbound-rtp', 'Sent'] : ['inbound-rtp', 'Received'];
    for (const pc of (window as unknown as { benchPcs: RTCPeerConnection[] }).benchPcs) {
      const all = [...(await pc.getStats()).values()] as Record<string, unknown>[];
      const rtp = all.find((s) => s.type === type && s.kind === 'audio');
      const transport = all.find((s) => s.type === 'transport');
      if (!rtp || !transport) continue;
      return {
        packets: rtp[`packets${dir}`] as number,
        payloadBytes: rtp[`bytes${dir}`] as number,
        headerBytes: rtp[`headerBytes${dir}`] as number,
        transportBytes: transport[`bytes${dir}`] as number,
        srtpCipher: String(transport.srtpCipher),
      };
    }
    return null;
  }, side);
}

/** One direction over the window, per packet: RTP payload, RTP header with its extensions, SRTP tag, whole transport. */
interface Leg {
  packets: number;
  rtpPayload: number;
  rtpHeader: number;
  srtpTag: number;
  /** The transport's bytes per audio packet (RTCP and consent checks included). */
  transportPerPacket: number;
  srtpCipher: string;
}

function leg(before: LegStats, after: LegStats): Leg {
  const packets = after.packets - before.packets;
  return {
    packets,
    rtpPayload: (after.payloadBytes - before.payloadBytes) / packets,
    rtpHeader: (after.headerBytes - before.headerBytes) / packets,
    // Chromium names the profile with an SRTP_ prefix (SRTP_AEAD_AES_256_GCM).
    srtpTag: SRTP_TAG[after.srtpCipher.replace(/^SRTP_/, '')] ?? Number.NaN,
    transportPerPacket: (after.transportBytes - before.transportBytes) / packets,
    srtpCipher: after.srtpCipher,
  };
}

interface WireBandwidth {
  seconds: number;
  /** The speaker's upload to the relay, and one listener's download of that speaker from it. */
  speaker: Leg;
  listener: Leg;
  /** From the relay's tap: every SFrame payload's length after its header, and the mean header length. */
  sframeBodies: number[];
  sframeHeader: number;
}

async function appPage(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext();
  await context.addInitScript(recordPeerConnections);
  const page = await context.newPage();
  await page.goto(url, { timeout: PAGE_TIMEOUT_MS });
  return page;
}

const encrypted = (page: Page) => page.waitForFunction(() => document.querySelector('[data-testid="e2ee-status"]')?.getAttribute('data-state') === 'encrypted', null, { timeout: PAGE_TIMEOUT_MS });

/** A host speaks and one listener hears it for `windowMs`: both pages' counters over that window, and the relay's copy of the host's packets. */
async function measureWireBandwidth(windowMs: number): Promise<WireBandwidth> {
  const relay = await startRelay({ port: 0, rtcPort: 0, workers: 1, logLevel: 'silent', clientDir: TEST_CLIENT_DIR });
  const browser = await launchChromium({ toneHz: 440 });
  const listenerBrowser = await launchChromium();
  try {
    const host = await appPage(browser, `${relay.url}/`);
    await host.getByTestId('create-title').fill('Wire bandwidth');
    await host.getByTestId('create-name').fill('Host');
    await host.getByTestId('create-room').click();
    await encrypted(host);
    const listener = await appPage(listenerBrowser, (await host.getByTestId('room-link').textContent())!);
    await listener.getByTestId('join-name').fill('Listener');
    await listener.getByTestId('join-room').click();
    await encrypted(listener);
    await listener.waitForFunction(() => ((window as unknown as { teahouse?: { frameCost(): { decrypted: number } | null } }).teahouse?.frameCost()?.decrypted ?? 0) > 100, null, { timeout: PAGE_TIMEOUT_MS });
    const room = [...relay.rooms.values()][0]!;
    const transport = await room.router.createDirectTransport();
    const bodies: number[] = [];
    let headers = 0;
    for (const member of room.members.values()) {
      for (const producer of member.producers.values()) {
        const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: room.router.rtpCapabilities });
        consumer.on('rtp', (packet: Buffer) => {
          const payload = rtpPayload(new Uint8Array(packet));
          const header = decodeHeader(payload).length;
          headers += header;
          bodies.push(payload.length - header);
        });
      }
    }
    const before = [(await legStats(host, 'send'))!, (await legStats(listener, 'receive'))!];
    const started = performance.now();
    await host.waitForTimeout(windowMs);
    const after = [(await legStats(host, 'send'))!, (await legStats(listener, 'receive'))!];
    const seconds = (performance.now() - started) / 1000;
    transport.close();
    return {
      seconds,
      speaker: leg(before[0]!, after[0]!),
      listener: leg(before[1]!, after[1]!),
      sframeBodies: [...new Set(bodies)].sort((a, b) => a - b),
      sframeHeader: headers / bodies.length,
    };
  } finally {
    await listenerBrowser.close();
    await browser.close();
    await relay.close();
  }
}

export async function runWireBandwidthBench(opts: { quick: boolean }): Promise<Table[]> {
  const wire = await measureWireBandwidth(opts.quick ? 5_000 : 20_000);
  const load = loadavg()[0]!;
  writeJson('wire-bandwidth', { quick: opts.quick, load, wire });
  const opus = Math.max(...wire.sframeBodies) - FRAME_SIG_CHUNK - 16;
  const layers = (name: string, l: Leg): [string, number, number][] => {
    const srtp = l.rtpPayload + l.rtpHeader + l.srtpTag;
    const perSecond = l.packets / wire.seconds;
    return [
      [`${name}: RTP payload (SFrame header, ciphertext, tag)`, l.rtpPayload, perSecond],
      [`${name}: SRTP packet (+ RTP header ${l.rtpHeader.toFixed(1)} with extensions, SRTP tag ${l.srtpTag})`, srtp, perSecond],
      [`${name}: transport, per audio packet (+ RTCP, consent checks)`, l.transportPerPacket, perSecond],
      [`${name}: IPv4 datagram (+ UDP 8, IPv4 20)`, srtp + UDP + IPV4, perSecond],
      [`${name}: IPv6 datagram (+ UDP 8, IPv6 40)`, srtp + UDP + IPV6, perSecond],
    ];
  };
  const kbps = (bytes: number, perSecond: number) => (bytes * 8 * perSecond) / 1000;
  // Every layer carries exactly the chunk more with signatures: the rest of the packet does not change.
  const row = ([name, bytes, perSecond]: [string, number, number]) => [name, bytes, kbps(bytes, perSecond), bytes - FRAME_SIG_CHUNK, kbps(bytes - FRAME_SIG_CHUNK, perSecond), (100 * FRAME_SIG_CHUNK) / (bytes - FRAME_SIG_CHUNK)];
  const framesPerSecond = wire.speaker.packets / wire.seconds;
  return [
    {
      title: `What a speaker sends and a listener receives with frame signatures, and without (${FRAME_SIG_CHUNK} bytes less a packet)`,
      columns: ['layer', 'bytes/packet', 'kbit/s', 'without signatures, bytes', 'kbit/s', 'signatures add %'],
      rows: [
        ['Opus frame (SFrame body less the chunk and the 16-byte tag)', opus, kbps(opus, framesPerSecond), opus, kbps(opus, framesPerSecond), (100 * FRAME_SIG_CHUNK) / opus],
        ...layers('speaker', wire.speaker).map(row),
        ...layers('listener', wire.listener).map(row),
      ],
      notes: [
        `A host speaking (Chromium's fake microphone, 440 Hz) and one listener, over ${wire.seconds.toFixed(1)} s: ${wire.speaker.packets} packets sent, ${wire.listener.packets} received. getStats of each page's connection (outbound-rtp / inbound-rtp bytes, headerBytes and packets; transport bytes); SRTP profile ${wire.speaker.srtpCipher} up, ${wire.listener.srtpCipher} down.`,
        `The relay's tap of the host's producer: SFrame payload lengths after the header ${wire.sframeBodies.join(', ')} (80 Opus + ${FRAME_SIG_CHUNK} signature chunk + 16 tag), header ${wire.sframeHeader.toFixed(2)} bytes on average.`,
        `"Without signatures" is the same packets less the ${FRAME_SIG_CHUNK}-byte chunk, which is all a signed frame adds (the client has no way to send unsigned frames, by design). Load average ${load.toFixed(1)} on ${cpus().length} cores.`,
      ],
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const table of await runWireBandwidthBench({ quick: process.argv.includes('--quick') })) console.log(renderTable(table));
}
