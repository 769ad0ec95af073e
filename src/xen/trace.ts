// Xen's trace points that take more than a line (docs/tracing.md): the trapped access of a
// vCPU as a slice named after the vSMMU register it reached.
import { opName } from '../arch/commands.ts';
import { eventName } from '../arch/events.ts';
import { flowId, type Tracer } from '../trace/tracer.ts';
import { GUEST_VSMMUV3_BASE, GUEST_VSMMUV3_SIZE } from './layout.ts';
import { SLOT_AT, VREGS } from './vsmmuv3-regs.ts';

/** The vSMMU register at guest physical address `ipa`, or the address in hex. */
export function vsmmuRegName(ipa: number): string {
  const off = ipa - GUEST_VSMMUV3_BASE;
  const slot = off >= 0 && off < GUEST_VSMMUV3_SIZE ? SLOT_AT[off >>> 2] : undefined;
  return (slot === undefined ? undefined : VREGS[slot]?.name) ?? `0x${ipa.toString(16)}`;
}

/** A trap of domain `domid`'s vCPU 0 from entry (`t0`) to answer. */
export function traceTrap(tr: Tracer, t0: number, domid: number, write: boolean, ipa: number, valLo: number, out: { lo: number }, ok: boolean): void {
  const reg = vsmmuRegName(ipa);
  const value = `0x${((write ? valLo : out.lo) >>> 0).toString(16)}`;
  tr.slice(`d${domid} vcpu0`, `${write ? 'write' : 'read'} ${reg}`, t0, { domid, vcpu: 0, reg, value, answer: ok ? 'ok' : 'abort' });
}

/** A physical event record Xen took from the SMMU's event queue. */
export function tracePhysEvent(tr: Tracer, words: ArrayLike<number>): void {
  tr.instant('evtq', `event ${eventName((words[0] ?? 0) & 0xff)}`, { sid: words[1] ?? 0 });
}

/** A command Xen's driver queued at physical `pos` (PROD before it): its flow starts here. */
export function traceIssue(tr: Tracer, t0: number, words: ArrayLike<number>, pos: number): void {
  const name = opName((words[0] ?? 0) & 0xff);
  tr.flow('smmu cmdq', 's', flowId(0, pos), name);
  tr.slice('smmu cmdq', `issue ${name}`, t0, { prod: pos });
}
