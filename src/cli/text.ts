// Input echoed in a message (a file name, a value, a line of a file) is shown with its control
// characters escaped: a NUL, an escape sequence or a bidi override in a bad xl.cfg must not
// reach the terminal raw.

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// C0 and C1 controls, DEL, line/paragraph separators and the bidi embeddings and isolates.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** `text` with every control character written as an escape (\n, \t, \r, \xHH, \uHHHH). */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
