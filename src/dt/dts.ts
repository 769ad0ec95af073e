// A small device-tree model with a DTS (source) writer and reader.
//
// The writer emits what dtc (device-tree-compiler) accepts without warnings when the tree is
// well-formed; the reader accepts our own output and what `dtc -I dtb -O dts` prints back
// (string lists as "a\0b", cells in hex, byte strings), so a generated tree can be compared
// with its round trip through the real compiler. Phandle references are plain numbers (Xen's
// reserved phandles, e.g. 65002 for the vSMMU), never labels: the tree stays self-contained.

import { VsmmuError } from '../errors.ts';

export type DtValue =
  | { readonly kind: 'empty' }
  | { readonly kind: 'strings'; readonly values: readonly string[] }
  | {
      readonly kind: 'cells';
      readonly values: readonly number[];
      /**
       * Phandle references: refs[i] is the label of the node cell i points at (written
       * `&label`, so dtc can check e.g. `iommus` against `#iommu-cells`); values[i] still
       * holds the phandle number it resolves to.
       */
      readonly refs?: readonly (string | undefined)[];
    }
  | { readonly kind: 'bytes'; readonly values: readonly number[] };

export interface DtProp {
  readonly name: string;
  readonly value: DtValue;
}

export interface DtNode {
  /** Node name with unit address (`iommu@4040000`); '' for the root. */
  readonly name: string;
  /** Source label (`vsmmu: iommu@4040000 { ... }`), target of `&vsmmu` references. */
  readonly label?: string;
  readonly props: DtProp[];
  readonly children: DtNode[];
}

// --- construction ------------------------------------------------------------------------

export function node(name: string, props: DtProp[] = [], children: DtNode[] = [], label?: string): DtNode {
  return label === undefined ? { name, props, children } : { name, label, props, children };
}

/** A phandle reference inside a cell list: the target's label and its phandle number. */
export interface DtRef {
  readonly ref: string;
  readonly phandle: number;
}
export function pEmpty(name: string): DtProp {
  return { name, value: { kind: 'empty' } };
}
export function pStr(name: string, ...values: string[]): DtProp {
  return { name, value: { kind: 'strings', values } };
}
export function pCells(name: string, ...items: (number | DtRef)[]): DtProp {
  const values = items.map((it) => (typeof it === 'number' ? it : it.phandle));
  for (const v of values) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new VsmmuError('EVSMMU_DT_CELL', `property "${name}": cell value ${v} is not a 32-bit unsigned integer`, { name, value: v });
    }
  }
  if (items.every((it) => typeof it === 'number')) return { name, value: { kind: 'cells', values } };
  const refs = items.map((it) => (typeof it === 'number' ? undefined : it.ref));
  return { name, value: { kind: 'cells', values, refs } };
}

// --- queries (used by generators' callers and tests) ---------------------------------------

/** The child at `path` ('/a/b@1'), or undefined. '/' is the root itself. */
export function findNode(root: DtNode, path: string): DtNode | undefined {
  let cur: DtNode | undefined = root;
  for (const part of path.split('/')) {
    if (part === '' || cur === undefined) continue;
    cur = cur.children.find((c: DtNode) => c.name === part);
  }
  return cur;
}
export function getProp(n: DtNode, name: string): DtValue | undefined {
  return n.props.find((p) => p.name === name)?.value;
}
export function cellsOf(n: DtNode, name: string): readonly number[] | undefined {
  const v = getProp(n, name);
  return v?.kind === 'cells' ? v.values : undefined;
}
export function stringsOf(n: DtNode, name: string): readonly string[] | undefined {
  const v = getProp(n, name);
  return v?.kind === 'strings' ? v.values : undefined;
}
/** Every node with its absolute path, depth first. */
export function walkNodes(root: DtNode): { path: string; node: DtNode }[] {
  const out: { path: string; node: DtNode }[] = [];
  const rec = (n: DtNode, path: string): void => {
    out.push({ path, node: n });
    for (const c of n.children) rec(c, path === '/' ? `/${c.name}` : `${path}/${c.name}`);
  };
  rec(root, '/');
  return out;
}

// --- writer ------------------------------------------------------------------------------

function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

function formatValue(v: DtValue): string {
  switch (v.kind) {
    case 'empty':
      return '';
    case 'strings':
      return ` = ${v.values.map(quote).join(', ')}`;
    case 'cells':
      return ` = <${v.values.map((x, i) => (v.refs?.[i] !== undefined ? `&${v.refs[i]}` : hex(x))).join(' ')}>`;
    case 'bytes':
      return ` = [${v.values.map((b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
  }
}

function writeNode(n: DtNode, depth: number, out: string[]): void {
  const ind = '\t'.repeat(depth);
  out.push(`${ind}${n.label === undefined ? '' : `${n.label}: `}${n.name === '' ? '/' : n.name} {`);
  for (const p of n.props) out.push(`${ind}\t${p.name}${formatValue(p.value)};`);
  for (const c of n.children) {
    out.push('');
    writeNode(c, depth + 1, out);
  }
  out.push(`${ind}};`);
}

/** DTS source (version 1) for the tree rooted at `root`, with an optional header comment. */
export function writeDts(root: DtNode, comment?: string): string {
  const out: string[] = ['/dts-v1/;', ''];
  if (comment !== undefined) {
    for (const l of comment.split('\n')) out.push(`// ${l}`);
    out.push('');
  }
  writeNode(root, 0, out);
  return `${out.join('\n')}\n`;
}

// --- reader ------------------------------------------------------------------------------

class Reader {
  pos = 0;
  readonly src: string;
  constructor(src: string) {
    this.src = src;
  }
  fail(msg: string): never {
    const before = this.src.slice(0, this.pos);
    const line = before.split('\n').length;
    const col = this.pos - before.lastIndexOf('\n');
    throw new VsmmuError('EVSMMU_DTS_SYNTAX', `DTS line ${line}, column ${col}: ${msg}`, { line, col });
  }
  skip(): void {
    for (;;) {
      const m = /^(?:\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/)/.exec(this.src.slice(this.pos));
      if (m === null) return;
      this.pos += m[0].length;
    }
  }
  peek(s: string): boolean {
    this.skip();
    return this.src.startsWith(s, this.pos);
  }
  eat(s: string): void {
    if (!this.peek(s)) this.fail(`expected "${s}"`);
    this.pos += s.length;
  }
  match(re: RegExp): string | null {
    this.skip();
    const m = re.exec(this.src.slice(this.pos));
    if (m === null || m.index !== 0) return null;
    this.pos += m[0].length;
    return m[0];
  }
  atEnd(): boolean {
    this.skip();
    return this.pos >= this.src.length;
  }
}

const NAME_RE = /^[A-Za-z0-9,._+*#?@-]+/;

function readString(r: Reader): string {
  r.eat('"');
  let out = '';
  for (;;) {
    const ch = r.src[r.pos];
    if (ch === undefined || ch === '\n') r.fail('unterminated string');
    r.pos++;
    if (ch === '"') return out;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = r.src[r.pos++];
    if (e === 'n') out += '\n';
    else if (e === 't') out += '\t';
    else if (e === 'r') out += '\r';
    else if (e === 'x') {
      const h = /^[0-9a-fA-F]{1,2}/.exec(r.src.slice(r.pos));
      if (h === null) r.fail('bad \\x escape');
      out += String.fromCharCode(parseInt(h[0], 16));
      r.pos += h[0].length;
    } else if (e !== undefined && /[0-7]/.test(e)) {
      const o = /^[0-7]{1,3}/.exec(r.src.slice(r.pos - 1));
      out += String.fromCharCode(parseInt(o?.[0] ?? '0', 8));
      r.pos += (o?.[0].length ?? 1) - 1;
    } else if (e !== undefined) out += e;
  }
}

function readNumber(r: Reader): number {
  const t = r.match(/^(?:0[xX][0-9a-fA-F]+|[0-9]+)/);
  if (t === null) r.fail('expected a number');
  const v = Number(t);
  if (v > 0xffff_ffff) r.fail(`cell ${t} does not fit 32 bits`);
  return v;
}

function readValue(r: Reader, name: string): DtValue {
  const strings: string[] = [];
  const cells: number[] = [];
  const refs: (string | undefined)[] = [];
  const bytes: number[] = [];
  for (;;) {
    if (r.peek('"')) strings.push(readString(r));
    else if (r.peek('<')) {
      r.eat('<');
      while (!r.peek('>')) {
        if (r.peek('&')) {
          r.eat('&');
          const label = r.match(/^[A-Za-z_][A-Za-z0-9_]*/);
          if (label === null) r.fail(`property "${name}": expected a label after "&"`);
          refs[cells.length] = label;
          cells.push(0); // resolved to the target's phandle once the whole tree is read
        } else cells.push(readNumber(r));
      }
      r.eat('>');
    } else if (r.peek('[')) {
      r.eat('[');
      while (!r.peek(']')) {
        const b = r.match(/^[0-9a-fA-F]{2}/);
        if (b === null) r.fail('expected a byte');
        bytes.push(parseInt(b, 16));
      }
      r.eat(']');
    } else r.fail(`property "${name}": expected a value`);
    if (!r.peek(',')) break;
    r.eat(',');
  }
  const kinds = (strings.length > 0 ? 1 : 0) + (cells.length > 0 ? 1 : 0) + (bytes.length > 0 ? 1 : 0);
  if (kinds > 1) r.fail(`property "${name}": mixed value kinds are not supported`);
  // dtc prints a string list as one string with embedded NULs: split it back.
  if (strings.length > 0) return { kind: 'strings', values: strings.flatMap((s) => s.split('\0')) };
  if (bytes.length > 0) return { kind: 'bytes', values: bytes };
  return refs.length > 0 ? { kind: 'cells', values: cells, refs: cells.map((_, i) => refs[i]) } : { kind: 'cells', values: cells };
}

function readBody(r: Reader, n: DtNode): void {
  r.eat('{');
  while (!r.peek('}')) {
    const label = r.match(/^[A-Za-z_][A-Za-z0-9_]*:/)?.slice(0, -1);
    const name = r.match(NAME_RE);
    if (name === null) r.fail('expected a property or node name');
    if (r.peek('{')) {
      const child = node(name, [], [], label);
      readBody(r, child);
      n.children.push(child);
    } else if (r.peek('=')) {
      r.eat('=');
      n.props.push({ name, value: readValue(r, name) });
      r.eat(';');
    } else {
      r.eat(';');
      n.props.push(pEmpty(name));
    }
  }
  r.eat('}');
  r.eat(';');
}

/** Parse DTS source (version 1, no includes, no label references) into a tree. */
export function parseDts(src: string): DtNode {
  const r = new Reader(src);
  r.eat('/dts-v1/');
  r.eat(';');
  while (r.peek('/memreserve/')) {
    r.eat('/memreserve/');
    readNumber(r);
    readNumber(r);
    r.eat(';');
  }
  const root = node('');
  while (!r.atEnd()) {
    r.eat('/');
    readBody(r, root); // several root blocks merge, as in dtc
  }
  return resolveRefs(root);
}

/** Replace `&label` cells by the phandle of the labelled node (its `phandle` property). */
function resolveRefs(root: DtNode): DtNode {
  const byLabel = new Map<string, number>();
  for (const { node: n } of walkNodes(root)) {
    const ph = cellsOf(n, 'phandle')?.[0];
    if (n.label !== undefined && ph !== undefined) byLabel.set(n.label, ph);
  }
  const fix = (n: DtNode): DtNode => ({
    ...n,
    props: n.props.map((p) => {
      const v = p.value;
      if (v.kind !== 'cells' || v.refs === undefined) return p;
      const refs = v.refs;
      const values = v.values.map((x, i) => {
        const l = refs[i];
        if (l === undefined) return x;
        const ph = byLabel.get(l);
        if (ph === undefined) {
          throw new VsmmuError('EVSMMU_DTS_SYNTAX', `property "${p.name}": reference &${l} names no node with a label and a phandle property`, { label: l });
        }
        return ph;
      });
      return { name: p.name, value: { kind: 'cells', values, refs } };
    }),
    children: n.children.map(fix),
  });
  return fix(root);
}
