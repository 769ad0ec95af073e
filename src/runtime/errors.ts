// Errors with a stable `code`, for users of the API and CLI, and across threads: a worker
// sends `toRecord()`, the receiver rebuilds the same error with `fromRecord()`.

export interface ErrorRecord {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class VsmmuError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = 'VsmmuError';
    this.code = code;
    this.details = details;
  }

  toRecord(): ErrorRecord {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromRecord(r: ErrorRecord): VsmmuError {
    return new VsmmuError(r.code, r.message, r.details);
  }

  /** Any thrown value as a record: coded errors keep their code, the rest become EINTERNAL. */
  static recordOf(e: unknown): ErrorRecord {
    if (e instanceof VsmmuError) return e.toRecord();
    if (e instanceof Error) return { code: 'EINTERNAL', message: e.message, details: { stack: e.stack ?? '' } };
    return { code: 'EINTERNAL', message: String(e) };
  }
}
