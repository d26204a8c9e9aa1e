// One signaling connection's state, whoever handles its requests: rooms/ on a relay alone, cluster/ across relays.
export interface OutboundSocket {
  readonly id: string;
  emit(event: string, payload: unknown): unknown;
  disconnect?(close?: boolean): unknown;
}

/** What the relay knows about one signaling connection; rooms/ names what a member and a room are. */
export interface Session<Member = unknown, Place = unknown> {
  socket: OutboundSocket;
  participant: Member | null;
  room: Place | null;
  roomCreations: number[];
  /** Run once the current request's reply has been sent: events that must follow the reply, not precede it. */
  afterReply: (() => void) | null;
}
