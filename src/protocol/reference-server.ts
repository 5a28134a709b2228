/**
 * Our reference unwinders behind the plugin protocol, so the out-of-process path can be checked
 * against the in-process one:
 *   --unwinder "node -r ./scripts/ts-register.js src/protocol/reference-server.ts --profile arm64-fp"
 */
import { Command } from 'commander';
import { hex, loadSnapshot } from '../snapshot/io';
import { builtinProfile } from '../unwinders/profiles';
import { InProcessWalker } from '../unwinders/walker';
import { serve, type WalkAnswer } from './serve';

export function referenceHarness(profileName: string) {
  const profile = builtinProfile(profileName);
  const walker = new InProcessWalker(profile);
  return {
    // loadSnapshot reads chunks as well as data.
    extensions: ['sparse-memory'] as const,
    start: () => ({
      // The protocol's start answer holds a description of at most 1000 characters (powerpc64-bc's is longer).
      implementation: { name: profile.name, arch: profile.arch, unwinder: profile.unwinder, description: profile.description && profile.description.length > 1000 ? `${profile.description.slice(0, 999)}…` : profile.description },
      claims: profile.claims,
      ...(profile.options ? { options: profile.options } : {}),
    }),
    walk: (snapshot: Parameters<typeof loadSnapshot>[0], seq: number): WalkAnswer => {
      const rec = walker.walkSync(loadSnapshot(snapshot, `walk seq ${seq}`));
      if (rec.error !== undefined) return { errored: true, message: rec.error };
      // The protocol has no runaway answer: an exhausted read budget is reported as an error.
      if (rec.runaway !== undefined) return { errored: true, message: `runaway: ${rec.runaway}` };
      const r = rec.result!;
      return {
        rc: r.rc,
        trace: r.trace.map(hex),
        ...(r.reason !== undefined ? { reason: r.reason } : {}),
        accesses: (rec.accesses ?? []).map((a) => ({ addr: hex(a.addr), size: a.size })),
      };
    },
  };
}

if (require.main === module) {
  const opts = new Command()
    .name('reference-server')
    .description('serve a reference unwinder over the plugin protocol (NDJSON on stdio)')
    .requiredOption('--profile <name>', 'built-in profile, e.g. arm64-fp')
    .parse()
    .opts<{ profile: string }>();
  void serve(referenceHarness(opts.profile));
}
