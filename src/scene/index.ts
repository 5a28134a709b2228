/** The arch kits, by arch. Kits are loaded on first use. */
import type { Arch } from '../snapshot/types';
import type { ArchKit } from './types';

const kits = new Map<Arch, ArchKit>();

export function kitFor(arch: Arch): ArchKit {
  let k = kits.get(arch);
  if (!k) {
    k = arch === 'arm64' ? (require('../kernel/arm64/kit') as { kit: ArchKit }).kit : (require('../kernel/x86_64/kit') as { kit: ArchKit }).kit;
    kits.set(arch, k);
  }
  return k;
}
