/**
 * Implementation side of the plugin protocol, for harnesses written in TypeScript/JavaScript:
 * reads NDJSON requests from stdin, answers on stdout. Logs must go to stderr.
 */
import { createInterface } from 'readline';
import type { Snapshot } from '../snapshot/types';
import { PROTOCOL_VERSION, type Extension, type StartResponse, type WalkResponse } from './messages';

/** A walk answer without its seq (serve() adds it): one of the three walk-response forms. */
export type WalkAnswer = WalkResponse extends infer R ? (R extends unknown ? Omit<R, 'seq'> : never) : never;

export interface Harness {
  start(): Omit<StartResponse, 'version' | 'extensions'>;
  /** Protocol extensions this harness handles; serve() accepts those the runner offers. */
  extensions?: readonly Extension[];
  walk(snapshot: Snapshot, seq: number): WalkAnswer;
}

export function serve(h: Harness, input: NodeJS.ReadableStream = process.stdin, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  const send = (m: unknown) => out.write(JSON.stringify(m) + '\n');
  return new Promise((resolve) => {
    rl.on('line', (line) => {
      if (!line.trim()) return;
      const req = JSON.parse(line) as { cmd: string; version?: number; extensions?: unknown; seq?: number; snapshot?: Snapshot };
      if (req.cmd === 'start') {
        if (req.version !== PROTOCOL_VERSION) {
          process.stderr.write(`protocol version ${req.version} is not supported (this harness speaks ${PROTOCOL_VERSION})\n`);
          process.exit(2);
        }
        const offered = Array.isArray(req.extensions) ? req.extensions : [];
        const accepted = (h.extensions ?? []).filter((x) => offered.includes(x));
        send({ version: PROTOCOL_VERSION, ...h.start(), ...(accepted.length ? { extensions: accepted } : {}) });
      } else if (req.cmd === 'walk') {
        let a: WalkAnswer;
        try {
          a = h.walk(req.snapshot!, req.seq!);
        } catch (e) {
          a = { errored: true, message: (e as Error).stack ?? String(e) };
        }
        send({ seq: req.seq, ...a } as WalkResponse);
      } else if (req.cmd === 'stop') {
        rl.close();
      } else {
        process.stderr.write(`unknown command ${JSON.stringify(req.cmd)}\n`);
      }
    });
    rl.on('close', () => resolve());
  });
}
