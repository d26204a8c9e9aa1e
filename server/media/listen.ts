// Where WebRTC transports listen and which address browsers are told to send media to.
import type { types } from 'mediasoup';
import type { RelayConfig } from '../config.ts';

type ListenConfig = Pick<RelayConfig, 'host' | 'rtcListenIp' | 'announcedIp' | 'rtcMinPort' | 'rtcMaxPort'>;

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

export function rtcListenInfos(config: ListenConfig): types.TransportListenInfo[] {
  const ip = rtcListenIp(config);
  const announcedAddress = rtcAnnouncedAddress(config);
  const portRange = { min: config.rtcMinPort, max: config.rtcMaxPort };
  return [
    { protocol: 'udp', ip, announcedAddress, portRange },
    { protocol: 'tcp', ip, announcedAddress, portRange },
  ];
}
