/**
 * x86_64 interpreter speed: simulated instructions per second on a call-heavy loop (every
 * iteration calls a framed function, so the shadow stack sees a call and a return), and scene
 * builds per second for an IRQ sweep (what the features pay for).
 * Standalone: node -r ./scripts/ts-register.js bench/x86_64-interpreter.bench.ts
 */
import { assemble, RBX } from '../src/isa/x86_64/assembler';
import { Cpu } from '../src/isa/x86_64/interpreter';
import { Memory } from '../src/machine/memory';
import { SymbolTable } from '../src/machine/symbols';
import { ShadowStack } from '../src/truth/shadow';
import { kit } from '../src/kernel/x86_64/kit';

const TEXT = 0xffff81000000;
const STACK = 0xc90000000000;
const LOOP = `
SYM_FUNC_START(bench_loop)
\tpushq %rbp
\tmovq %rsp, %rbp
bench_again:
\tcall bench_leaf
\tmovq %rax, 8(%rsp)
\tmovq 8(%rsp), %rcx
\tsubq $1, %rbx
\tjnz bench_again
\tpopq %rbp
\tret
SYM_FUNC_END(bench_loop)
SYM_FUNC_START(bench_leaf)
\tpushq %rbp
\tmovq %rsp, %rbp
\tBODY 3
\tleaq 16(%rsp), %rdx
\tpopq %rbp
\tret
SYM_FUNC_END(bench_leaf)
`;

export async function bench(): Promise<{ name: string; instrPerSec: number; scenesPerSec: number }> {
  const p = assemble([{ region: 'text', base: TEXT, source: LOOP }]);
  const syms = new SymbolTable(p.symbols);
  const mem = new Memory();
  mem.map({ name: 'text', kind: 'kernel-text', base: TEXT, size: 0x1000 });
  mem.map({ name: 'stack', kind: 'task-stack', base: STACK, size: 0x4000 });
  const run = (iterations: number): { steps: number; ms: number } => {
    const cpu = new Cpu(mem, p.byAddr, new ShadowStack(syms), syms);
    cpu.rip = p.labels.get('bench_loop')!;
    cpu.rsp = STACK + 0x3000;
    cpu.push(0xdead); // a return address the shadow does not know: stop at the final ret
    cpu.r[RBX] = iterations;
    const end = p.labels.get('bench_loop')! + p.bySym.get('bench_loop')!.reduce((a, i) => a + i.size, 0) - 1;
    const t0 = process.hrtime.bigint();
    const stop = cpu.run(Number.MAX_SAFE_INTEGER, (c) => c.rip === end);
    if (stop !== 'until') throw new Error(`bench loop stopped: ${stop}`);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { steps: cpu.steps, ms };
  };
  run(20_000); // warm up
  const r = run(400_000);
  const instrPerSec = (r.steps / r.ms) * 1000;

  const t0 = Date.now();
  let scenes = 0;
  for (const _s of kit.sweep({ workload: 'work-chain', exception: 'irq', walk: 'in-handler' })) scenes++;
  const scenesPerSec = (scenes / Math.max(1, Date.now() - t0)) * 1000;
  return { name: 'x86_64 interpreter', instrPerSec, scenesPerSec };
}

if (require.main === module) {
  void bench().then((r) => console.log(`${r.name}: ${(r.instrPerSec / 1e6).toFixed(2)} M instr/s, ${r.scenesPerSec.toFixed(0)} scenes/s (work-chain IRQ sweep)`));
}
