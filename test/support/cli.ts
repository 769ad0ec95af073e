// Runs the `vsmmu` command in this process with captured output (the CLI's io port), as
// the CLI tests call it: its exit status and what it printed on stdout and stderr.
import { main } from '../../src/cli/main.ts';
import { processIo, type CliIo } from '../../src/cli/io.ts';

export async function cli(argv: readonly string[], tty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += t), err: (t) => void (err += t), tty, readFile: processIo.readFile };
  const code = await main(argv, io);
  return { code, out, err };
}
