// What the capacity benchmark and its load process say to each other over the fork IPC channel.
export type LoadCommand =
  /** Sockets of one group (0 unless given) are also counted apart in a run's result. */
  | { type: 'open'; sockets: number; group?: number }
  | { type: 'speaker'; port: number; ssrc: number; encrypt: boolean }
  /** groups: how many of the listeners send to each group's sockets, for a result per group. */
  | { type: 'run'; listeners: number; groups?: number[]; warmupMs: number; windowMs: number }
  | { type: 'stop' };

/** What the listeners sending to one group of sockets received of the window's frames, and how late. */
export interface GroupResult {
  expected: number;
  received: number;
  lossPct: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface StepResult {
  sent: number;
  expected: number;
  received: number;
  lossPct: number;
  p50Ms: number | null;
  p99Ms: number | null;
  loadCpuPct: number;
  /** How long the measured window really lasted. */
  windowMs: number;
  groups?: GroupResult[];
}

export type LoadReply = { type: 'ready' } | { type: 'opened'; ports: number[] } | { type: 'speaking' } | { type: 'window' } | ({ type: 'result' } & StepResult);
