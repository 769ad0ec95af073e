// What a CLI command writes to, so tests can capture it and `main` can use the process.

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** A terminal that can show a progress line (stderr is a TTY). */
  readonly tty: boolean;
  readFile(path: string): string;
}

import { readFileSync } from 'node:fs';
import { VsmmuError } from '../errors.ts';

export const processIo: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  tty: process.stderr.isTTY === true,
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      throw new VsmmuError('EVSMMU_FILE', `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code}`, { path });
    }
  },
};
