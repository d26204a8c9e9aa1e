// Where WebRTC transports listen and which address browsers are told to send media to.
import type { types } from 'mediasoup';
import type { RelayConfig } from '../config.ts';

type ListenConfig = Pick<RelayConfig, 'host' | 'rtcListenIp' | 'announcedIp' | 'rtcMinPort' | 'rtcMaxPort'>;
type PortConfig = ListenConfig & Pick<RelayConfig, 'rtcPorts' | 'rtcPort'>;

export const isWildcard = (ip: string): boolean => ip === '0.0.0.0' || ip === '::';

/** Media listens on RTC_LISTEN_IP, or with HTTP on HOST: a relay behind an HTTPS proxy keeps HOST on loopback. */
export function rtcListenIp(config: ListenConfig): string {
  return config.rtcListenIp ?? config.host;
}

/**
 * ANNOUNCED_IP when set; otherwise the listen address, which browsers can reach only if it is a concrete one.
 * A wildcard listen address without ANNOUNCED_IP announces loopback: media then works on this machine only.
 */
export function rtcAnnouncedAddress(config: ListenConfig): string {
  if (config.announcedIp) return config.announcedIp;
  const ip = rtcListenIp(config);
  if (!isWildcard(ip)) return ip;
  return ip === '::' ? '::1' : '127.0.0.1';
}

/** RTC_PORTS=range: every transport takes its own UDP and TCP port from the range (UDP listed first, so preferred). */
export function rtcListenInfos(config: ListenConfig): types.TransportListenInfo[] {
  const ip = rtcListenIp(config);
  const announcedAddress = rtcAnnouncedAddress(config);
  const portRange = { min: config.rtcMinPort, max: config.rtcMaxPort };
  return [
    { protocol: 'udp', ip, announcedAddress, portRange },
    { protocol: 'tcp', ip, announcedAddress, portRange },
  ];
}

/**
 * RTC_PORTS=single: worker `index` serves all its transports on RTC_PORT + index, UDP and TCP alike, so a firewall
 * needs two rules per worker. RTC_PORT=0 takes any free port of the range (tests running side by side).
 */
export function webRtcServerListenInfos(config: PortConfig, index: number): types.TransportListenInfo[] {
  const ip = rtcListenIp(config);
  const announcedAddress = rtcAnnouncedAddress(config);
  const port = config.rtcPort === 0 ? { portRange: { min: config.rtcMinPort, max: config.rtcMaxPort } } : { port: config.rtcPort + index };
  return [
    { protocol: 'udp', ip, announcedAddress, ...port },
    { protocol: 'tcp', ip, announcedAddress, ...port },
  ];
}

/**
 * How a WebRTC transport listens: on its worker's WebRtcServer when there is one, else on ports of its own. Both
 * offer ICE over TCP to every browser, for networks that drop UDP, and prefer UDP where both connect.
 */
export function webRtcTransportListen(config: ListenConfig, server: types.WebRtcServer | null): types.WebRtcTransportOptions {
  const protocols = { enableUdp: true, enableTcp: true, preferUdp: true };
  return server ? { webRtcServer: server, ...protocols } : { listenInfos: rtcListenInfos(config), ...protocols };
}
