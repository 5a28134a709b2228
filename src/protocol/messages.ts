/**
 * The plugin protocol: NDJSON over the stdio of a process the runner starts (modelled on Bowtie's
 * harness protocol). One JSON object per line each way; every message has a schema in
 * schemas/protocol/. No expected outcome is ever sent to an implementation.
 *
 *   runner → impl: {"cmd":"start","version":1}
 *   impl → runner: {"version":1,"implementation":{name,arch,unwinder,description?},"claims":{…},"options"?}
 *   runner → impl: {"cmd":"walk","seq":N,"snapshot":<Snapshot>}
 *   impl → runner: {"seq":N,"rc":0,"trace":["0x…"],"reason"?,"accesses"?} | {"seq":N,"skipped":true,"reason"} | {"seq":N,"errored":true,"message"}
 *   runner → impl: {"cmd":"stop"}
 */
import { assertValid, validator } from '../schema/validate';
import type { Snapshot } from '../snapshot/types';
import type { Arch } from '../snapshot/types';
import type { ProfileClaims } from '../unwinders/types';

export const PROTOCOL_VERSION = 1;

/** Optional protocol extensions (docs/maintainers.md, "Protocol extensions"): offered by the runner, accepted by the implementation. */
export const EXTENSIONS = ['sparse-memory'] as const;
export type Extension = (typeof EXTENSIONS)[number];

export interface StartRequest {
  cmd: 'start';
  version: number;
  extensions?: string[];
}

export interface StartResponse {
  version: number;
  implementation: { name: string; arch: Arch; unwinder: string; description?: string; version?: string; homepage?: string };
  claims: ProfileClaims;
  options?: Record<string, string | number | boolean>;
  extensions?: Extension[];
}

export interface WalkRequest {
  cmd: 'walk';
  seq: number;
  snapshot: Snapshot;
}

export interface WalkResultResponse {
  seq: number;
  rc: number;
  trace: string[];
  reason?: string;
  /** Self-reported reads (optional): lets the oracle judge unsafe memory accesses. */
  accesses?: { addr: string; size: number }[];
}
export interface WalkSkippedResponse {
  seq: number;
  skipped: true;
  reason: string;
}
export interface WalkErroredResponse {
  seq: number;
  errored: true;
  message: string;
}
export type WalkResponse = WalkResultResponse | WalkSkippedResponse | WalkErroredResponse;

export interface StopRequest {
  cmd: 'stop';
}

export type ProtocolMessage = 'start' | 'start-response' | 'walk' | 'walk-response' | 'stop';

let loaded = false;
/** Schemas referenced by $id from the protocol schemas must be compiled first. */
function ensureBaseSchemas(): void {
  if (loaded) return;
  validator('profile');
  validator('snapshot');
  loaded = true;
}

/** Validate one protocol message against schemas/protocol/<kind>.schema.json (throws SchemaError). */
export function validateMessage<T>(kind: ProtocolMessage, data: unknown, source: string): T {
  ensureBaseSchemas();
  return assertValid<T>(`protocol/${kind}`, data, source);
}
