import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv, DEFAULTS, resolveConfig } from '../../server/config.ts';
import { rtcAnnouncedAddress, rtcListenInfos, webRtcServerListenInfos, webRtcTransportListen } from '../../server/media/listen.ts';

describe('configuration from the environment', () => {
  it('has defaults that serve a usable relay on localhost', () => {
    const config = resolveConfig(configFromEnv({}));
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', maxSpeakers: 20, disconnectGraceMs: 30_000, rtcPorts: 'single', rtcPort: 40000, turnUrls: null });
    expect(config.workers).toBeGreaterThanOrEqual(1);
  });

  it('reads every documented variable', () => {
    const env = {
      PORT: '8080', HOST: '0.0.0.0', RTC_LISTEN_IP: '10.0.0.2', ANNOUNCED_IP: '203.0.113.7', RTC_PORTS: 'range', RTC_PORT: '3479', RTC_MIN_PORT: '50000', RTC_MAX_PORT: '50100',
      TURN_URL: 'turns:turn.example.org:443?transport=tcp, turn:turn.example.org:3478', TURN_SECRET: 's3cret', TURN_TTL_SECONDS: '300',
      WORKERS: '3', CLIENT_DIR: '/srv/teahouse', LOG_LEVEL: 'warn', MAX_ROOMS: '5', MAX_PARTICIPANTS_PER_ROOM: '50', MAX_SPEAKERS: '4', LISTENERS_PER_ROUTER: '7',
      MESSAGES_PER_SECOND: '10', MESSAGE_BURST: '20', ROOMS_PER_CONNECTION_PER_MINUTE: '2', MAX_MESSAGE_BYTES: '1000000', DISCONNECT_GRACE_MS: '0',
    };
    expect(resolveConfig(configFromEnv(env))).toEqual({
      port: 8080, host: '0.0.0.0', rtcListenIp: '10.0.0.2', announcedIp: '203.0.113.7', rtcPorts: 'range', rtcPort: 3479, rtcMinPort: 50000, rtcMaxPort: 50100,
      turnUrls: 'turns:turn.example.org:443?transport=tcp, turn:turn.example.org:3478', turnSecret: 's3cret', turnTtlSeconds: 300,
      workers: 3, clientDir: '/srv/teahouse', logLevel: 'warn', maxRooms: 5, maxParticipantsPerRoom: 50, maxSpeakers: 4, listenersPerRouter: 7,
      messagesPerSecond: 10, messageBurst: 20, roomsPerConnectionPerMinute: 2, maxMessageBytes: 1_000_000, disconnectGraceMs: 0,
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
    expect(() => resolveConfig(configFromEnv({ RTC_PORTS: 'many' }))).toThrow(/RTC_PORTS/);
    expect(() => resolveConfig({ rtcPort: 65535, workers: 2 })).toThrow(/RTC_PORT/);
    expect(() => resolveConfig(configFromEnv({ TURN_URL: 'turns:t.example.org:443' }))).toThrow(/TURN_SECRET/);
    expect(() => resolveConfig(configFromEnv({ TURN_SECRET: 'x' }))).toThrow(/TURN_URL/);
    expect(() => resolveConfig(configFromEnv({ TURN_URL: 'https://t.example.org', TURN_SECRET: 'x' }))).toThrow(/TURN_URL/);
    expect(() => resolveConfig(configFromEnv({ TURN_URL: 'turns:t.example.org:443', TURN_SECRET: 'x', TURN_TTL_SECONDS: '5' }))).toThrow(/TURN_TTL_SECONDS/);
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

  it('one UDP and one TCP port per worker by default: RTC_PORT + the worker index, announced like the range', () => {
    expect(webRtcServerListenInfos({ ...DEFAULTS, rtcPort: 40000 }, 0)).toEqual([
      { protocol: 'udp', ip: '127.0.0.1', announcedAddress: '127.0.0.1', port: 40000 },
      { protocol: 'tcp', ip: '127.0.0.1', announcedAddress: '127.0.0.1', port: 40000 },
    ]);
    expect(webRtcServerListenInfos({ ...DEFAULTS, rtcPort: 40000, announcedIp: '203.0.113.7' }, 2).map((i) => [i.port, i.announcedAddress])).toEqual([[40002, '203.0.113.7'], [40002, '203.0.113.7']]);
    expect(webRtcServerListenInfos({ ...base, rtcPort: 0 }, 1)[0]).toMatchObject({ portRange: { min: 40000, max: 40010 } });
  });

  it('every transport offers UDP and ICE over TCP, preferring UDP, through the WebRtcServer or on its own ports', () => {
    const server = { id: 'server' } as never;
    expect(webRtcTransportListen(base, server)).toEqual({ webRtcServer: server, enableUdp: true, enableTcp: true, preferUdp: true });
    expect(webRtcTransportListen(base, null)).toEqual({ listenInfos: rtcListenInfos(base), enableUdp: true, enableTcp: true, preferUdp: true });
  });

  it('a wildcard without ANNOUNCED_IP announces loopback, a concrete address announces itself', () => {
    expect(rtcAnnouncedAddress({ ...base, host: '0.0.0.0' })).toBe('127.0.0.1');
    expect(rtcAnnouncedAddress({ ...base, host: '::' })).toBe('::1');
    expect(rtcAnnouncedAddress({ ...base, host: '192.168.1.20' })).toBe('192.168.1.20');
  });
});
