// Walks the public API of an entry module with the TypeScript checker and returns every named
// type of this project that a public signature reaches but the entry does not export.
import ts from 'typescript';
import { dirname, resolve } from 'node:path';

export interface MissingType {
  readonly name: string;
  /** The path through the API where it was reached, e.g. "System.stats -> SystemStats.smmu". */
  readonly via: string;
}

function isInternal(decl: ts.Declaration): boolean {
  return ts.getJSDocTags(decl).some((t) => t.tagName.text === 'internal');
}

function isHidden(sym: ts.Symbol): boolean {
  if (sym.escapedName.toString().startsWith('__#')) return true; // #private
  return (sym.declarations ?? []).some(
    (d) => isInternal(d) || (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0,
  );
}

/** `entry`'s exported names that are missing for the types its public signatures use. */
export function missingPublicTypes(entry: string, tsconfig: string): MissingType[] {
  const cfg = ts.getParsedCommandLineOfConfigFile(tsconfig, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  if (!cfg) throw new Error(`cannot read ${tsconfig}`);
  const program = ts.createProgram([entry], { ...cfg.options, noEmit: true });
  const checker = program.getTypeChecker();
  const srcRoot = resolve(dirname(entry)) + '/';
  const file = program.getSourceFile(entry);
  if (!file) throw new Error(`cannot load ${entry}`);
  const moduleSym = checker.getSymbolAtLocation(file);
  if (!moduleSym) throw new Error(`${entry} is not a module`);

  const resolveAlias = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const exported = new Set(checker.getExportsOfModule(moduleSym).map(resolveAlias));
  const ours = (s: ts.Symbol | undefined): s is ts.Symbol =>
    s !== undefined && (s.declarations ?? []).some((d) => d.getSourceFile().fileName.startsWith(srcRoot));
  const named = (s: ts.Symbol): boolean =>
    (s.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum)) !== 0;

  const missing = new Map<string, string>();
  const seen = new Set<ts.Type>();
  const need = (s: ts.Symbol, via: string): void => {
    if (named(s) && ours(s) && !exported.has(s) && !missing.has(s.name)) missing.set(s.name, via);
  };

  const walkSignature = (sig: ts.Signature, via: string): void => {
    for (const p of sig.parameters) walkType(checker.getTypeOfSymbol(p), `${via}(${p.name})`);
    walkType(sig.getReturnType(), `${via}()`);
  };
  const walkMembers = (t: ts.Type, via: string): void => {
    for (const p of checker.getPropertiesOfType(t)) {
      if (!isHidden(p)) walkType(checker.getTypeOfSymbol(p), `${via}.${p.name}`);
    }
    for (const sig of t.getCallSignatures()) walkSignature(sig, via);
    for (const info of checker.getIndexInfosOfType(t)) walkType(info.type, `${via}[]`);
  };
  function walkType(t: ts.Type, via: string): void {
    if (seen.has(t)) return;
    seen.add(t);
    if (t.aliasSymbol) {
      need(t.aliasSymbol, via);
      for (const a of t.aliasTypeArguments ?? []) walkType(a, via);
    }
    if (t.isUnionOrIntersection()) {
      for (const m of t.types) walkType(m, via);
      return;
    }
    const sym = t.getSymbol();
    if (sym && named(sym) && !ours(sym)) {
      // A library type (Promise, ReadonlyArray, Map, ...): only its type arguments are ours.
      if (t.flags & ts.TypeFlags.Object && (t as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
        for (const a of checker.getTypeArguments(t as ts.TypeReference)) walkType(a, via);
      }
      return;
    }
    if (sym && ours(sym)) {
      need(sym, via);
      if (t.isClassOrInterface()) for (const b of checker.getBaseTypes(t)) walkType(b, `${sym.name} extends`);
      walkMembers(t, sym.name && named(sym) ? sym.name : via);
      return;
    }
    if (t.flags & ts.TypeFlags.Object) walkMembers(t, via);
  }

  for (const s of exported) {
    const decl = s.declarations?.[0];
    if (!decl) continue;
    if (s.flags & ts.SymbolFlags.Class) {
      walkType(checker.getDeclaredTypeOfSymbol(s), s.name);
      const statics = checker.getTypeOfSymbolAtLocation(s, decl);
      for (const p of checker.getPropertiesOfType(statics)) {
        if (p.name !== 'prototype' && !isHidden(p)) walkType(checker.getTypeOfSymbol(p), `${s.name}.${p.name}`);
      }
      for (const sig of statics.getConstructSignatures()) {
        if (!sig.declaration || !isInternal(sig.declaration)) walkSignature(sig, `new ${s.name}`);
      }
    } else if (s.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) {
      walkType(checker.getDeclaredTypeOfSymbol(s), s.name);
    } else if (s.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable)) {
      walkType(checker.getTypeOfSymbolAtLocation(s, decl), s.name);
    }
  }
  return [...missing].map(([name, via]) => ({ name, via }));
}
