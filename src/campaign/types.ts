// What a campaign is made of: seeds, run one by one by a runner of the campaign's kind, each
// giving one SeedResult; the status and report read back from the queue's store.

/** A runner's options: plain JSON values, stored with the campaign and given to every seed. */
export type RunnerOptions = Readonly<Record<string, string | number | boolean>>;

/** One seed's outcome, as a runner returns it. */
export interface SeedResult {
  readonly seed: number;
  /** Every check held. */
  readonly ok: boolean;
  /** Operations the seed ran (DMAs, maps, unmaps; fuzz inputs), for the campaign's totals. */
  readonly ops: number;
  /** What broke (empty when ok). */
  readonly violations: readonly string[];
  /** Identifies the failure: two seeds (or workers) with the same digest found the same one. */
  readonly digest?: string;
  /** The command that runs this seed again, alone. */
  readonly replay: string;
  /** A shrunk reproduction, when the runner can make one. */
  readonly shrunk?: string;
}

/**
 * A runner module (the `runner` option of startCampaign, `--runner FILE` of the CLI) exports
 * `runSeed`. It runs on a worker thread of a piscina pool, one seed per call; a throw is
 * recorded as a failing seed.
 */
export type SeedRunner = (seed: number, options: RunnerOptions) => Promise<SeedResult>;

/** The campaign kinds vsmmu runs itself. */
export const CAMPAIGN_KINDS = ['stress', 'fuzz'] as const;
export type CampaignKind = (typeof CAMPAIGN_KINDS)[number];

/** Where the queue is and which campaign on it. */
export interface CampaignTarget {
  /** The Redis server: redis://[:password@]HOST:PORT[/DB]. */
  readonly queue: string;
  /** The campaign's name (default 'default'): several campaigns can share one server. */
  readonly name?: string;
}

export interface StartCampaignOptions extends CampaignTarget {
  /** stress or fuzz, or any name when `runner` is given. */
  readonly kind: string;
  /** The seeds: first and last, both included. */
  readonly seeds: { readonly first: number; readonly last: number };
  /** Seeds per chunk, the unit a worker pulls and the unit retried (default 10). */
  readonly chunk?: number;
  /** The Xen profile the seeds run under (passed to the runner as options.profile). */
  readonly profile?: string;
  /** More options for the runner (stress: guests, rounds). */
  readonly options?: RunnerOptions;
  /** A module exporting runSeed (a path or file: URL that exists on every worker machine). */
  readonly runner?: string;
}

/** What was stored about a campaign when it started (the same on every worker). */
export interface CampaignSpec {
  readonly name: string;
  readonly kind: string;
  readonly first: number;
  readonly last: number;
  readonly chunk: number;
  readonly options: RunnerOptions;
  /** The runner module's URL, or null for a built-in kind. */
  readonly runner: string | null;
}

export interface StartCampaignResult {
  readonly spec: CampaignSpec;
  /** False when the same campaign had already been started (nothing was changed). */
  readonly created: boolean;
  readonly chunks: number;
}

export interface WorkCampaignOptions extends CampaignTarget {
  /** Seeds run at the same time on this machine (default: the cores). */
  readonly concurrency?: number;
  /** Return once no chunk is waiting or running (default false: serve until aborted). */
  readonly untilEmpty?: boolean;
  /** Stop after this many ms; chunks not finished go back to the queue (default: none). */
  readonly deadlineMs?: number;
  /** How long a chunk's lock lasts without renewal before another worker may take it (default 30 000). */
  readonly lockMs?: number;
  /** How often this worker looks for chunks of dead workers (default 15 000). */
  readonly stalledMs?: number;
  /** This worker's name in status and reports (default HOST/PID). */
  readonly worker?: string;
  /** Stops the worker (chunks not finished go back to the queue). */
  readonly signal?: AbortSignal;
  /** Called after each recorded seed. */
  readonly onSeed?: (r: SeedResult, recorded: boolean) => void;
}

export interface WorkCampaignResult {
  readonly worker: string;
  readonly chunks: number;
  /** Seeds this worker ran and recorded. */
  readonly seeds: number;
  /** Seeds it ran whose result was already recorded by another worker. */
  readonly duplicates: number;
  readonly failed: number;
  readonly elapsedMs: number;
  /** CPU time of this process meanwhile (every thread: the pool's, the queue's), ms. */
  readonly cpuMs: number;
}

export interface CampaignWorkerStatus {
  readonly worker: string;
  readonly seeds: number;
  readonly ops: number;
  readonly violations: number;
  /** Time spent in seeds, summed over its threads. */
  readonly busyMs: number;
  /** Seeds per second from its first seed's start to its last seed's end. */
  readonly seedsPerS: number;
}

export interface CampaignStatus {
  readonly name: string;
  readonly kind: string;
  readonly first: number;
  readonly last: number;
  readonly total: number;
  readonly done: number;
  readonly ops: number;
  /** Seeds that failed. */
  readonly violations: number;
  /** Distinct failures (by digest). */
  readonly failures: number;
  readonly chunks: { readonly total: number; readonly waiting: number; readonly active: number; readonly completed: number; readonly failed: number };
  readonly workers: readonly CampaignWorkerStatus[];
  /** Every seed has its result. */
  readonly finished: boolean;
  /** From the start of the campaign to the last recorded seed. */
  readonly elapsedMs: number;
}

export interface CampaignFinder {
  readonly seed: number;
  readonly worker: string;
}

export interface CampaignFailure {
  readonly digest: string;
  /** The first seed that found it, with its violations, replay command and reproduction. */
  readonly seed: number;
  readonly violations: readonly string[];
  readonly replay: string;
  readonly shrunk?: string;
  /** Every seed and worker that found it (once each). */
  readonly finders: readonly CampaignFinder[];
}

/** A chunk the queue gave up on (its workers died more often than allowed, or it threw). */
export interface CampaignLostChunk {
  readonly first: number;
  readonly last: number;
  readonly reason: string;
}

export interface CampaignReport {
  readonly name: string;
  readonly kind: string;
  readonly total: number;
  readonly done: number;
  readonly finished: boolean;
  readonly failures: readonly CampaignFailure[];
  /** Chunks given up on: their seeds without a result did not run to the end (a seed that kills its worker process lands here). */
  readonly lostChunks: readonly CampaignLostChunk[];
}
