// The relay connection: one socket.io socket, opened on first use, and requests over it.
import { io, type Socket } from 'socket.io-client';
import { request } from '../../../../protocol/client.ts';
import { PAGE_QUIET_MS } from '../../../../protocol/heartbeat.ts';
import type { ReplyOf, RequestOf, RequestType } from '../../../../protocol/messages.ts';

export class Connection {
  private socket: Socket | null = null;
  private readonly origin: string;
  /** Subscribes the session to a new socket's events, before anything is sent on it. */
  private readonly wire: (socket: Socket) => void;

  constructor(origin: string, wire: (socket: Socket) => void) {
    this.origin = origin;
    this.wire = wire;
  }

  connect(): void {
    if (this.socket) return;
    // An attempt made while the network was gone may never be answered (its packets went nowhere): given up after
    // PAGE_QUIET_MS rather than socket.io's 20 s, so that the next one, on the new network, comes within the grace.
    const socket = io(this.origin, { transports: ['websocket'], reconnectionDelayMax: 3_000, timeout: PAGE_QUIET_MS });
    this.socket = socket;
    this.watch(socket);
    this.wire(socket);
  }

  /**
   * A connection the network dropped without a word (a phone changing networks) brings no more pings: closing it
   * after PAGE_QUIET_MS makes socket.io reconnect, and the page resume, without waiting for socket.io's own 15 s.
   */
  private watch(socket: Socket): void {
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => socket.io.engine?.close(), PAGE_QUIET_MS);
    };
    socket.on('connect', arm);
    socket.io.on('ping', arm);
    socket.on('disconnect', () => clearTimeout(quiet));
  }

  req<T extends RequestType>(type: T, payload: RequestOf<T>): Promise<ReplyOf<T>> {
    this.connect();
    return request(this.socket!, type, payload);
  }

  /** The leave, on the socket there is (none: nothing to tell). */
  leave(): Promise<unknown> | null {
    return this.socket ? request(this.socket, 'room.leave', {}) : null;
  }

  /** Diagnostics: cuts the relay connection as a network drop would, and keeps it down for holdMs before coming back. */
  drop(holdMs: number): void {
    const socket = this.socket;
    if (!socket) return;
    socket.io.reconnection(holdMs === 0);
    socket.io.engine.close();
    if (holdMs > 0) {
      setTimeout(() => {
        socket.io.reconnection(true);
        socket.connect();
      }, holdMs);
    }
  }

  close(): void {
    this.socket?.disconnect();
    this.socket = null;
  }
}
