// Reads a systemd unit and an EnvironmentFile as systemd does (the parts docs/teahouse.service uses), so a test can run the unit's command as written.
import { spawn } from 'node:child_process';

/** Section name → directive → its values in order (a directive may repeat). */
export type Unit = Map<string, Map<string, string[]>>;

export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The directive's last value (systemd's rule for single-valued settings), or undefined where the unit does not set it. */
export function directive(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/** KEY=VALUE lines, `#` comments, optional surrounding quotes: the EnvironmentFile format the docs' teahouse.env uses. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`not an environment line: ${line}`);
    env[match[1]!] = match[2]!.replace(/^"(.*)"$|^'(.*)'$/, '$1$2');
  }
  return env;
}

/**
 * Who gets the SIGTERM of `systemctl stop` under this KillMode (systemd.kill(5)): `mixed` and `process` signal the
 * main process alone; `control-group`, also the default when the line is missing, signals every process of the unit.
 */
export function stopSignalTargets(killMode: string | undefined): 'main' | 'group' {
  if (killMode === 'mixed' || killMode === 'process') return 'main';
  if (killMode === undefined || killMode === 'control-group') return 'group';
  throw new Error(`KillMode=${killMode} is not one systemd knows`);
}

/** `systemd-analyze verify` on a unit file: its exit code and everything it printed (warnings included). */
export function systemdVerify(path: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('systemd-analyze', ['verify', '--man=no', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}
