import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkLocalAddresses, ConfigError, configFromEnv, DEFAULTS, plainHttpOnNetwork, resolveConfig, unknownVariables } from '../../server/config.ts';
import { rtcAnnouncedAddress, rtcListenInfos, webRtcServerListenInfos, webRtcTransportListen } from '../../server/media/listen.ts';

describe('configuration from the environment', () => {
  it('has defaults that serve a usable relay on localhost', () => {
    const config = resolveConfig(configFromEnv({}));
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', maxSpeakers: 20, disconnectGraceMs: 30_000, rtcPorts: 'single', rtcPort: 40000, turnUrls: null, keyBatchMs: 500 });
    expect(config.workers).toBeGreaterThanOrEqual(1);
  });

  it('reads every documented variable', () => {
    const env = {
      PORT: '8080',
      HOST: '0.0.0.0',
      RTC_LISTEN_IP: '10.0.0.2',
      ANNOUNCED_IP: '203.0.113.7',
      RTC_PORTS: 'range',
      RTC_PORT: '3479',
      RTC_MIN_PORT: '50000',
      RTC_MAX_PORT: '50100',
      TURN_URL: 'turns:turn.example.org:443?transport=tcp, turn:turn.example.org:3478',
      TURN_SECRET: 's3cret',
      TURN_TTL_SECONDS: '300',
      WORKERS: '3',
      CLIENT_DIR: '/srv/teahouse',
      LOG_LEVEL: 'warn',
      MAX_ROOMS: '5',
      MAX_PARTICIPANTS_PER_ROOM: '50',
      MAX_SPEAKERS: '4',
      LISTENERS_PER_ROUTER: '7',
      MESSAGES_PER_SECOND: '10',
      MESSAGE_BURST: '20',
      ROOMS_PER_CONNECTION_PER_MINUTE: '2',
      MAX_MESSAGE_BYTES: '1000000',
      DISCONNECT_GRACE_MS: '2000',
      KEY_BATCH_MS: '250',
      AWAY_GRACE_MS: '1000',
      TLS_CERT: '/etc/teahouse/tls/fullchain.pem',
      TLS_KEY: '/etc/teahouse/tls/privkey.pem',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      REDIS_URL: 'redis://teahouse:pw@10.0.0.5:6379',
      CLUSTER_HEARTBEAT_MS: '1000',
      PIPE_CHILDREN: '3',
      EDGE_JOINS: 'off',
      METRICS_HOST: '10.0.0.2',
      METRICS_PORT: '9100',
      WORKER_RECOVERY_MS: '10000',
      DRAIN_MS: '8000',
      SOURCE_URL: 'https://example.org/teahouse.tar.gz',
    };
    expect(resolveConfig(configFromEnv(env))).toEqual({
      port: 8080,
      host: '0.0.0.0',
      rtcListenIp: '10.0.0.2',
      announcedIp: '203.0.113.7',
      rtcPorts: 'range',
      rtcPort: 3479,
      rtcMinPort: 50000,
      rtcMaxPort: 50100,
      turnUrls: 'turns:turn.example.org:443?transport=tcp, turn:turn.example.org:3478',
      turnSecret: 's3cret',
      turnTtlSeconds: 300,
      workers: 3,
      clientDir: '/srv/teahouse',
      logLevel: 'warn',
      maxRooms: 5,
      maxParticipantsPerRoom: 50,
      maxSpeakers: 4,
      listenersPerRouter: 7,
      messagesPerSecond: 10,
      messageBurst: 20,
      roomsPerConnectionPerMinute: 2,
      maxMessageBytes: 1_000_000,
      disconnectGraceMs: 2000,
      keyBatchMs: 250,
      awayGraceMs: 1000,
      tlsCert: '/etc/teahouse/tls/fullchain.pem',
      tlsKey: '/etc/teahouse/tls/privkey.pem',
      trustProxy: 'loopback, 10.0.0.0/8',
      redisUrl: 'redis://teahouse:pw@10.0.0.5:6379',
      clusterHeartbeatMs: 1000,
      pipeChildren: 3,
      edgeJoins: 'off',
      metricsHost: '10.0.0.2',
      metricsPort: 9100,
      workerRecoveryMs: 10_000,
      drainMs: 8000,
      sourceUrl: 'https://example.org/teahouse.tar.gz',
    });
  });

  it('refuses a malformed value, naming the variable, instead of falling back to a default', () => {
    expect(() => configFromEnv({ PORT: 'abc' })).toThrow(/PORT/);
    expect(() => configFromEnv({ WORKERS: '-1' })).toThrow(ConfigError);
    expect(() => configFromEnv({ MAX_SPEAKERS: '2.5' })).toThrow(/MAX_SPEAKERS/);
    expect(() => resolveConfig({ port: 70_000 })).toThrow(/PORT/);
    expect(() => resolveConfig({ rtcMinPort: 5000, rtcMaxPort: 4000 })).toThrow(/RTC_MIN_PORT/);
    expect(() => resolveConfig({ workers: 0 })).toThrow(/WORKERS/);
    expect(() => resolveConfig(configFromEnv({ KEY_BATCH_MS: '2001' }))).toThrow(/KEY_BATCH_MS/);
    expect(() => resolveConfig({ logLevel: 'loud' as never })).toThrow(/LOG_LEVEL/);
    expect(() => resolveConfig(configFromEnv({ RTC_PORTS: 'many' }))).toThrow(/RTC_PORTS/);
    expect(() => resolveConfig(configFromEnv({ EDGE_JOINS: 'yes' }))).toThrow(/EDGE_JOINS must be "on" or "off"/);
    expect(() => resolveConfig({ rtcPort: 65535, workers: 2 })).toThrow(/RTC_PORT/);
    expect(() => resolveConfig(configFromEnv({ TURN_URL: 'turns:t.example.org:443' }))).toThrow(/TURN_SECRET/);
    expect(() => resolveConfig(configFromEnv({ TURN_SECRET: 'x' }))).toThrow(/TURN_URL/);
    expect(resolveConfig(configFromEnv({ KEY_BATCH_MS: '2000' })).keyBatchMs).toBe(2000);
    expect(() => resolveConfig(configFromEnv({ TURN_URL: 'https://t.example.org', TURN_SECRET: 'x' }))).toThrow(/TURN_URL/);
    expect(() => resolveConfig(configFromEnv({ TURN_URL: 'turns:t.example.org:443', TURN_SECRET: 'x', TURN_TTL_SECONDS: '5' }))).toThrow(/TURN_TTL_SECONDS/);
    expect(() => resolveConfig(configFromEnv({ REDIS_URL: 'localhost:6379' }))).toThrow(/REDIS_URL/);
    expect(() => resolveConfig(configFromEnv({ CLUSTER_HEARTBEAT_MS: '10' }))).toThrow(/CLUSTER_HEARTBEAT_MS/);
  });

  it("parses numbers strictly: decimal digits within each variable's range, timers within setTimeout's", () => {
    for (const raw of ['0x10', '1e3', ' 16', '16 ', '+16', '16.0']) {
      expect(() => configFromEnv({ PORT: raw }), raw).toThrow(/^PORT must be a non-negative decimal integer/);
    }
    expect(() => resolveConfig(configFromEnv({ DISCONNECT_GRACE_MS: '3000000000' }))).toThrow(/DISCONNECT_GRACE_MS must be between 0 and 2147483647/);
    expect(() => resolveConfig(configFromEnv({ WORKERS: '100000' }))).toThrow(/WORKERS/);
    expect(() => resolveConfig(configFromEnv({ MAX_MESSAGE_BYTES: '10' }))).toThrow(/MAX_MESSAGE_BYTES/);
    expect(() => resolveConfig(configFromEnv({ WORKER_RECOVERY_MS: '0' }))).toThrow(/WORKER_RECOVERY_MS/);
  });

  it('takes only IP literals for addresses, and only addresses of this machine to listen on', () => {
    for (const [name, value] of [
      ['HOST', 'localhost'],
      ['HOST', '127.0.0.256'],
      ['RTC_LISTEN_IP', 'eth0'],
      ['ANNOUNCED_IP', '300.1.1.1'],
      ['METRICS_HOST', 'example.org'],
    ]) {
      expect(() => resolveConfig(configFromEnv({ [name!]: value })), `${name}=${value}`).toThrow(new RegExp(`^${name} must be an IP address`));
    }
    expect(resolveConfig(configFromEnv({ ANNOUNCED_IP: '2001:db8::7' })).announcedIp).toBe('2001:db8::7');
    const local = ['127.0.0.1', '::1', '10.0.0.2'];
    expect(() => checkLocalAddresses(resolveConfig(configFromEnv({ HOST: '192.0.2.9' })), local)).toThrow(/^HOST 192\.0\.2\.9 is not an address of this machine/);
    expect(() => checkLocalAddresses(resolveConfig(configFromEnv({ RTC_LISTEN_IP: '192.0.2.9' })), local)).toThrow(/^RTC_LISTEN_IP/);
    expect(() => checkLocalAddresses(resolveConfig(configFromEnv({ HOST: '0.0.0.0', RTC_LISTEN_IP: '10.0.0.2' })), local)).not.toThrow();
    // A second loopback address is Linux's (all of 127/8 answers on lo), not another system's.
    expect(() => checkLocalAddresses(resolveConfig(configFromEnv({ HOST: '127.0.0.2', RTC_LISTEN_IP: '127.3.4.5' })), local, 'linux')).not.toThrow();
    expect(() => checkLocalAddresses(resolveConfig(configFromEnv({ HOST: '127.0.0.2' })), local, 'darwin')).toThrow(/^HOST 127\.0\.0\.2 is not an address of this machine/);
    expect(() => checkLocalAddresses(resolveConfig(configFromEnv({ HOST: '127.0.0.2' })), ['10.0.0.2'], 'linux')).toThrow(/^HOST 127\.0\.0\.2/);
  });

  it('cross-checks: an away grace longer than the disconnect grace, metrics on the public port', () => {
    expect(() => resolveConfig(configFromEnv({ AWAY_GRACE_MS: '10000', DISCONNECT_GRACE_MS: '5000' }))).toThrow(/^AWAY_GRACE_MS \(10000\) must be at most DISCONNECT_GRACE_MS \(5000\)/);
    expect(() => resolveConfig(configFromEnv({ PORT: '9464' }))).toThrow(/METRICS_PORT must differ from PORT/);
    expect(resolveConfig(configFromEnv({ PORT: '0' })).metricsPort).toBe(0);
    expect(resolveConfig(configFromEnv({})).metricsPort).toBe(9464);
    expect(() => resolveConfig(configFromEnv({ SOURCE_URL: 'ftp://x' }))).toThrow(/SOURCE_URL/);
  });

  it('refuses a malformed REDIS_URL without quoting any of it: the password is in there', () => {
    const password = 'k9/Zq+Vx=Tj3Lm8Pw2RtYb';
    for (const url of [`redis://:${password}@10.0.0.5:6379`, `redis://teahouse:${password}@10.0.0.5`, `http://:${password}@h:1`, `redis//:${password}@h`]) {
      let message = '';
      try {
        resolveConfig(configFromEnv({ REDIS_URL: url }));
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, url).toMatch(/^REDIS_URL must be redis:\/\//);
      for (const part of password.split(/[/+=]/)) expect(message).not.toContain(part);
    }
    expect(resolveConfig(configFromEnv({ REDIS_URL: `redis://:${encodeURIComponent(password)}@10.0.0.5:6379` })).redisUrl).toContain('10.0.0.5');
  });

  it('warns of variables that look meant for the relay but are not read by it', () => {
    const warnings = unknownVariables({ REDIS_URI: 'x', ANNOUNCE_IP: 'x', TEAHOUSE_PORT: '1', DISCONECT_GRACE_MS: '1', PATH: '/bin', HOME: '/root', TEAHOUSE_CACHE: '/c', PORT: '1', SHELL: 'bash' });
    expect(warnings).toEqual([
      'REDIS_URI is not a Teahouse variable: did you mean REDIS_URL?',
      'ANNOUNCE_IP is not a Teahouse variable: did you mean ANNOUNCED_IP?',
      'TEAHOUSE_PORT is not a Teahouse variable (see docs/operations.md, "Configuration")',
      'DISCONECT_GRACE_MS is not a Teahouse variable: did you mean DISCONNECT_GRACE_MS?',
    ]);
  });

  it('serves plain HTTP unless both TLS_CERT and TLS_KEY are set', () => {
    expect(resolveConfig(configFromEnv({}))).toMatchObject({ tlsCert: null, tlsKey: null, trustProxy: null });
    expect(() => resolveConfig(configFromEnv({ TLS_CERT: '/etc/teahouse/cert.pem' }))).toThrow(/TLS_CERT and TLS_KEY go together/);
    expect(() => resolveConfig(configFromEnv({ TLS_KEY: '/etc/teahouse/key.pem' }))).toThrow(ConfigError);
  });

  it('warns of plain HTTP only where browsers would refuse it: off loopback, with neither TLS nor a proxy', () => {
    const plain = { tlsCert: null, trustProxy: null };
    expect(plainHttpOnNetwork({ ...plain, host: '127.0.0.1' })).toBe(false);
    expect(plainHttpOnNetwork({ ...plain, host: '::1' })).toBe(false);
    expect(plainHttpOnNetwork({ ...plain, host: 'localhost' })).toBe(false);
    expect(plainHttpOnNetwork({ ...plain, host: '0.0.0.0' })).toBe(true);
    expect(plainHttpOnNetwork({ ...plain, host: '192.168.1.20' })).toBe(true);
    expect(plainHttpOnNetwork({ ...plain, host: '0.0.0.0', tlsCert: '/etc/teahouse/cert.pem' })).toBe(false);
    expect(plainHttpOnNetwork({ ...plain, host: '10.0.0.2', trustProxy: '10.0.0.1' })).toBe(false);
  });

  it('TRUST_PROXY names proxies; it never trusts every client', () => {
    for (const ok of ['loopback', '127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8', 'loopback,uniquelocal', 'linklocal, 192.168.1.2']) {
      expect(resolveConfig({ trustProxy: ok }).trustProxy).toBe(ok);
    }
    for (const bad of ['true', '1', '*', 'example.org', '10.0.0.0/33', '10.0.0.0/8/1', 'loopback,']) {
      expect(() => resolveConfig({ trustProxy: bad }), bad).toThrow(/TRUST_PROXY/);
    }
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
    expect(infos.map((i) => [i.ip, i.announcedAddress])).toEqual([
      ['0.0.0.0', '203.0.113.7'],
      ['0.0.0.0', '203.0.113.7'],
    ]);
  });

  it('one UDP and one TCP port per worker by default: RTC_PORT + the worker index, announced like the range', () => {
    expect(webRtcServerListenInfos({ ...DEFAULTS, rtcPort: 40000 }, 0)).toEqual([
      { protocol: 'udp', ip: '127.0.0.1', announcedAddress: '127.0.0.1', port: 40000 },
      { protocol: 'tcp', ip: '127.0.0.1', announcedAddress: '127.0.0.1', port: 40000 },
    ]);
    expect(webRtcServerListenInfos({ ...DEFAULTS, rtcPort: 40000, announcedIp: '203.0.113.7' }, 2).map((i) => [i.port, i.announcedAddress])).toEqual([
      [40002, '203.0.113.7'],
      [40002, '203.0.113.7'],
    ]);
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

describe('the shipped service configuration (docs/teahouse.env, docs/haproxy.cfg)', () => {
  const text = readFileSync(new URL('../../docs/teahouse.env', import.meta.url), 'utf8');
  /** The file's active lines, or (proxy) its commented-out block for running behind a proxy. */
  const block = (proxy: boolean): Record<string, string> => {
    const lines = text.split('\n').filter((l) => (proxy ? /^#[A-Z_]+=/.test(l) : /^[A-Z_]+=/.test(l)));
    return Object.fromEntries(lines.map((l) => l.replace(/^#/, '').split('=') as [string, string]));
  };

  it('built-in HTTPS: every variable is valid and both certificate files are named', () => {
    const config = resolveConfig(configFromEnv(block(false)));
    expect(config).toMatchObject({ port: 443, host: '0.0.0.0', tlsCert: '/etc/teahouse/tls/fullchain.pem', tlsKey: '/etc/teahouse/tls/privkey.pem', trustProxy: null });
  });

  it('behind a proxy: HTTP on loopback at the port the HAProxy recipe forwards to, believing only loopback', () => {
    const config = resolveConfig(configFromEnv(block(true)));
    expect(config).toMatchObject({ host: '127.0.0.1', rtcListenIp: '0.0.0.0', trustProxy: 'loopback', tlsCert: null });
    expect(readFileSync(new URL('../../docs/haproxy.cfg', import.meta.url), 'utf8')).toContain(`server relay 127.0.0.1:${config.port}\n`);
  });
});
