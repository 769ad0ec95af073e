// piscina task: one seed of a campaign, run by the campaign's runner module (src/campaign).
import { runCampaignSeed, type SeedTask, type SeedTaskResult } from '../src/campaign/seed-task.ts';

export default function campaignTask(t: SeedTask): Promise<SeedTaskResult> {
  return runCampaignSeed(t);
}
