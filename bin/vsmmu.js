#!/usr/bin/env node
// The `vsmmu` command. Installed (under node_modules) it runs the compiled dist/; in a source
// checkout it runs the TypeScript in src/ directly (Node's type stripping), never a dist/ that
// may be stale. Plain old syntax on purpose (no top-level await, no ?. or ??): on a Node that
// is too old this file must still parse, and say which version is needed.
import { existsSync, realpathSync } from 'fs';
import module from 'module';
import { fileURLToPath, pathToFileURL } from 'url';
import { dirname, join, sep } from 'path';

// The installed package's floor (package.json engines), and the checkout's (the Node the
// project pins as a devDependency: .ts sources, import.meta.main).
var INSTALLED = [20, 19];
var CHECKOUT = [24, 0];

var root = dirname(dirname(realpathSync(fileURLToPath(import.meta.url))));
var source = join(root, 'src', 'cli', 'main.ts');
var checkout = existsSync(source) && root.split(sep).indexOf('node_modules') < 0;
var need = checkout ? CHECKOUT : INSTALLED;
var have = process.versions.node.split('.').map(Number);

if (have[0] < need[0] || (have[0] === need[0] && have[1] < need[1])) {
  process.stderr.write('vsmmu: needs Node.js >= ' + (need[1] ? need.join('.') : need[0]) + (checkout ? ' to run from a source checkout' : '') +
    ', this is ' + process.version + (checkout ? " (run 'npm install', then 'npx vsmmu')" : '') + '\n');
  process.exitCode = 1;
} else {
  // Node's on-disk compile cache (in the OS temp dir, keyed by each file's content): a
  // command loads the whole stack, and with the cache it starts in about half the time (the
  // type stripping of src/ is cached too). Worker threads and child processes inherit it
  // through the environment.
  var cache = module.enableCompileCache ? module.enableCompileCache() : null;
  if (cache && cache.directory && !process.env.NODE_COMPILE_CACHE) process.env.NODE_COMPILE_CACHE = cache.directory;
  var entry = checkout ? source : join(root, 'dist', 'src', 'cli', 'main.js');
  import(pathToFileURL(entry).href)
    .then(function (m) { return m.main(process.argv.slice(2)); })
    .then(function (status) { process.exitCode = status; }, function (e) {
      process.stderr.write('vsmmu: ' + (e && e.stack ? e.stack : String(e)) + '\n');
      process.exitCode = 1;
    });
}
