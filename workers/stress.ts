// piscina task: one seeded stress run of the whole system (src/system/stress.ts).
import { runStress, type StressOptions, type StressReport } from '../src/system/stress.ts';

export default function stressTask(o: StressOptions): Promise<StressReport> {
  return runStress(o);
}
