// Test actor: a few control methods, one that throws a coded error, ways to die.
import { serveActor } from '../../src/runtime/actor.ts';
import { VsmmuError, type ErrorCode } from '../../src/errors.ts';

class Echo {
  private readonly base: number;
  private readonly flag: Int32Array | undefined;
  private disposed = false;
  constructor(data: unknown) {
    const d = data as { base?: number; flag?: SharedArrayBuffer } | undefined;
    this.base = d?.base ?? 0;
    this.flag = d?.flag ? new Int32Array(d.flag) : undefined;
  }
  add(a: number, b: number): number {
    return this.base + a + b;
  }
  async slow(ms: number, v: string): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    return v;
  }
  fail(code: ErrorCode): never {
    throw new VsmmuError(code, `failed with ${code}`, { where: 'Echo.fail' });
  }
  plainThrow(): never {
    throw new TypeError('plain type error');
  }
  /** Never answers: the thread exits under the pending call. */
  exitNow(code: number): Promise<never> {
    setImmediate(() => process.exit(code));
    return new Promise(() => {});
  }
  /** Never answers: an uncaught exception kills the thread under the pending call. */
  crash(message: string): Promise<never> {
    setImmediate(() => {
      throw new Error(message);
    });
    return new Promise(() => {});
  }
  wasDisposed(): boolean {
    return this.disposed;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.disposed = true;
    if (this.flag) Atomics.store(this.flag, 0, 1); // observable from the parent
  }
}

serveActor((data) => new Echo(data));
