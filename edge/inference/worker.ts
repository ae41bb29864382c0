// The inference worker: holds onnxruntime sessions and runs them on its own thread, because
// session.run() blocks the thread it runs on. Loads are checked against the card (inputs,
// outputs, a warm-up run that must reproduce the card's worked example) before they count.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { HatakeError } from '../../protocol/errors.ts';
import type { ModelCard } from '../../protocol/model-card.ts';
import { checkExample, checkSessionAgainstCard } from './session-check.ts';
import type { Feeds } from './inputs.ts';

export type WorkerRequest =
  | {
      id: number;
      op: 'load';
      key: string;
      bytes: Uint8Array;
      card: ModelCard;
      warmup: Feeds | null;
      exampleProblem: string | null;
    }
  | { id: number; op: 'run'; key: string; feeds: Feeds; outputs: string[] }
  | { id: number; op: 'unload'; key: string };

export interface OutTensor {
  type: string;
  data: Float64Array | Float32Array;
  dims: number[];
}

export type WorkerReply =
  | { id: number; ok: true; outputs?: Record<string, OutTensor> }
  | { id: number; ok: false; code: string; message: string; expected?: string };

const sessions = new Map<string, ort.InferenceSession>();
/** Runs in flight per session: a session replaced (a reload) or unloaded meanwhile is released after them. */
const busy = new Map<ort.InferenceSession, number>();
const retired = new Set<ort.InferenceSession>();

async function retire(session: ort.InferenceSession): Promise<void> {
  if (busy.has(session)) retired.add(session);
  else await session.release();
}
const port = parentPort!;

function tensors(feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) out[name] = new ort.Tensor(f.type, f.data, f.dims);
  return out;
}

async function run(
  session: ort.InferenceSession,
  feeds: Feeds,
  names: string[],
): Promise<Record<string, OutTensor>> {
  const result = await session.run(tensors(feeds), names);
  const out: Record<string, OutTensor> = {};
  for (const name of names) {
    const t = result[name]!;
    out[name] = { type: t.type, data: t.data as Float64Array | Float32Array, dims: [...t.dims] };
  }
  return out;
}

async function handle(m: WorkerRequest): Promise<WorkerReply> {
  if (m.op === 'load') {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(m.bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
      });
    } catch (e) {
      throw new HatakeError(
        'HATAKE_E_MODEL_CORRUPT',
        `${m.key}: onnxruntime cannot load the file: ${String((e as Error).message).slice(0, 300)}`,
        {
          place: { file: m.card.file },
          expected: 'a complete ONNX model',
        },
      );
    }
    try {
      checkSessionAgainstCard(m.card, session);
      if (m.exampleProblem)
        throw new HatakeError(
          'HATAKE_E_MODEL_INCOMPATIBLE',
          `${m.key}: the card's worked example does not fit its inputs: ${m.exampleProblem}`,
          {
            place: { file: m.card.file },
          },
        );
      if (m.warmup) {
        const names = m.card.outputs.map((o) => o.name);
        let outputs: Record<string, OutTensor>;
        try {
          outputs = await run(session, m.warmup, names);
        } catch (e) {
          throw new HatakeError(
            'HATAKE_E_MODEL_INCOMPATIBLE',
            `${m.key}: the warm-up run failed: ${String((e as Error).message).slice(0, 300)}`,
            {
              place: { file: m.card.file },
            },
          );
        }
        checkExample(m.card, outputs);
      }
    } catch (e) {
      await session.release();
      throw e;
    }
    const old = sessions.get(m.key);
    sessions.set(m.key, session);
    if (old) await retire(old);
    return { id: m.id, ok: true };
  }
  if (m.op === 'unload') {
    const s = sessions.get(m.key);
    sessions.delete(m.key);
    if (s) await retire(s);
    return { id: m.id, ok: true };
  }
  const session = sessions.get(m.key);
  if (!session) throw new HatakeError('HATAKE_E_MODEL_NOT_FOUND', `${m.key} is not loaded`);
  busy.set(session, (busy.get(session) ?? 0) + 1);
  try {
    return { id: m.id, ok: true, outputs: await run(session, m.feeds, m.outputs) };
  } catch (e) {
    throw new HatakeError('HATAKE_E_INFERENCE', `${m.key}: ${String((e as Error).message).slice(0, 300)}`);
  } finally {
    const left = busy.get(session)! - 1;
    if (left > 0) busy.set(session, left);
    else {
      busy.delete(session);
      if (retired.delete(session)) await session.release().catch(() => {});
    }
  }
}

port.on('message', (m: WorkerRequest) => {
  handle(m).then(
    (reply) => {
      const transfer =
        reply.ok && reply.outputs
          ? [...new Set(Object.values(reply.outputs).map((t) => t.data.buffer as ArrayBuffer))]
          : [];
      port.postMessage(reply, transfer);
    },
    (e: unknown) => {
      const err =
        e instanceof HatakeError
          ? e
          : new HatakeError('HATAKE_E_INFERENCE', String((e as Error)?.message ?? e).slice(0, 300));
      port.postMessage({
        id: m.id,
        ok: false,
        code: err.code,
        message: err.message,
        expected: err.expected,
      } satisfies WorkerReply);
    },
  );
});
port.postMessage({ id: 0, ok: true } satisfies WorkerReply);
