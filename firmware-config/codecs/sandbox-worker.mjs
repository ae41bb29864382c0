// The codec sandbox's worker thread: runs vendor payload codecs (TTN Device Repository
// `decodeUplink(input)` files) in QuickJS compiled to WebAssembly. Each call gets a fresh QuickJS
// runtime and context with a memory limit, a stack limit and an interrupt deadline; the code sees
// only ECMAScript built-ins (no require, process, fs, network, timers). The host (sandbox.ts)
// blocks on a shared flag and terminates this thread if a call outlives its hard time limit, so
// even a codec stuck inside a built-in cannot hold the gateway.
//
// Plain JavaScript on purpose: a worker must start without the TypeScript loader (under tsx,
// vitest and plain node alike).
import process from 'node:process';
import { parentPort, workerData } from 'node:worker_threads';
import { newQuickJSWASMModuleFromVariant, shouldInterruptAfterDeadline } from 'quickjs-emscripten-core';
import variant from '@jitl/quickjs-wasmfile-release-sync';

const flag = new Int32Array(workerData.flag);
const port = workerData.port;
const QJS = await newQuickJSWASMModuleFromVariant(variant);
Atomics.store(flag, 1, 1);
Atomics.notify(flag, 1);

/** Why a QuickJS error happened: a limit, or the codec's own exception. */
function classify(err) {
  const name = typeof err === 'object' && err !== null ? String(err.name ?? 'Error') : 'Error';
  const message =
    typeof err === 'object' && err !== null ? String(err.message ?? '') : String(err ?? 'undefined');
  if (/\binterrupted\b/.test(message)) return { kind: 'time', message };
  if (/out of memory|stack overflow|string too long/.test(message)) return { kind: 'memory', message };
  if (name === 'RangeError' && /stack/.test(message)) return { kind: 'memory', message };
  return { kind: 'exception', message: `${name}: ${message}`.slice(0, 300) };
}

function evalOrThrow(vm, code, filename) {
  const r = vm.evalCode(code, filename);
  if (r.error) {
    let dumped;
    try {
      dumped = vm.dump(r.error);
    } catch {
      dumped = { name: 'Error', message: 'unreadable exception' };
    }
    r.error.dispose();
    throw Object.assign(new Error('vm'), { vm: classify(dumped) });
  }
  return r.value;
}

function run(req) {
  const { source, filename, input, limits } = req;
  const rt = QJS.newRuntime();
  rt.setMemoryLimit(limits.memoryBytes);
  rt.setMaxStackSize(limits.stackBytes);
  rt.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + limits.timeMs));
  const vm = rt.newContext();
  try {
    // Captured before the codec runs, so a codec replacing JSON cannot change what we read back.
    const prelude =
      'var __hatakeCall = (function (stringify, input) {' +
      ' input.recvTime = new Date(input.recvTime);' +
      ' return function () { var out = decodeUplink(input);' +
      ' if (out === undefined) throw new TypeError("decodeUplink returned nothing");' +
      ' return stringify(out); }; })(JSON.stringify, ' +
      JSON.stringify(input) +
      ');';
    evalOrThrow(vm, prelude, 'hatake-prelude.js').dispose();
    evalOrThrow(vm, source, filename).dispose();
    const h = evalOrThrow(vm, '__hatakeCall()', 'hatake-call.js');
    const type = vm.typeof(h);
    const text = type === 'string' ? vm.getString(h) : undefined;
    h.dispose();
    if (text === undefined)
      return { ok: false, kind: 'exception', message: 'decodeUplink returned a value JSON cannot represent' };
    if (text.length > limits.maxOutputBytes)
      return { ok: false, kind: 'output', message: `output of ${text.length} characters` };
    return { ok: true, output: text };
  } catch (e) {
    if (e && e.vm) return { ok: false, ...e.vm };
    throw e;
  } finally {
    vm.dispose();
    rt.dispose();
  }
}

parentPort.on('message', (req) => {
  let res;
  let broken = false;
  try {
    res = run(req);
  } catch (e) {
    // The WebAssembly instance itself failed (an abort): answer, then end this thread; the host
    // starts a fresh one for the next call.
    res = { ok: false, kind: 'internal', message: String(e && e.message ? e.message : e).slice(0, 300) };
    broken = true;
  }
  port.postMessage({ seq: req.seq, ...res });
  Atomics.store(flag, 0, req.seq);
  Atomics.notify(flag, 0);
  if (broken) process.exit(1);
});
