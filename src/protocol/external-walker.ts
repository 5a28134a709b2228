/**
 * Runner side of the plugin protocol: a Walker backed by an external process that speaks NDJSON
 * on stdin/stdout (see messages.ts). One long-lived process per run; it is restarted when it dies,
 * hangs or answers out of turn. Every failure becomes a WalkRecord the oracle can judge
 * (errored / runaway) with the reason and the tail of the process's stderr; the run goes on.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'child_process';
import type { WalkRecord } from '../oracle/oracle';
import { SchemaError, assertValid } from '../schema/validate';
import { unhex, type LoadedSnapshot } from '../snapshot/io';
import type { Snapshot } from '../snapshot/types';
import type { Profile } from '../unwinders/types';
import type { Walker } from '../unwinders/walker';
import {
  PROTOCOL_VERSION,
  validateMessage,
  type StartResponse,
  type WalkRequest,
  type WalkResponse,
} from './messages';

export interface ExternalWalkerOptions {
  /** Per-walk answer timeout (default 10 s). On timeout the process is killed and restarted. */
  timeoutMs?: number;
  /** Timeout for the start handshake (default 60 s: a ts-node server takes a few seconds to boot). */
  startTimeoutMs?: number;
  /** Check every message both ways against schemas/protocol (--validate-protocol). */
  validate?: boolean;
  cwd?: string;
  /** Aliases used by the CLI (same meaning as `validate` / `timeoutMs`). */
  validateProtocol?: boolean;
  walkTimeoutMs?: number;
}

/** A WalkRecord from an external walker. `skipped` is set (with `error`) when the implementation declined the walk. */
export interface ExternalWalkRecord extends WalkRecord {
  skipped?: string;
}

/** Failure of the start handshake or of the implementation as a whole (not of one walk). */
export class ProtocolError extends Error {}

const STDERR_KEEP = 4096;

type Event = { line: string } | { timeout: true } | { exit: string };

/** One running implementation process and its line-oriented stdout. */
class PluginProcess {
  readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: ((e: Event) => void) | undefined;
  private stderr = '';
  exited: string | undefined;

  constructor(command: string, cwd: string | undefined) {
    // A process group of its own, so a hung implementation and any children die together.
    this.child = spawn(command, { shell: true, cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i).replace(/\r$/, '');
        this.buf = this.buf.slice(i + 1);
        if (line.trim() === '') continue;
        this.lines.push(line);
      }
      this.wake();
    });
    this.child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-STDERR_KEEP);
    });
    this.child.stdin.on('error', () => {}); // EPIPE when it died: reported through 'exit'
    this.child.on('error', (e) => this.markExited(`could not be started: ${e.message}`));
    this.child.on('exit', (code, signal) => this.markExited(signal ? `killed by ${signal}` : `exited with code ${code}`));
  }

  private markExited(why: string): void {
    if (this.exited === undefined) this.exited = why;
    live.delete(this);
    // Let pending stdout drain before waking a waiter with the exit.
    setImmediate(() => this.wake());
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.lines.length) {
      this.waiter = undefined;
      w({ line: this.lines.shift()! });
    } else if (this.exited !== undefined) {
      this.waiter = undefined;
      w({ exit: this.exited });
    }
  }

  send(msg: unknown): void {
    if (this.exited === undefined) this.child.stdin.write(JSON.stringify(msg) + '\n');
  }

  /** The next stdout line, or the process's exit, or a timeout. */
  next(timeoutMs: number): Promise<Event> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve({ timeout: true });
      }, timeoutMs);
      this.waiter = (e) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.wake();
    });
  }

  /** Lines that arrived unasked (a previous answer after a timeout, debug prints). */
  drain(): string[] {
    return this.lines.splice(0);
  }

  stderrTail(maxLines = 12): string {
    const lines = this.stderr.trimEnd().split('\n').filter((l) => l !== '');
    return lines.slice(-maxLines).join('\n');
  }

  kill(): void {
    if (this.exited !== undefined) return;
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      try {
        this.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  async stop(graceMs: number): Promise<void> {
    if (this.exited !== undefined) return;
    this.send({ cmd: 'stop' });
    this.child.stdin.end();
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    const t = new Promise<'late'>((r) => setTimeout(() => r('late'), graceMs).unref());
    if ((await Promise.race([gone, t])) === 'late') this.kill();
  }
}

/** Processes still running, killed if the runner exits first (they run in process groups of their own). */
const live = new Set<PluginProcess>();
const killLive = () => {
  for (const p of live) p.kill();
};
process.on('exit', killLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = () => {
    killLive();
    process.removeListener(sig, onSignal);
    // Keep the default behaviour (exit by the signal) unless someone else handles it.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  process.on(sig, onSignal);
}

const DEFAULT_TIMEOUT = 10_000;
const DEFAULT_START_TIMEOUT = 60_000;

function withStderr(msg: string, p: PluginProcess): string {
  const tail = p.stderrTail();
  return tail ? `${msg}\n--- stderr of the implementation (last lines) ---\n${tail}` : msg;
}

function short(s: string, n = 200): string {
  return s.length > n ? s.slice(0, n) + `… (${s.length} chars)` : s;
}

/** Build the run's Profile from a start answer (validated like a profile file). */
export function profileFromStart(resp: StartResponse, command: string): Profile {
  const profile: Profile = {
    name: resp.implementation.name,
    arch: resp.implementation.arch,
    unwinder: resp.implementation.unwinder,
    description: resp.implementation.description ?? `external unwinder: ${command}`,
    reference: false,
    claims: resp.claims,
    ...(resp.options ? { options: resp.options } : {}),
  };
  return assertValid<Profile>('profile', profile, `profile built from the start answer of "${command}"`);
}

export class ExternalWalker implements Walker {
  profile!: Profile;
  /** Times the process was (re)started, for reports and tests. */
  starts = 0;
  private proc: PluginProcess | undefined;
  private seq = 0;
  private readonly timeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly validate: boolean;

  constructor(
    readonly command: string,
    private readonly opts: ExternalWalkerOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? opts.walkTimeoutMs ?? DEFAULT_TIMEOUT;
    this.startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT;
    this.validate = opts.validate ?? opts.validateProtocol ?? false;
  }

  /** Start the process and do the handshake; throws ProtocolError with a clear reason. */
  async start(): Promise<void> {
    this.proc?.kill();
    const p = new PluginProcess(this.command, this.opts.cwd);
    this.proc = p;
    this.starts++;
    const fail = (why: string): never => {
      p.kill();
      throw new ProtocolError(withStderr(`unwinder "${this.command}": ${why}`, p));
    };
    const req = { cmd: 'start' as const, version: PROTOCOL_VERSION };
    if (this.validate) validateMessage('start', req, 'start request');
    p.send(req);
    const ev = await p.next(this.startTimeoutMs);
    if ('timeout' in ev) return fail(`no answer to start within ${this.startTimeoutMs} ms`);
    if ('exit' in ev) return fail(`${ev.exit} before answering start`);
    let msg: unknown;
    try {
      msg = JSON.parse(ev.line);
    } catch {
      return fail(`start answer is not JSON: ${short(ev.line)}`);
    }
    const v = (msg as { version?: unknown } | null)?.version;
    if (v !== PROTOCOL_VERSION) {
      return fail(`protocol version mismatch: the runner speaks version ${PROTOCOL_VERSION}, the implementation answered version ${JSON.stringify(v)}`);
    }
    let resp: StartResponse;
    try {
      // The start answer defines the profile, so it is always validated.
      resp = validateMessage<StartResponse>('start-response', msg, 'start answer');
    } catch (e) {
      return fail((e as Error).message);
    }
    const profile = profileFromStart(resp, this.command);
    if (this.profile && JSON.stringify(this.profile) !== JSON.stringify(profile)) {
      return fail(`after a restart the implementation announced a different profile (${profile.name}, was ${this.profile.name})`);
    }
    this.profile = profile;
  }

  /** Kill the process; the next walk starts a new one. */
  private restart(): void {
    this.proc?.kill();
    this.proc = undefined;
  }

  /** Walks go one at a time over the single pipe, whoever calls. */
  private queue: Promise<unknown> = Promise.resolve();

  walk(snapshot: Snapshot, loaded: LoadedSnapshot): Promise<ExternalWalkRecord> {
    const run = this.queue.then(() => this.walkNow(snapshot, loaded));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async walkNow(snapshot: Snapshot, loaded: LoadedSnapshot): Promise<ExternalWalkRecord> {
    if (!this.proc || this.proc.exited !== undefined) {
      try {
        await this.start();
      } catch (e) {
        this.restart();
        return { error: `could not restart the implementation: ${(e as Error).message}` };
      }
    }
    const p = this.proc!;
    const seq = ++this.seq;
    const req: WalkRequest = { cmd: 'walk', seq, snapshot };
    if (this.validate) {
      try {
        validateMessage('walk', req, `walk request seq ${seq} (${snapshot.id})`);
      } catch (e) {
        return { error: `runner bug: ${(e as Error).message}` };
      }
    }
    const stray = p.drain();
    if (stray.length) {
      this.restart();
      return { error: withStderr(`implementation wrote unasked output before walk seq ${seq}: ${short(stray[0]!)}`, p) };
    }
    p.send(req);
    const ev = await p.next(this.timeoutMs);
    const broken = (why: string): ExternalWalkRecord => {
      this.restart();
      return { error: withStderr(why, p) };
    };
    if ('timeout' in ev) {
      this.restart();
      return { runaway: `no answer within ${this.timeoutMs} ms (walk seq ${seq}); the implementation was killed and will be restarted` };
    }
    if ('exit' in ev) return broken(`implementation ${ev.exit} during walk seq ${seq}`);
    let msg: unknown;
    try {
      msg = JSON.parse(ev.line);
    } catch {
      return broken(`answer to walk seq ${seq} is not JSON: ${short(ev.line)}`);
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return broken(`answer to walk seq ${seq} is not a JSON object: ${short(ev.line)}`);
    const m = msg as Record<string, unknown>;
    if (m.seq !== seq) return broken(`answer has seq ${JSON.stringify(m.seq)}, expected ${seq}: ${short(ev.line)}`);
    if (this.validate) {
      try {
        validateMessage('walk-response', msg, `answer to walk seq ${seq}`);
      } catch (e) {
        return { error: withStderr(`protocol violation: ${(e as SchemaError).message}`, p) };
      }
    }
    return toRecord(m as unknown as WalkResponse, loaded, seq, p);
  }

  async close(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p) await p.stop(2000);
  }
}

const HEX = /^0x[0-9a-fA-F]{1,16}$/;

/** Turn a (structurally checked) answer into a WalkRecord. */
function toRecord(m: WalkResponse, loaded: LoadedSnapshot, seq: number, p: PluginProcess): ExternalWalkRecord {
  if ('skipped' in m && m.skipped === true) {
    const reason = typeof m.reason === 'string' ? m.reason : '(no reason given)';
    return { skipped: reason, error: `skipped by implementation: ${reason}` };
  }
  if ('errored' in m && m.errored === true) {
    return { error: withStderr(`implementation reported an error: ${typeof m.message === 'string' ? m.message : JSON.stringify(m.message)}`, p) };
  }
  const r = m as Partial<{ rc: unknown; trace: unknown; reason: unknown; accesses: unknown }>;
  if (typeof r.rc !== 'number' || !Number.isInteger(r.rc)) return { error: withStderr(`answer to walk seq ${seq} has no integer rc`, p) };
  if (!Array.isArray(r.trace) || !r.trace.every((a) => typeof a === 'string' && HEX.test(a))) {
    return { error: withStderr(`answer to walk seq ${seq}: trace must be an array of hex strings ("0x…")`, p) };
  }
  // Any 64-bit value is a valid entry: a kernel address comes back canonical; anything else (a
  // failed walk's corrupt value, a spurious entry) is kept exactly and never maps (src/machine/addr.ts).
  const trace = (r.trace as string[]).map((a) => unhex(a));
  const rec: ExternalWalkRecord = {
    result: { rc: r.rc, trace, ...(typeof r.reason === 'string' ? { reason: r.reason } : {}) },
  };
  if (Array.isArray(r.accesses)) {
    const acc = r.accesses as ({ addr?: unknown; size?: unknown } | null)[];
    const ok = (a: { addr?: unknown; size?: unknown } | null): a is { addr: string; size: number } =>
      typeof a === 'object' && a !== null && typeof a.addr === 'string' && HEX.test(a.addr) && Number.isInteger(a.size) && (a.size as number) >= 1;
    if (!acc.every(ok)) {
      return { error: `answer to walk seq ${seq}: accesses must be [{"addr":"0x…","size":n}]` };
    }
    rec.accesses = (acc as { addr: string; size: number }[]).map((a) => {
      const addr = unhex(a.addr);
      const size = a.size;
      const reg = loaded.mem.find(addr, size);
      return { addr, size, write: false, region: reg ? reg.name : null };
    });
  }
  return rec;
}

/**
 * Start an external unwinder (a shell command line) and do the protocol handshake.
 * The returned Walker's profile comes from the implementation's start answer.
 */
export async function startExternalWalker(command: string, opts: ExternalWalkerOptions = {}): Promise<ExternalWalker> {
  const w = new ExternalWalker(command, opts);
  await w.start();
  return w;
}
