/**
 * Send one saved snapshot to an external unwinder and print its answer, to debug a harness without
 * the suite:
 *   node -r ./scripts/ts-register.js src/protocol/replay.ts --unwinder "<cmd>" <snapshot.json>
 * The snapshot file is validated first (errors name the file and the JSON path).
 */
import { Command, InvalidArgumentError } from 'commander';
import { resolve } from 'path';
import { SchemaError, loadValidated } from '../schema/validate';
import { loadSnapshot } from '../snapshot/io';
import type { Snapshot } from '../snapshot/types';
import { ProtocolError, startExternalWalker } from './external-walker';
import { hex } from '../machine/addr';

export async function replay(command: string, file: string, opts: { timeoutMs?: number; json?: boolean }): Promise<number> {
  const snapshot = loadValidated<Snapshot>('snapshot', resolve(file));
  const loaded = loadSnapshot(snapshot, file);
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
      console.log(JSON.stringify({ profile: w.profile, record: wire }, null, 2));
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
