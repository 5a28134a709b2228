/** arm64 interpreter throughput: a call-heavy loop (prologue/epilogue, BL/RET through the shadow stack). */
import { assemble } from '../src/isa/arm64/assembler';
import { Arm64Cpu } from '../src/isa/arm64/interpreter';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { ShadowStack } from '../src/truth/shadow';

const TEXT = 0x800080010000;
const STACK = 0x800080080000;

export async function bench(): Promise<{ name: string; instrPerSec?: number; scenesPerSec?: number }[]> {
  return [await interpreter(), scenes()];
}

/** Scene builds per second: a sweep runs the workload once per boundary, so this bounds sweep cost. */
function scenes(): { name: string; scenesPerSec: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { kit } = require('../src/kernel/arm64/kit') as typeof import('../src/kernel/arm64/kit');
  for (const w of ['syscall-sleep', 'work-chain'] as const) [...kit.sweep({ workload: w, exception: 'nmi', walk: 'in-handler' })]; // warm-up
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (const w of ['syscall-sleep', 'work-chain'] as const) for (const _ of kit.sweep({ workload: w, exception: 'nmi', walk: 'in-handler' })) n++;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { name: 'arm64 scene builds (NMI sweeps)', scenesPerSec: Math.round(n / s) };
}

async function interpreter(): Promise<{ name: string; instrPerSec: number }> {
  const iterations = 200_000;
  const prog = assemble([
    {
      region: 'kernel-text',
      base: TEXT,
      text: `
SYM_FUNC_START(bench_loop)
  MOV X19, #${iterations}
.Lloop:
  BL <leaf_fn>
  SUB X19, X19, #1
  CBNZ X19, .Lloop
  CPU_SWITCH
SYM_FUNC_END(bench_loop)
SYM_FUNC_START(leaf_fn)
  STP X29, X30, [SP, -16]!
  MOV X29, SP
  STR X19, [SP, #-8]
  BODY 2
  LDR X0, [SP, #-8]
  LDP X29, X30, [SP], #16
  RET
SYM_FUNC_END(leaf_fn)`,
    },
  ]);
  const mem = new Memory();
  mem.map({ name: 'kernel-text', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'stack', kind: 'task-stack', base: STACK, size: 0x4000 });
  const shadow = new ShadowStack(new SymbolTable(prog.symbols));
  const cpu = new Arm64Cpu(prog, mem, shadow, { pseudo: (_c, i) => (i.sys === 'CPU_SWITCH' ? 'blocked' : undefined) });
  let best = 0;
  for (let round = 0; round < 3; round++) {
    cpu.pc = TEXT;
    cpu.sp = STACK + 0x4000;
    shadow.entries = [];
    const before = cpu.steps;
    const t0 = process.hrtime.bigint();
    const stop = cpu.run(100_000_000);
    const ns = Number(process.hrtime.bigint() - t0);
    if (stop !== 'blocked') throw new Error(`bench loop stopped: ${stop}`);
    best = Math.max(best, ((cpu.steps - before) * 1e9) / ns);
  }
  return { name: 'arm64 interpreter (instructions/s)', instrPerSec: Math.round(best) };
}

if (require.main === module) {
  void bench().then((rs) => {
    for (const r of rs) console.log(`${r.name}: ${(r.instrPerSec ?? r.scenesPerSec)!.toLocaleString('en')}`);
  });
}
