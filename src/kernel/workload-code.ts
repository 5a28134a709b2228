/**
 * A workload's code per region, as the fixed-width arches' image builders take it (arm64, riscv64,
 * loongarch64, s390x without EFI, powerpc64 with its livepatch table): kernel text, and module, BPF JIT and
 * EFI runtime code when the workload has them.
 */
export interface WorkloadCode {
  /** The syscall handler the task calls (undefined for kernel threads). */
  syscall?: string;
  kthread?: boolean;
  /** The thread function kthread() calls (default worker_thread; generated kernel threads name theirs). */
  kthreadFn?: string;
  kernel: string;
  module?: string;
  bpf?: string;
  efi?: string;
}
