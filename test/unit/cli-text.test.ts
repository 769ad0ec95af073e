// Control characters from the input never reach the terminal raw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printable } from '../../src/cli/text.ts';

describe('printable', () => {
  it('escapes C0/C1 controls, DEL, line separators and bidi overrides; keeps the rest', () => {
    expect(printable('a\u0000b\u001b[31mc\u007f\u0085')).toBe('a\\x00b\\x1b[31mc\\x7f\\x85');
    expect(printable('x\ny\tz\r')).toBe('x\\ny\\tz\\r');
    expect(printable('\u202egnp.exe\u2066\u2028')).toBe('\\u202egnp.exe\\u2066\\u2028');
    expect(printable('guest.cfg:2:10: µs “ok” 日本')).toBe('guest.cfg:2:10: µs “ok” 日本');
  });
  it('leaves no control character in any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(printable(s)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u);
      }),
    );
  });
});
