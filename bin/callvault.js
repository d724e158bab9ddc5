#!/usr/bin/env node
// Entry point of the `callvault` command. callvault needs Node.js 24 or newer; say so plainly
// instead of failing later on a missing API.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`callvault needs Node.js 24 or newer (this is ${process.version}).\n` +
    'From a checkout, run it through npm (npm start, npx callvault), which uses the Node.js 24 the project installs.\n');
  process.exit(1);
}
const { existsSync } = await import('node:fs');
// From a checkout, run the TypeScript sources directly; an installed package runs its build.
const source = new URL('../src/main.ts', import.meta.url);
const entry = existsSync(source) ? source : new URL('../dist/src/main.js', import.meta.url);
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
// A failure of standard output, met before main returned, has set 1 already.
process.exitCode = Math.max(Number(process.exitCode ?? 0), code);
