// piscina task: one fuzz seed (src/fuzz/run.ts), for `vsmmu fuzz --seeds` and campaigns.
import { runFuzzSeed, type FuzzOptions, type FuzzReport } from '../src/fuzz/run.ts';

export default function fuzzTask(o: { readonly seed: number } & FuzzOptions): Promise<FuzzReport> {
  return runFuzzSeed(o.seed, o);
}
