// Worker entry for runtime thread tests: one role per workerData.role. Each role reports
// { ok, ... } on parentPort when done; the test synchronises on those messages only.
import { parentPort, workerData } from 'node:worker_threads';
import { RingConsumer, RingProducer } from '../../src/runtime/ring.ts';
import type { RingDesc } from '../../src/runtime/ring.ts';
import { TRAP_ABORT, TRAP_OK, TrapServer, TrapVcpu } from '../../src/runtime/trap.ts';
import type { TrapChannelDesc, TrapRequest, TrapServerDesc, TrapStatus } from '../../src/runtime/trap.ts';
import { IrqLines } from '../../src/runtime/irq.ts';
import type { IrqDesc } from '../../src/runtime/irq.ts';
import { checkRecord, mulberry32, writeRecord } from './prng.ts';

const port = parentPort;
if (!port) throw new Error('runtime-roles must run in a worker');
const d = workerData as { role: string } & Record<string, unknown>;

/** Registers of the test device: 0x0..0xfff per channel, aborts at and above ABORT_BASE. */
export const ABORT_BASE = 0x1000;

switch (d.role) {
  case 'ring-producer': {
    // Random batch sizes from the seed; closes the ring when done.
    const ring = d['ring'] as RingDesc;
    const seed = d['seed'] as number;
    const total = d['total'] as number;
    const maxBatch = d['maxBatch'] as number;
    const id = (d['producer'] as number | undefined) ?? 0;
    const p = new RingProducer(ring);
    const rnd = mulberry32(seed);
    const payload = mulberry32(seed ^ 0x9e3779b9);
    let seq = 0;
    while (seq < total) {
      const n = Math.min(total - seq, 1 + (rnd() % maxBatch));
      p.reserve(n);
      for (let i = 0; i < n; i++) writeRecord(p.u32, p.offset(i), p.recordWords, seq + i, id, payload);
      p.commit(n);
      seq += n;
    }
    if (d['close'] !== false) p.close();
    port.postMessage({ ok: true, produced: seq });
    break;
  }
  case 'ring-consumer': {
    // Blocking consumer: checks every record until the ring is closed and drained.
    const c = new RingConsumer(d['ring'] as RingDesc);
    const maxBatch = d['maxBatch'] as number;
    let seq = 0;
    let bad = '';
    for (let n; !bad && (n = c.acquire(maxBatch, 10_000)) > 0; ) {
      for (let i = 0; i < n && !bad; i++) bad = checkRecord(c.u32, c.offset(i), c.recordWords, seq + i, 0);
      c.release(n);
      seq += n;
    }
    port.postMessage({ ok: bad === '', bad, consumed: seq, closed: c.closed });
    break;
  }
  case 'trap-server': {
    // Serves until closed. Each channel slot has its own 1024 registers (u32 lo/hi pairs).
    const server = new TrapServer(d['server'] as TrapServerDesc);
    const chans = d['channels'] as TrapChannelDesc[];
    const regs: Uint32Array[] = [];
    for (const c of chans) {
      server.attach(c);
      regs.push(new Uint32Array(2 * 1024));
    }
    const handler = (req: TrapRequest): TrapStatus => {
      if (req.addrHi !== 0 || req.addrLo >= ABORT_BASE || (req.addrLo & (req.size - 1)) !== 0) return TRAP_ABORT;
      const r = regs[req.channel] as Uint32Array;
      const i = (req.addrLo >>> 2) & ~1;
      if (req.write) {
        r[i] = req.valueLo;
        if (req.size === 8) r[i + 1] = req.valueHi;
      } else {
        req.valueLo = r[i] ?? 0;
        req.valueHi = req.size === 8 ? (r[i + 1] ?? 0) : 0;
      }
      return TRAP_OK;
    };
    let served = 0;
    port.postMessage({ ready: true });
    for (let n; (n = server.serve(handler)) !== -1; ) served += n;
    port.postMessage({ ok: true, served });
    break;
  }
  case 'trap-vcpu': {
    // Writes a seeded value, reads it back, and hits the abort window; checks everything.
    const vcpu = new TrapVcpu(d['channel'] as TrapChannelDesc);
    const rnd = mulberry32(d['seed'] as number);
    const count = d['count'] as number;
    const tag = (d['tag'] as number) >>> 0;
    const errors: string[] = [];
    let aborts = 0;
    for (let k = 0; k < count && errors.length < 5; k++) {
      const addr = (rnd() % 512) * 8;
      const size = rnd() & 1 ? 8 : 4;
      const lo = (rnd() ^ tag) >>> 0;
      const hi = size === 8 ? rnd() : 0;
      if (vcpu.write(addr, 0, size, lo, hi) !== TRAP_OK) errors.push(`write ${addr} aborted`);
      if (vcpu.read(addr, 0, size) !== TRAP_OK) errors.push(`read ${addr} aborted`);
      else if (vcpu.valueLo !== lo || vcpu.valueHi !== hi) {
        errors.push(`read ${addr}: got ${vcpu.valueHi}:${vcpu.valueLo}, wrote ${hi}:${lo}`);
      }
      if (k % 16 === 0) {
        if (vcpu.read(ABORT_BASE + addr, 0, 4) === TRAP_ABORT) aborts++;
        else errors.push(`read ${ABORT_BASE + addr} not aborted`);
      }
    }
    port.postMessage({ ok: errors.length === 0, errors, aborts });
    break;
  }
  case 'irq-sink': {
    // Blocking waits in a worker: reports what each wait returned.
    const irq = new IrqLines(d['irq'] as IrqDesc);
    const mask = d['mask'] as number;
    const timeoutMs = d['timeoutMs'] as number;
    const before = performance.now();
    const got = irq.wait(mask, 0);
    port.postMessage({ phase: 'armed', got });
    const got2 = irq.wait(mask, timeoutMs);
    const taken = irq.take(mask);
    port.postMessage({ phase: 'taken', got2, taken });
    let closed = '';
    try {
      irq.wait(1 << 5, 10_000); // never raised: only close ends it
    } catch (e) {
      closed = (e as { code?: string }).code ?? 'no code';
    }
    port.postMessage({ ok: true, closed, ms: performance.now() - before });
    break;
  }
  case 'async-waiter': {
    // Its only pending work is an async wait: the runtime must keep the thread alive.
    const irq = new IrqLines(d['irq'] as IrqDesc);
    port.postMessage({ phase: 'armed' });
    void irq.waitAsync(1, Infinity).then((got) => port.postMessage({ ok: true, got }));
    port.unref(); // the port must not be what keeps this thread alive
    break;
  }
  case 'irq-source': {
    const irq = new IrqLines(d['irq'] as IrqDesc);
    for (const line of d['lines'] as number[]) irq.raise(line);
    port.postMessage({ ok: true });
    break;
  }
  default:
    throw new Error(`unknown role ${d.role}`);
}
