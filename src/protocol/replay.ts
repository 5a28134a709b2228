/**
 * Send one saved snapshot to an external unwinder and print its answer, to debug a harness without
 * the suite:
 *   node -r ./scripts/ts-register.js src/protocol/replay.ts --unwinder "<cmd>" <snapshot.json>
 * The snapshot file is validated first (errors name the file and the JSON path).
 */
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, readFileSync } from 'fs';
import { resolve } from 'path';
import { judge } from '../oracle/oracle';
import { pictureText } from '../report/picture';
import { toWalkReport } from '../report/results';
import type { GroundTruth } from '../truth/shadow';
import { SchemaError, loadValidated } from '../schema/validate';
import { loadSnapshot } from '../snapshot/io';
import type { Snapshot } from '../snapshot/types';
import { ProtocolError, startExternalWalker } from './external-walker';
import { hex, unhex } from '../machine/addr';

/** `<id>-n.truth.json` beside a snapshot saved in a report (src/conformance/session.ts writes it). */
export interface TruthFile {
  kind: 'reliable-stacktrace ground truth';
  version: 1;
  profile: string;
  scenario: string;
  requirement?: string;
  level?: string;
  moment: string;
  truth: { frames: { fn: string; addr: string; why: 'pc' | 'call' | 'exception'; omissible?: string }[]; redirected?: { index: number; addr: string; abandons?: boolean }[] };
  judgement: { outcome: string; explanation: string; rc: number | null };
  rule?: string;
}

/** The ground truth kept beside a snapshot from a report, if there is one. */
export function loadTruth(snapshotFile: string): TruthFile | undefined {
  const f = resolve(snapshotFile).replace(/(\.truth)?\.json$/, '.truth.json');
  if (!existsSync(f)) return undefined;
  const t = JSON.parse(readFileSync(f, 'utf8')) as TruthFile;
  return t && t.kind === 'reliable-stacktrace ground truth' ? t : undefined;
}

const groundTruth = (t: TruthFile): GroundTruth => ({
  frames: t.truth.frames.map((f) => ({ ...f, addr: unhex(f.addr) })),
  ...(t.truth.redirected ? { redirected: t.truth.redirected.map((r) => ({ index: r.index, addr: unhex(r.addr), ...(r.abandons ? { abandons: true } : {}) })) } : {}),
});

export async function replay(command: string, file: string, opts: { timeoutMs?: number; json?: boolean }): Promise<number> {
  const snapshot = loadValidated<Snapshot>('snapshot', resolve(file));
  const loaded = loadSnapshot(snapshot, file);
  const truth = loadTruth(file);
  const w = await startExternalWalker(command, { validate: true, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
  try {
    const rec = await w.walk(snapshot, loaded);
    if (opts.json) {
      // Addresses as the wire has them: full 64-bit hex.
      const wire = {
        ...rec,
        ...(rec.result ? { result: { ...rec.result, trace: rec.result.trace.map(hex) } } : {}),
        ...(rec.accesses ? { accesses: rec.accesses.map((a) => ({ ...a, addr: hex(a.addr) })) } : {}),
      };
      const judged = truth ? toWalkReport(snapshot.id, truth.moment, judge(loaded, groundTruth(truth), rec)) : undefined;
      console.log(JSON.stringify({ profile: w.profile, record: wire, ...(truth && judged ? { truth: truth.truth, recorded: truth.judgement, judgement: { outcome: judged.outcome, explanation: judged.explanation, missing: judged.missing, extra: judged.extra, inverted: judged.inverted } } : {}) }, null, 2));
    } else {
      console.log(`implementation: ${w.profile.name} (${w.profile.arch} ${w.profile.unwinder})`);
      console.log(`snapshot:       ${snapshot.id} (task ${snapshot.task.comm}, ${snapshot.task.state})`);
      if (rec.result) {
        const r = rec.result;
        console.log(`rc:             ${r.rc}${r.rc === 0 ? ' (reliable)' : ' (unreliable)'}${r.reason ? `: ${r.reason}` : ''}`);
        console.log('trace:');
        for (const a of r.trace) console.log(`  ${hex(a).padEnd(18)}  ${loaded.syms.describe(a)}`);
        if (rec.accesses) console.log(`reads:          ${rec.accesses.length} reported, ${rec.accesses.filter((x) => x.region === null).length} unmapped`);
      } else if (rec.runaway !== undefined) console.log(`runaway: ${rec.runaway}`);
      else console.log(`errored: ${rec.error}`);
      if (truth) {
        // The snapshot came from a report: judge this answer against the ground truth kept beside it.
        const j = toWalkReport(snapshot.id, truth.moment, judge(loaded, groundTruth(truth), rec));
        console.log('');
        console.log(`ground truth:   from the report (${truth.profile}, scenario ${truth.scenario}${truth.requirement ? `, ${(truth.level ?? '').toUpperCase()} ${truth.requirement}` : ''})`);
        console.log(`moment:         ${truth.moment}`);
        console.log('');
        console.log(pictureText(j));
        console.log('');
        console.log(`judgement:      ${j.outcome} — ${j.explanation}`);
        console.log(`in the report:  ${truth.judgement.outcome} — ${truth.judgement.explanation}${truth.rule ? `\nrule broken:    ${truth.rule}` : ''}`);
      } else console.log('\n(no <snapshot>.truth.json beside the snapshot: the true chain and the judgement are only known for snapshots saved in a report)');
    }
    return rec.result ? 0 : 1;
  } finally {
    await w.close();
  }
}

/** The longest delay a Node timer keeps (2^31-1 ms); a larger one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** --timeout: a whole number of milliseconds in 1 … 2^31-1, or a usage error (exit 2). */
export function timeoutMs(v: string): number {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n <= 0 || n > MAX_TIMER_MS) throw new InvalidArgumentError(`expected a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`);
  return n;
}

if (require.main === module) {
  const program = new Command()
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
    .name('replay')
    .description('send one saved snapshot to an external unwinder (plugin protocol) and print its answer')
    .requiredOption('--unwinder <command>', 'command line that starts the implementation')
    .option('--timeout <ms>', 'answer timeout in ms (1 to 2^31-1)', timeoutMs)
    .option('--json', 'print the walk record as JSON')
    .argument('<snapshot.json>', 'a snapshot file (schemas/snapshot.schema.json)')
    .parse();
  const o = program.opts<{ unwinder: string; timeout?: number; json?: boolean }>();
  replay(o.unwinder, program.args[0]!, { ...(o.timeout ? { timeoutMs: o.timeout } : {}), ...(o.json ? { json: true } : {}) }).then(
    (code) => process.exit(code),
    (e: Error) => {
      console.error(e instanceof SchemaError || e instanceof ProtocolError ? e.message : (e.stack ?? String(e)));
      process.exit(2);
    },
  );
}
