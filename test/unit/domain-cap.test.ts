// A domain's CPU cap (Xen credit2's `cap`): the option, the xl.cfg key and their errors, and
// the budget the runtime enforces (src/runtime/credit.ts) over injected clocks: charged CPU
// and Xen's trap service, a park per spent period, overruns paid back, cap changes.
import { describe, expect, it } from 'vitest';
import { normaliseOptions } from '../../src/system/options.ts';
import { parseXlCfgFull } from '../../src/xen/xlcfg.ts';
import { CreditCap, type CreditClocks } from '../../src/runtime/credit.ts';
import { CAP_PERIOD_MS, SchedWords, createSched } from '../../src/ports/sched.ts';
import { TrapServer, TrapServiceTime, createTrapChannel, createTrapServer } from '../../src/ports/trap.ts';
import { thrown } from '../support/errors.ts';
import { domCfg, guestOf, xenRig } from '../support/xen-rig.ts';
import { cmd } from '../support/xen-fakes.ts';

const dom = (extra: Record<string, unknown>) => ({ domains: [{ name: 'g', memory: '16M', ...extra }] });

describe('cap option', () => {
  it('is 0 (none) by default and 0..100 per vCPU', () => {
    expect(normaliseOptions(dom({})).domains[0]?.cap).toBeUndefined();
    expect(normaliseOptions(dom({ cap: 0 })).domains[0]?.cap).toBeUndefined();
    expect(normaliseOptions(dom({ cap: 25 })).domains[0]?.cap).toBe(25);
    expect(normaliseOptions(dom({ cap: 100 })).domains[0]?.cap).toBe(100);
    expect(normaliseOptions(dom({ cap: 400, vcpus: 4 })).domains[0]?.cap).toBe(400);
  });
  it.each([[-1, {}], [101, {}], [201, { vcpus: 2 }], [12.5, {}], ['25', {}], [null, {}], [NaN, {}]])('rejects %j', (cap, extra) => {
    const e = thrown(() => normaliseOptions(dom({ cap, ...extra })));
    expect(e.code).toBe('EVSMMU_BADOPTIONS');
    expect(e.message).toMatch(/domain "g": cap must be a whole percentage of one physical CPU from 0 \(no cap\) to (100|200) \(100 per vCPU\)/);
  });
});

describe('xl.cfg cap=', () => {
  const cfg = (cap: string, vcpus = 1): string => `name = "g"\nmemory = 16\nvcpus = ${vcpus}\ncap = ${cap}\n`;
  it('reads the cap as xl does (% of one physical CPU, 0 none)', () => {
    expect(parseXlCfgFull(cfg('25')).config.cap).toBe(25);
    expect(parseXlCfgFull(cfg('0')).config.cap).toBeUndefined();
    expect(parseXlCfgFull(cfg('150', 2)).config.cap).toBe(150);
    expect(parseXlCfgFull(cfg('"50"')).config.cap).toBe(50);
    expect(normaliseOptions({ domains: [cfg('30')] }).domains[0]?.cap).toBe(30);
  });
  it.each([['101', 1], ['201', 2], ['"-1"', 1], ['"half"', 1]])('rejects cap = %s with %i vCPU(s), naming the line', (v, n) => {
    const e = thrown(() => parseXlCfgFull(cfg(v, n), 'g.cfg'));
    expect(e.code).toBe('EVSMMU_XLCFG_BAD_VALUE');
    expect(e.message).toMatch(/^g\.cfg:4/);
  });
  it('still ignores cpu_weight with a warning (weights are not modelled)', () => {
    const r = parseXlCfgFull(`${cfg('10')}cpu_weight = 512\n`);
    expect(r.config.cap).toBe(10);
    expect(r.warnings.join('\n')).toMatch(/"cpu_weight" is an xl option this emulator does not model/);
  });
});

/** A thread that runs on a fake clock: `run(ms)` burns CPU, parks advance wall time only. */
function rig(cap: number) {
  let wall = 0;
  let cpu = 0;
  const parks: number[] = [];
  const clocks: CreditClocks = {
    now: () => wall,
    cpu: () => cpu,
    park: (_w, _i, _v, ms) => {
      parks.push(ms);
      wall += ms;
    },
  };
  const sched = createSched(cap);
  const server = createTrapServer();
  const ch = createTrapChannel(server);
  const srv = new TrapServer(server);
  const slot = srv.attach(ch);
  const credit = new CreditCap(sched, new TrapServiceTime(ch), clocks);
  return {
    credit, parks, srv, slot, words: new SchedWords(sched),
    /** Runs `ms` of CPU in steps of `step` ms, ticking after each. */
    run(ms: number, step = 0.1): void {
      for (let t = 0; t < ms - 1e-9; t += step) {
        wall += step;
        cpu += step;
        credit.tick();
      }
    },
    get wall() {
      return wall;
    },
  };
}

describe('CreditCap (credit2 budget per 10 ms period)', () => {
  it('does nothing without a cap, and asks Xen for no service time', () => {
    const r = rig(0);
    r.run(50);
    expect(r.parks).toEqual([]);
    expect(r.srv.wantsCharge(r.slot)).toBe(false);
    expect(r.words.counters()).toMatchObject({ cap: 0, parks: 0, chargedMs: 0 });
  });

  it('parks a spinning vCPU once per period, so it runs about cap% of the wall time', () => {
    const r = rig(25);
    r.run(100); // 100 ms of CPU
    const c = r.words.counters();
    // 2.5 ms a period: ~40 periods, each ending in a park until the period's end.
    expect(c.parks).toBeGreaterThanOrEqual(36);
    expect(c.parks).toBeLessThanOrEqual(41);
    expect(r.wall).toBeGreaterThan(350); // 100 ms of CPU took ~400 ms of wall time
    expect(c.chargedMs).toBeCloseTo(100, 0);
    expect(r.parks.every((ms) => ms > 0 && ms <= CAP_PERIOD_MS)).toBe(true);
  });

  it('charges Xen\'s service time of its traps to it (published on the trap channel)', () => {
    const r = rig(50);
    r.credit.tick(); // first sight of the cap: asks for the service time
    expect(r.srv.wantsCharge(r.slot)).toBe(true);
    r.srv.charge(r.slot, 6); // Xen spent 6 ms on its traps: more than this period's 5 ms
    r.run(0.3);
    const c = r.words.counters();
    expect(c.xenMs).toBeCloseTo(6, 3);
    expect(c.parks).toBeGreaterThanOrEqual(1);
  });

  it('pays an overrun back from the next periods', () => {
    const r = rig(10); // 1 ms a period
    r.credit.tick();
    r.run(5, 5); // one 5 ms run without a tick in between: 4 ms over
    // The debt needs 4 more periods' budgets: parked across them.
    expect(r.parks.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4 * CAP_PERIOD_MS);
  });

  it('follows a cap change at the next tick; 0 lifts it', () => {
    const r = rig(20);
    r.run(20);
    const parked = r.words.counters().parks;
    expect(parked).toBeGreaterThan(0);
    r.words.setCap(0);
    r.run(20);
    expect(r.words.counters().parks).toBe(parked);
    expect(r.srv.wantsCharge(r.slot)).toBe(false);
    r.words.setCap(100);
    r.run(20); // 100% of one CPU: a single thread never runs out
    expect(r.words.counters().parks).toBe(parked);
  });
});

describe('Xen charges a capped domain its continuations (XenOptions.meter)', () => {
  it('times each vSMMU continuation run of a domain that wants it, and only those', () => {
    let t = 0;
    const charged: [number, number][] = [];
    const wanted = new Set<number>();
    const r = xenRig({ budget: 4, meter: { wants: (d) => wanted.has(d), now: () => (t += 1), charge: (d, ms) => void charged.push([d, ms]) } });
    const a = r.xen.createDomain(domCfg('a', [{ sid: 0x10 }]));
    const b = r.xen.createDomain(domCfg('b', [{ sid: 0x20 }]));
    wanted.add(a.domid);
    for (const [dom, g] of [[a.domid, guestOf(r, a.domid)], [b.domid, guestOf(r, b.domid)]] as const) {
      g.reset();
      charged.length = 0;
      // 20 commands at a budget of 4 a trap: the rest run as continuations.
      g.submit(...Array.from({ length: 20 }, (_, i) => cmd('TLBI_NH_ASID', { asid: i + 1 })));
      if (dom === a.domid) {
        expect(charged.length).toBeGreaterThanOrEqual(4);
        expect(charged.every(([d, ms]) => d === a.domid && ms === 1)).toBe(true);
      } else expect(charged).toEqual([]);
    }
  });
});
