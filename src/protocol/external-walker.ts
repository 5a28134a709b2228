/**
 * Runner side of the plugin protocol: a Walker backed by an external process that speaks NDJSON
 * on stdin/stdout (see messages.ts). One long-lived process per run; it is restarted when it dies,
 * hangs or answers out of turn. Every failure becomes a WalkRecord the oracle can judge
 * (errored / runaway) with the reason and the tail of the process's stderr; the run goes on.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'child_process';
import type { WalkRecord } from '../oracle/oracle';
import { SchemaError, assertValid } from '../schema/validate';
import { sparseSnapshot, unhex, type LoadedSnapshot } from '../snapshot/io';
import type { Snapshot } from '../snapshot/types';
import type { Profile } from '../unwinders/types';
import type { Walker } from '../unwinders/walker';
import {
  PROTOCOL_VERSION,
  EXTENSIONS,
  validateMessage,
  type Extension,
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
  /** Most restarts in one run (default LIMITS.restartsPerRun); then the remaining walks are errored with the reason. */
  maxRestarts?: number;
  /** Most restarts in a row with no good answer between them (default LIMITS.consecutiveRestarts). */
  maxConsecutiveRestarts?: number;
  /** First back-off before a restart, doubled on each restart in a row, capped at LIMITS.restartBackoffMaxMs (default LIMITS.restartBackoffMs). */
  restartBackoffMs?: number;
  /** Protocol extensions offered in start (default: every one the runner knows, EXTENSIONS). */
  extensions?: readonly Extension[];
}

/**
 * What one answer and one run may hold (docs/maintainers.md "Limits", schemas/protocol/walk-response.schema.json).
 * Going over one makes that walk `errored` with the reason; the run goes on.
 */
export const LIMITS = {
  /** Entries in `trace`. */
  traceEntries: 1024,
  /** Entries in `accesses`. */
  accesses: 4096,
  /** Characters in `reason` (rc, skipped) and `message` (errored). */
  reasonChars: 1024,
  /** Bytes in one answer line (the whole answer, newline excluded); a longer line is dropped unread and the process restarted. */
  lineBytes: 1 << 20,
  /** Bytes the implementation may write on stdout while one walk is outstanding (the answer and anything before it). */
  answerBytes: 2 << 20,
  /** Restarts in one run (crash, hang, garbage, an over-limit line); then every remaining walk is errored. */
  restartsPerRun: 100,
  /** Restarts in a row without a single good answer between them; then every remaining walk is errored. */
  consecutiveRestarts: 5,
  /** Back-off before a restart: this, doubled for each restart in a row, at most restartBackoffMaxMs. */
  restartBackoffMs: 100,
  restartBackoffMaxMs: 5000,
} as const;

/** A WalkRecord from an external walker. `skipped` is set (with `error`) when the implementation declined the walk. */
export interface ExternalWalkRecord extends WalkRecord {
  skipped?: string;
}

/** Failure of the start handshake or of the implementation as a whole (not of one walk). */
export class ProtocolError extends Error {}

const STDERR_KEEP = 4096;
/** After a plugin's exit, how long its stderr may take to reach its end before the exit is reported. */
const STDERR_DRAIN_MS = 250;

type Event = { line: string } | { timeout: true } | { exit: string } | { overflow: string };

const NL = 0x0a;

/** One running implementation process and its line-oriented stdout. */
class PluginProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** The unfinished line: chunks kept as they came (never re-scanned), and their total length. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Bytes received on stdout since the last resetCount() (one walk's answer). */
  private received = 0;
  private overflow: string | undefined;
  private readonly lines: string[] = [];
  private waiter: ((e: Event) => void) | undefined;
  private stderr = '';
  exited: string | undefined;
  private groupKilled = false;

  constructor(
    command: string,
    cwd: string | undefined,
    private readonly limits: { lineBytes: number; answerBytes: number } = LIMITS,
  ) {
    // A process group of its own, so a hung implementation and any children die together.
    this.child = spawn(command, { shell: true, cwd, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d: Buffer) => this.onData(d));
    this.child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-STDERR_KEEP);
    });
    this.child.stdin.on('error', () => {}); // EPIPE when it died: reported through 'exit'
    this.child.on('error', (e) => this.markExited(`could not be started: ${e.message}`));
    this.child.on('exit', (code, signal) => {
      const why = signal ? `killed by ${signal}` : `exited with code ${code}`;
      // 'exit' may come before the last of stderr is read (a shell's "not found"): wait for its end, briefly
      // (a child the leader left behind may hold the pipe open).
      if (this.child.stderr.readableEnded) return this.markExited(why);
      const t = setTimeout(() => this.markExited(why), STDERR_DRAIN_MS);
      this.child.stderr.once('end', () => {
        clearTimeout(t);
        this.markExited(why);
      });
    });
  }

  /** Split stdout into lines, looking for newlines in the new chunk only; bounded by the line and answer limits. */
  private onData(d: Buffer): void {
    if (this.overflow !== undefined) return; // dropped unread until the process is restarted
    this.received += d.length;
    if (this.received > this.limits.answerBytes) {
      this.tooMuch(`wrote more than ${this.limits.answerBytes} bytes on stdout for one walk (the limit of one answer)`);
      return;
    }
    let from = 0;
    let i: number;
    while ((i = d.indexOf(NL, from)) >= 0) {
      const piece = d.subarray(from, i);
      if (this.partialBytes + piece.length > this.limits.lineBytes) {
        this.tooMuch(`wrote a line longer than ${this.limits.lineBytes} bytes (the limit of one answer line)`);
        return;
      }
      const line = (this.partial.length ? Buffer.concat([...this.partial, piece]) : piece).toString('utf8').replace(/\r$/, '');
      this.partial = [];
      this.partialBytes = 0;
      from = i + 1;
      if (line.trim() !== '') this.lines.push(line);
    }
    if (from < d.length) {
      const rest = d.subarray(from);
      if (this.partialBytes + rest.length > this.limits.lineBytes) {
        this.tooMuch(`wrote a line longer than ${this.limits.lineBytes} bytes (the limit of one answer line)`);
        return;
      }
      this.partial.push(Buffer.from(rest));
      this.partialBytes += rest.length;
    }
    this.wake();
  }

  private tooMuch(why: string): void {
    this.overflow = why;
    this.partial = [];
    this.partialBytes = 0;
    this.lines.length = 0;
    this.wake();
  }

  /** Start counting one walk's bytes. */
  resetCount(): void {
    this.received = 0;
  }

  private markExited(why: string): void {
    if (this.exited === undefined) this.exited = why;
    // Stays in `live` until its group is killed: the leader's exit says nothing of its children.
    // Let pending stdout drain before waking a waiter with the exit.
    setImmediate(() => this.wake());
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.overflow !== undefined) {
      this.waiter = undefined;
      w({ overflow: this.overflow });
    } else if (this.lines.length) {
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

  /** Kill the whole process group, whatever the leader did (it may have exited and left children behind). */
  kill(): void {
    if (this.groupKilled) return;
    this.groupKilled = true;
    live.delete(this);
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      if (this.exited === undefined) {
        try {
          this.child.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    this.child.stdout.destroy();
    this.child.stderr.destroy();
  }

  async stop(graceMs: number): Promise<void> {
    if (this.exited === undefined) {
      this.send({ cmd: 'stop' });
      this.child.stdin.end();
      const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
      const t = new Promise<'late'>((r) => setTimeout(() => r('late'), graceMs).unref());
      await Promise.race([gone, t]);
    }
    // The leader is gone (or late): its group goes too.
    this.kill();
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
  /** Restarts so far in this run, and in a row since the last good answer. */
  restarts = 0;
  private inARow = 0;
  /** Set when the walker gave up (restart limits, another profile announced): every remaining walk is errored with it. */
  gaveUp: string | undefined;
  private proc: PluginProcess | undefined;
  private seq = 0;
  /** The implementation accepted the sparse-memory extension: regions go as their non-zero chunks. */
  sparse = false;
  private readonly timeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly validate: boolean;
  private readonly maxRestarts: number;
  private readonly maxInARow: number;
  private readonly backoffMs: number;

  constructor(
    readonly command: string,
    private readonly opts: ExternalWalkerOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? opts.walkTimeoutMs ?? DEFAULT_TIMEOUT;
    this.startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT;
    this.validate = opts.validate ?? opts.validateProtocol ?? false;
    this.maxRestarts = opts.maxRestarts ?? LIMITS.restartsPerRun;
    this.maxInARow = opts.maxConsecutiveRestarts ?? LIMITS.consecutiveRestarts;
    this.backoffMs = opts.restartBackoffMs ?? LIMITS.restartBackoffMs;
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
    const req = { cmd: 'start' as const, version: PROTOCOL_VERSION, extensions: [...(this.opts.extensions ?? EXTENSIONS)] as string[] };
    if (this.validate) validateMessage('start', req, 'start request');
    p.resetCount();
    p.send(req);
    const ev = await p.next(this.startTimeoutMs);
    if ('timeout' in ev) return fail(`no answer to start within ${this.startTimeoutMs} ms`);
    if ('exit' in ev) return fail(`${ev.exit} before answering start`);
    if ('overflow' in ev) return fail(`${ev.overflow} before answering start`);
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
    const extra = (resp.extensions ?? []).filter((x) => !req.extensions.includes(x));
    if (extra.length) return fail(`start answer accepts protocol extensions the runner did not offer: ${extra.join(', ')}`);
    this.sparse = resp.extensions?.includes('sparse-memory') ?? false;
    const profile = profileFromStart(resp, this.command);
    if (this.profile) {
      const changed = profileChanges(this.profile, profile);
      if (changed.length) {
        // Walks judged against one profile cannot go on against another: the rest of the run is errored.
        this.gaveUp = `after a restart the implementation announced another profile (${changed.join('; ')}); the remaining walks are not sent`;
        return fail(this.gaveUp);
      }
    }
    this.profile = profile;
  }

  /** Kill the process (its whole group); the next walk starts a new one. */
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

  /** Start a new process for the next walk, within the restart limits and after the back-off. */
  private async restartForWalk(): Promise<string | undefined> {
    if (this.restarts >= this.maxRestarts) {
      this.gaveUp ??= `restart limit: the implementation was restarted ${this.restarts} times in this run (at most ${this.maxRestarts}); the remaining walks are not sent`;
      return this.gaveUp;
    }
    if (this.inARow >= this.maxInARow) {
      this.gaveUp ??= `restart limit: the implementation was restarted ${this.inARow} times in a row without a good answer (at most ${this.maxInARow}); the remaining walks are not sent`;
      return this.gaveUp;
    }
    const first = this.starts === 0;
    if (!first) {
      const delay = Math.min(this.backoffMs * 2 ** this.inARow, LIMITS.restartBackoffMaxMs);
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      this.restarts++;
      this.inARow++;
    }
    try {
      await this.start();
      return undefined;
    } catch (e) {
      this.restart();
      return `could not restart the implementation: ${(e as Error).message}`;
    }
  }

  private async walkNow(snapshot: Snapshot, loaded: LoadedSnapshot): Promise<ExternalWalkRecord> {
    if (this.gaveUp !== undefined) return { error: this.gaveUp };
    if (!this.proc || this.proc.exited !== undefined) {
      const why = await this.restartForWalk();
      if (why !== undefined) return { error: why };
    }
    const p = this.proc!;
    const seq = ++this.seq;
    const req: WalkRequest = { cmd: 'walk', seq, snapshot: this.sparse ? sparseSnapshot(snapshot, loaded) : snapshot };
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
    p.resetCount();
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
    if ('overflow' in ev) return broken(`limit exceeded: the implementation ${ev.overflow} during walk seq ${seq}; it was killed and will be restarted`);
    let msg: unknown;
    try {
      msg = JSON.parse(ev.line);
    } catch {
      return broken(`answer to walk seq ${seq} is not JSON: ${short(ev.line)}`);
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return broken(`answer to walk seq ${seq} is not a JSON object: ${short(ev.line)}`);
    const m = msg as Record<string, unknown>;
    if (m.seq !== seq) return broken(`answer has seq ${JSON.stringify(m.seq)}, expected ${seq}: ${short(ev.line)}`);
    // A well-formed answer in turn: the process works, whatever the walk says.
    this.inARow = 0;
    const over = overLimit(m, seq);
    if (over) return { error: over };
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

/** What differs between the profile announced first and after a restart (name, arch, unwinder, each claim, options). */
function profileChanges(was: Profile, now: Profile): string[] {
  const out: string[] = [];
  for (const k of ['name', 'arch', 'unwinder', 'description'] as const) {
    if (was[k] !== now[k]) out.push(`${k} ${JSON.stringify(short(String(now[k]), 80))}, was ${JSON.stringify(short(String(was[k]), 80))}`);
  }
  for (const k of new Set([...Object.keys(was.claims), ...Object.keys(now.claims)])) {
    const a = (was.claims as unknown as Record<string, unknown>)[k];
    const b = (now.claims as unknown as Record<string, unknown>)[k];
    if (a !== b) out.push(`claim ${k} ${JSON.stringify(b)}, was ${JSON.stringify(a)}`);
  }
  if (JSON.stringify(was.options ?? {}) !== JSON.stringify(now.options ?? {})) out.push('options changed');
  return out;
}

/** The answer's sizes against LIMITS: the reason if one is exceeded (the walk is errored), else undefined. */
function overLimit(m: Record<string, unknown>, seq: number): string | undefined {
  const lim = (what: string, n: number, max: number, unit: string) =>
    `limit exceeded: the answer to walk seq ${seq} has ${what} of ${n} ${unit}, at most ${max} (docs/maintainers.md, Limits)`;
  if (Array.isArray(m.trace) && m.trace.length > LIMITS.traceEntries) return lim('a trace', m.trace.length, LIMITS.traceEntries, 'entries');
  if (Array.isArray(m.accesses) && m.accesses.length > LIMITS.accesses) return lim('accesses', m.accesses.length, LIMITS.accesses, 'entries');
  for (const k of ['reason', 'message'] as const) {
    const v = m[k];
    if (typeof v === 'string' && v.length > LIMITS.reasonChars) return lim(`a ${k}`, v.length, LIMITS.reasonChars, 'characters');
  }
  return undefined;
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
