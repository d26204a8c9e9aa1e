import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, DEFAULTS, resolveConfig } from '../../server/config.ts';
import { rtcAnnouncedAddress, rtcListenInfos } from '../../server/media/listen.ts';

describe('configuration from the environment', () => {
  it('has defaults that serve a usable relay on localhost', () => {
    const config = resolveConfig(configFromEnv({}));
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', maxSpeakers: 20, disconnectGraceMs: 30_000, keyBatchMs: 500 });
    expect(config.workers).toBeGreaterThanOrEqual(1);
  });

  it('reads every documented variable', () => {
    const env = {
      PORT: '8080', HOST: '0.0.0.0', RTC_LISTEN_IP: '10.0.0.2', ANNOUNCED_IP: '203.0.113.7', RTC_MIN_PORT: '50000', RTC_MAX_PORT: '50100',
      WORKERS: '3', CLIENT_DIR: '/srv/teahouse', LOG_LEVEL: 'warn', MAX_ROOMS: '5', MAX_PARTICIPANTS_PER_ROOM: '50', MAX_SPEAKERS: '4', LISTENERS_PER_ROUTER: '7',
      MESSAGES_PER_SECOND: '10', MESSAGE_BURST: '20', ROOMS_PER_CONNECTION_PER_MINUTE: '2', MAX_MESSAGE_BYTES: '1000000', DISCONNECT_GRACE_MS: '0',
      KEY_BATCH_MS: '250',
    };
    expect(resolveConfig(configFromEnv(env))).toEqual({
      port: 8080, host: '0.0.0.0', rtcListenIp: '10.0.0.2', announcedIp: '203.0.113.7', rtcMinPort: 50000, rtcMaxPort: 50100,
      workers: 3, clientDir: '/srv/teahouse', logLevel: 'warn', maxRooms: 5, maxParticipantsPerRoom: 50, maxSpeakers: 4, listenersPerRouter: 7,
      messagesPerSecond: 10, messageBurst: 20, roomsPerConnectionPerMinute: 2, maxMessageBytes: 1_000_000, disconnectGraceMs: 0,
      keyBatchMs: 250,
    });
  });

  it('refuses a malformed value, naming the variable, instead of falling back to a default', () => {
    expect(() => configFromEnv({ PORT: 'abc' })).toThrow(/PORT/);
    expect(() => configFromEnv({ WORKERS: '-1' })).toThrow(ConfigError);
    expect(() => configFromEnv({ MAX_SPEAKERS: '2.5' })).toThrow(/MAX_SPEAKERS/);
    expect(() => resolveConfig({ port: 70_000 })).toThrow(/PORT/);
    expect(() => resolveConfig({ rtcMinPort: 5000, rtcMaxPort: 4000 })).toThrow(/RTC_MIN_PORT/);
    expect(() => resolveConfig({ workers: 0 })).toThrow(/WORKERS/);
    expect(() => resolveConfig({ logLevel: 'loud' as never })).toThrow(/LOG_LEVEL/);
    // A longer batching window is longer a leaver keeps hearing; members refuse one past MAX_KEY_BATCH_MS anyway.
    expect(() => resolveConfig(configFromEnv({ KEY_BATCH_MS: '2001' }))).toThrow(/KEY_BATCH_MS/);
    expect(resolveConfig(configFromEnv({ KEY_BATCH_MS: '2000' })).keyBatchMs).toBe(2000);
  });
});

describe('where media listens and what it announces', () => {
  const base = { ...DEFAULTS, rtcMinPort: 40000, rtcMaxPort: 40010 };

  it('follows HOST by default, over UDP and TCP in the configured port range', () => {
    expect(rtcListenInfos(base)).toEqual([
      { protocol: 'udp', ip: '127.0.0.1', announcedAddress: '127.0.0.1', portRange: { min: 40000, max: 40010 } },
      { protocol: 'tcp', ip: '127.0.0.1', announcedAddress: '127.0.0.1', portRange: { min: 40000, max: 40010 } },
    ]);
  });

  it('behind an HTTPS proxy: HTTP on loopback, media on its own address, announced as the public one', () => {
    const infos = rtcListenInfos({ ...base, host: '127.0.0.1', rtcListenIp: '0.0.0.0', announcedIp: '203.0.113.7' });
    expect(infos.map((i) => [i.ip, i.announcedAddress])).toEqual([['0.0.0.0', '203.0.113.7'], ['0.0.0.0', '203.0.113.7']]);
  });

  it('a wildcard without ANNOUNCED_IP announces loopback, a concrete address announces itself', () => {
    expect(rtcAnnouncedAddress({ ...base, host: '0.0.0.0' })).toBe('127.0.0.1');
    expect(rtcAnnouncedAddress({ ...base, host: '::' })).toBe('::1');
    expect(rtcAnnouncedAddress({ ...base, host: '192.168.1.20' })).toBe('192.168.1.20');
  });
});
