/**
 * gcc's errors for a kernel file built against the shim, turned into "missing definition X,
 * expected in header H": the header the kernel declares it in, which the shim fakes.
 */
import type { Arch } from '../snapshot/types';

export interface MissingDefinition {
  name: string;
  kind: 'identifier' | 'function' | 'type' | 'member' | 'header';
  /** The shim header that should provide it (a kernel include path such as linux/sched.h). */
  header: string;
  hint: string;
  /** file:line of the first use. */
  where?: string;
}

/** Kernel identifiers an unwinder may use, by the header the kernel declares them in. */
const HEADER_OF: Record<string, string> = {
  current: 'asm/current.h', get_current: 'asm/current.h', in_hardirq: 'linux/preempt.h', in_irq: 'linux/preempt.h', in_interrupt: 'linux/preempt.h',
  task_struct: 'linux/sched.h', preemptible: 'linux/preempt.h', in_nmi: 'linux/preempt.h', in_task: 'linux/preempt.h',
  task_stack_page: 'linux/sched/task_stack.h', try_get_task_stack: 'linux/sched/task_stack.h', put_task_stack: 'linux/sched/task_stack.h',
  task_pt_regs: 'asm/processor.h', thread_saved_pc: 'asm/processor.h', thread_saved_fp: 'asm/processor.h', thread_saved_sp: 'asm/processor.h',
  THREAD_SIZE: 'asm/memory.h', IRQ_STACK_SIZE: 'asm/memory.h', OVERFLOW_STACK_SIZE: 'asm/memory.h', SDEI_STACK_SIZE: 'asm/sdei.h',
  pt_regs: 'asm/ptrace.h', user_mode: 'asm/ptrace.h', compat_user_mode: 'asm/ptrace.h', interrupts_enabled: 'asm/ptrace.h',
  READ_ONCE: 'asm-generic/rwonce.h', READ_ONCE_NOCHECK: 'asm-generic/rwonce.h', WRITE_ONCE: 'asm-generic/rwonce.h',
  WARN_ON: 'asm-generic/bug.h', WARN_ON_ONCE: 'asm-generic/bug.h', WARN: 'asm-generic/bug.h', BUG: 'asm-generic/bug.h', BUG_ON: 'asm-generic/bug.h',
  container_of: 'linux/container_of.h', ARRAY_SIZE: 'linux/array_size.h', offsetof: 'linux/stddef.h',
  EINVAL: 'uapi/asm-generic/errno-base.h', ENOENT: 'uapi/asm-generic/errno-base.h', EFAULT: 'uapi/asm-generic/errno-base.h',
  printk: 'linux/printk.h', pr_debug: 'linux/printk.h', pr_warn: 'linux/printk.h', pr_err: 'linux/printk.h', printk_deferred_once: 'linux/printk.h',
  DECLARE_PER_CPU: 'linux/percpu-defs.h', DEFINE_PER_CPU: 'linux/percpu-defs.h', raw_cpu_read: 'linux/percpu-defs.h', raw_cpu_ptr: 'linux/percpu-defs.h',
  this_cpu_read: 'linux/percpu-defs.h', this_cpu_ptr: 'linux/percpu-defs.h', per_cpu: 'linux/percpu-defs.h', per_cpu_ptr: 'linux/percpu-defs.h',
  smp_processor_id: 'linux/smp.h',
  return_to_handler: 'linux/ftrace.h', ftrace_graph_ret_addr: 'linux/ftrace.h', ftrace_ret_stack: 'linux/ftrace.h',
  is_kretprobe_trampoline: 'linux/kprobes.h', kretprobe_find_ret_addr: 'linux/kprobes.h', kretprobe_instance: 'linux/kprobes.h',
  is_rethook_trampoline: 'linux/rethook.h', rethook_find_ret_addr: 'linux/rethook.h',
  llist_node: 'linux/llist.h', llist_head: 'linux/llist.h', list_head: 'linux/types.h',
  stack_trace_consume_fn: 'linux/stacktrace.h',
  ptrauth_strip_kernel_insn_pac: 'asm/pointer_auth.h', ptrauth_strip_user_insn_pac: 'asm/pointer_auth.h',
  current_in_efi: 'asm/efi.h', efi_rt_stack_top: 'asm/efi.h',
  irq_stack_ptr: 'asm/irq.h', overflow_stack: 'asm/stacktrace.h', sdei_stack_normal_ptr: 'asm/sdei.h', sdei_stack_critical_ptr: 'asm/sdei.h',
  frame_record: 'asm/stacktrace/frame.h', frame_record_meta: 'asm/stacktrace/frame.h',
  __kernel_text_address: 'linux/kallsyms.h', kernel_text_address: 'linux/kallsyms.h', core_kernel_text: 'linux/kallsyms.h',
  noinstr: 'linux/compiler_types.h', noinline: 'linux/compiler_attributes.h', __always_inline: 'linux/compiler_types.h', notrace: 'linux/compiler_types.h',
  likely: 'linux/compiler.h', unlikely: 'linux/compiler.h', barrier: 'linux/compiler.h',
  access_ok: 'asm/uaccess.h', __copy_from_user_inatomic: 'linux/uaccess.h', pagefault_disable: 'linux/uaccess.h', pagefault_enable: 'linux/uaccess.h',
  u8: 'linux/types.h', u16: 'linux/types.h', u32: 'linux/types.h', u64: 'linux/types.h', s32: 'linux/types.h', bool: 'linux/types.h', compat_uptr_t: 'linux/compat.h',
  // x86_64 (unwind_orc.c, stacktrace.c, dumpstack_64.c)
  orc_entry: 'asm/orc_types.h', ORC_REG_SP: 'asm/orc_types.h', ORC_REG_BP: 'asm/orc_types.h', ORC_TYPE_CALL: 'asm/orc_types.h',
  LOOKUP_BLOCK_ORDER: 'asm/orc_lookup.h', LOOKUP_BLOCK_SIZE: 'asm/orc_lookup.h', LOOKUP_START_IP: 'asm/orc_lookup.h', LOOKUP_STOP_IP: 'asm/orc_lookup.h',
  orc_lookup: 'asm/orc_lookup.h', orc_lookup_end: 'asm/orc_lookup.h',
  __start_orc_unwind_ip: 'asm/sections.h', __stop_orc_unwind_ip: 'asm/sections.h', __start_orc_unwind: 'asm/sections.h', __stop_orc_unwind: 'asm/sections.h',
  _stext: 'asm/sections.h', _etext: 'asm/sections.h', _sinittext: 'asm/sections.h', _einittext: 'asm/sections.h',
  unwind_state: 'asm/unwind.h', unwind_start: 'asm/unwind.h', __unwind_start: 'asm/unwind.h', unwind_done: 'asm/unwind.h', unwind_error: 'asm/unwind.h',
  stack_info: 'asm/stacktrace.h', stack_type: 'asm/stacktrace.h', get_stack_info: 'asm/stacktrace.h', on_stack: 'asm/stacktrace.h', get_stack_pointer: 'asm/stacktrace.h',
  inactive_task_frame: 'asm/switch_to.h', ret_from_fork: 'asm/switch_to.h', ret_from_fork_asm: 'asm/switch_to.h',
  cea_exception_stacks: 'asm/cpu_entry_area.h', cpu_entry_area: 'asm/cpu_entry_area.h', get_cpu_entry_area: 'asm/cpu_entry_area.h',
  hardirq_stack_ptr: 'asm/irq_stack.h', pcpu_hot: 'asm/current.h', IRQ_STACK_SIZE_X86: 'asm/page_64_types.h', EXCEPTION_STKSZ: 'asm/page_64_types.h',
  module: 'linux/module.h', __module_address: 'linux/module.h', mod_arch_specific: 'asm/module.h',
  ftrace_graph_ret_addr_x86: 'linux/ftrace.h', kernel_text_address_x86: 'linux/kallsyms.h',
  sort: 'linux/sort.h', static_call_key: 'linux/static_call.h', is_bpf_text_address: 'linux/filter.h', bpf_has_frame_pointer: 'linux/filter.h',
};

/** Fallback by prefix when the table does not know a name. */
const PREFIXES: [RegExp, string][] = [
  [/^CONFIG_/, 'config.h (kernel-shim/<arch>/config.h plays .config)'],
  [/^(ftrace|fgraph)_/, 'linux/ftrace.h'],
  [/^(kretprobe|kprobe)_/, 'linux/kprobes.h'],
  [/^rethook_/, 'linux/rethook.h'],
  [/^(raw_cpu|this_cpu|__this_cpu|per_cpu)/, 'linux/percpu-defs.h'],
  [/^(stackinfo_|on_\w+_stack$)/, 'asm/stacktrace.h'],
  [/^orc_/, 'asm/orc_types.h'],
  [/^(task_|thread_)/, 'linux/sched/task_stack.h'],
  [/^(llist_)/, 'linux/llist.h'],
  [/^(pr_|printk)/, 'linux/printk.h'],
  [/^(WARN|BUG)/, 'asm-generic/bug.h'],
  [/^E[A-Z]+$/, 'uapi/asm-generic/errno-base.h'],
];

export function headerFor(name: string): string | undefined {
  return HEADER_OF[name] ?? PREFIXES.find(([re]) => re.test(name))?.[1];
}

/** The shim file a header maps to (generic linux/ headers are shared; asm/ ones are per arch). */
export function shimPathFor(header: string, arch: Arch): string {
  if (header.startsWith('linux/')) return `kernel-shim/include/${header} (one line: #include <shim/kernel.h>; the definition goes in kernel-shim/include/shim/kernel.h)`;
  if (header.startsWith('asm/') || header.startsWith('asm-generic/') || header.startsWith('uapi/'))
    return `kernel-shim/${arch}/include/shim/arch.h or kernel-shim/include/shim/kernel.h (reached from ${header})`;
  return `kernel-shim/${arch}/${header}`;
}

/** Parse gcc's diagnostics into missing definitions, first use first, each name once. */
export function explainGccErrors(stderr: string, arch: Arch): MissingDefinition[] {
  const out = new Map<string, MissingDefinition>();
  const add = (name: string, kind: MissingDefinition['kind'], where: string | undefined, header?: string) => {
    if (out.has(`${kind}:${name}`)) return;
    const h = header ?? headerFor(name) ?? 'the kernel header that declares it (not in the shim\'s table)';
    out.set(`${kind}:${name}`, { name, kind, header: h, hint: `add it to ${shimPathFor(h, arch)}`, ...(where ? { where } : {}) });
  };
  for (const line of stderr.split('\n')) {
    const loc = /^([^:\s]+:\d+)(?::\d+)?:/.exec(line)?.[1];
    let m: RegExpExecArray | null;
    if ((m = /fatal error: ([^:]+): No such file or directory/.exec(line))) {
      out.set(`header:${m[1]}`, { name: m[1]!, kind: 'header', header: m[1]!, hint: `add ${shimPathFor(m[1]!, arch).split(' ')[0]} (one line: #include <shim/kernel.h>)`, ...(loc ? { where: loc } : {}) });
    } else if ((m = /error: ['‘]([^'’]+)['’] undeclared/.exec(line))) add(m[1]!, 'identifier', loc);
    else if ((m = /implicit declaration of function ['‘]([^'’]+)['’]/.exec(line))) add(m[1]!, 'function', loc);
    else if ((m = /error: unknown type name ['‘]([^'’]+)['’]/.exec(line))) add(m[1]!, 'type', loc);
    else if ((m = /(?:invalid use of undefined type|storage size of .* isn't known|has incomplete type).*['‘](?:struct |union |enum )?([^'’\s]+)['’]/.exec(line))) add(m[1]!, 'type', loc);
    else if ((m = /error: ['‘](?:struct |union )?([^'’\s]+)['’] has no member named ['‘]([^'’]+)['’]/.exec(line))) add(`${m[1]}.${m[2]}`, 'member', loc, headerFor(m[1]!));
  }
  return [...out.values()];
}
