// What the capacity benchmark and its load process say to each other over the fork IPC channel.
export type LoadCommand =
  | { type: 'open'; sockets: number }
  | { type: 'speaker'; port: number; ssrc: number; encrypt: boolean }
  | { type: 'run'; listeners: number; warmupMs: number; windowMs: number }
  | { type: 'stop' };

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
}

export type LoadReply =
  | { type: 'ready' }
  | { type: 'opened'; ports: number[] }
  | { type: 'speaking' }
  | { type: 'window' }
  | ({ type: 'result' } & StepResult);
