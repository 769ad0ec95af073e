#!/usr/bin/env node
// The published package runs the compiled CLI; a source checkout runs the TypeScript directly
// (Node >= 22.18 strips types, but never under node_modules, hence dist/ when installed).
import { existsSync } from 'node:fs';
const built = new URL('../dist/src/cli/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : new URL('../src/cli/main.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
