// Calls into a guest worker that cannot take the system down: a call that is not answered
// within the bound marks the guest hung, a worker that exits or throws marks it crashed;
// either way the owner is told once (it then destroys the domain) and every later call
// rejects with the same coded error.
import type { ActorLink } from './backend.ts';
import type { ControlApi } from '../runtime/control.ts';
import { VsmmuError } from '../errors.ts';

export class Supervised<T extends object> {
  #dead: VsmmuError | null = null;
  readonly #actor: ActorLink<T>;
  readonly #timeoutMs: number;
  readonly #onDeath: (e: VsmmuError) => void;
  readonly #what: string;

  constructor(actor: ActorLink<T>, what: string, timeoutMs: number, onDeath: (e: VsmmuError) => void) {
    this.#actor = actor;
    this.#what = what;
    this.#timeoutMs = timeoutMs;
    this.#onDeath = onDeath;
    actor.onDeath((cause) => {
      if (cause instanceof VsmmuError) this.#die(cause);
      else if ('exitCode' in cause) {
        this.#die(new VsmmuError('EVSMMU_DOMAIN_CRASHED', `${what}: its guest worker exited (code ${cause.exitCode}); the domain was destroyed`, { exitCode: cause.exitCode }));
      } else this.#die(new VsmmuError('EVSMMU_DOMAIN_CRASHED', `${what}: its guest worker crashed (${cause.message}); the domain was destroyed`));
    });
  }

  get dead(): VsmmuError | null {
    return this.#dead;
  }

  /** Calls `method` with a bound on the answer; a timeout means the guest hangs. */
  async call<K extends keyof ControlApi<T>>(method: K, ...args: Parameters<ControlApi<T>[K]>): Promise<Awaited<ReturnType<ControlApi<T>[K]>>> {
    if (this.#dead) throw this.#dead;
    const fn = this.#actor.api[method] as (...a: unknown[]) => Promise<Awaited<ReturnType<ControlApi<T>[K]>>>;
    const call = fn.apply(this.#actor.api, args);
    // Infinity (options.guestTimeoutMs) means no bound: setTimeout would fire it after 1 ms.
    if (!Number.isFinite(this.#timeoutMs)) return this.#settle(call);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new VsmmuError('EVSMMU_DOMAIN_HUNG', `${this.#what}: no answer to ${String(method)} within ${this.#timeoutMs} ms; the guest was killed and the domain destroyed`, { method: String(method), timeoutMs: this.#timeoutMs });
        this.#die(e);
        void this.#actor.destroy();
        reject(e);
      }, this.#timeoutMs);
    });
    try {
      return await this.#settle(Promise.race([call, hang]));
    } finally {
      clearTimeout(timer);
    }
  }

  /** A call that failed because the worker died reports the death, not the transport. */
  async #settle<R>(p: Promise<R>): Promise<R> {
    try {
      return await p;
    } catch (e) {
      if (this.#dead && e instanceof VsmmuError && (e.code.startsWith('EVSMMU_WORKER') || e.code.startsWith('EVSMMU_ACTOR'))) throw this.#dead;
      throw e;
    }
  }

  /** Orderly end: drain calls in flight, let the guest dispose itself. */
  async close(): Promise<void> {
    this.#dead ??= new VsmmuError('EVSMMU_DOMAIN_DESTROYED', `${this.#what} was destroyed`);
    await this.#actor.close();
  }

  /** Terminates the worker now, as a crash would. */
  async kill(): Promise<void> {
    this.#die(new VsmmuError('EVSMMU_DOMAIN_CRASHED', `${this.#what}: its guest worker was killed; the domain was destroyed`));
    await this.#actor.destroy();
  }

  /** Ends the guest with `e` and terminates its worker: the hypervisor crashed the domain. */
  crash(e: VsmmuError): void {
    this.#die(e);
    void this.#actor.destroy();
  }

  #die(e: VsmmuError): void {
    if (this.#dead) return;
    this.#dead = e;
    this.#onDeath(e);
  }
}
