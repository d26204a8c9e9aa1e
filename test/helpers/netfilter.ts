// Network faults made by the kernel for one browser: nftables drops the packets of processes in a group of their own.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NFT = process.env.NFT_PATH ?? '/usr/sbin/nft';

function nft(script: string): void {
  try {
    execFileSync(NFT, ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(`nft refused the rules: ${String((error as { stderr?: Buffer }).stderr ?? error)}`);
  }
}

const PREFIX = 'teahouse_netcut_';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Tables of test processes that were killed before they could remove theirs (their packets are long gone). */
function removeOrphans(): void {
  const listed = execFileSync(NFT, ['list', 'tables'], { encoding: 'utf8' });
  for (const [, pid] of listed.matchAll(new RegExp(`^table inet ${PREFIX}(\\d+)$`, 'gm'))) {
    if (!alive(Number(pid))) nft(`delete table inet ${PREFIX}${pid}\n`);
  }
}

/**
 * A network for the processes started through `wrap` (run under a group id of their own, which only they carry), that
 * the test cuts and then replaces with another. Every flow those processes open is marked in conntrack when it
 * starts, so that a cut drops both directions of all of them, TCP and UDP alike, in the output and input hooks: the
 * packets vanish with no RST or FIN, as when a phone leaves Wi-Fi. Nothing outside this process's own table and marks
 * is touched.
 */
export class NetworkCut {
  private readonly table: string;
  private readonly gid: number;
  private readonly dir: string;
  /** The conntrack mark of flows opened on the current network, and the marks of networks left for good. */
  private generation = 1;
  private readonly gone: number[] = [];
  private readonly onExit = () => this.remove();

  private constructor() {
    if (process.getuid?.() !== 0) throw new Error('the network-cut tests need root (nftables, and a group id for the browser): run them as root, as CI does');
    // One group, table and range of marks per test process: runs side by side never see each other's packets.
    this.gid = 40_000 + (process.pid % 20_000);
    this.table = `${PREFIX}${process.pid}`;
    this.dir = mkdtempSync(join(tmpdir(), 'teahouse-netcut-'));
    process.once('exit', this.onExit);
  }

  static create(): NetworkCut {
    removeOrphans();
    const cut = new NetworkCut();
    try {
      cut.apply(false);
    } catch (error) {
      cut.close();
      throw error;
    }
    return cut;
  }

  /** An executable that runs `program` with its arguments in this network. */
  wrap(program: string): string {
    const path = join(this.dir, 'in-network');
    writeFileSync(path, `#!/bin/sh\nexec setpriv --regid=${this.gid} --clear-groups ${JSON.stringify(program)} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** Every packet of this network's flows vanishes, and new flows cannot start. */
  down(): void {
    this.apply(true);
  }

  /** Another network comes (Wi-Fi to mobile data): the flows from before stay dead for good, new ones get through. */
  up(): void {
    this.gone.push(this.mark(this.generation++));
    this.apply(false);
  }

  /** Removes the table; the flows it marked carry on unfiltered. */
  close(): void {
    this.remove();
    process.off('exit', this.onExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private mark(generation: number): number {
    return (this.gid << 8) | generation;
  }

  private remove(): void {
    try {
      nft(`delete table inet ${this.table}\n`);
    } catch {
      // Already gone.
    }
  }

  /** Rewrites the table in one transaction: no packet sees half a rule set. */
  private apply(cut: boolean): void {
    const dead = cut ? [...this.gone, this.mark(this.generation)] : this.gone;
    const drop = dead.length > 0 ? [`ct mark { ${dead.join(', ')} } drop`] : [];
    // Flows are marked on their first packet out; a reply (input) belongs to a flow already marked.
    const own = cut ? `meta skgid ${this.gid} drop` : `meta skgid ${this.gid} ct mark 0 ct mark set ${this.mark(this.generation)}`;
    const chain = (hook: string, rules: string[]) => `  chain ${hook} { type filter hook ${hook === 'out' ? 'output' : 'input'} priority 0; policy accept;\n${rules.map((r) => `    ${r}\n`).join('')}  }`;
    nft([`add table inet ${this.table}`, `flush table inet ${this.table}`, `table inet ${this.table} {`, chain('out', [...drop, own]), chain('in', drop), '}', ''].join('\n'));
  }
}
