// bench:seal — sealing throughput and range-read latency.
//
// 1. Seal a 1 GiB file into the local blob store (read, encrypt, write, fsync, rename), against
//    `cp` of the same file and the stock `age -r` on the same data, each writing to the same
//    disk and ending with fsync. Medians of RUNS runs; the figure is the ratio.
// 2. 10,000 random byte ranges of a sealed one-hour recording, read and decrypted through the
//    blob store, against the same ranges read from the plain file: added p95 latency.
//
// Usage: npm run bench:seal [-- --gib 1 --runs 5]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { beginSeal, generateIdentity, openRecording, sealedBound } from '../src/seal/index.ts';
import { createFsBlobStore } from '../src/store/fs.ts';
import type { BlobStore } from '../src/store/blob-store.ts';

const { values } = parseArgs({ options: { gib: { type: 'string', default: '1' }, runs: { type: 'string', default: '5' }, ranges: { type: 'string', default: '10000' } } });
const SIZE = Math.round(Number(values.gib) * 1024 ** 3);
const RUNS = Number(values.runs);
const RANGES = Number(values.ranges);
const BLOCK = 4 * 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const gbps = (bytes: number, ms: number) => bytes / 1e9 / (ms / 1000);

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
}

async function sealFile(store: BlobStore, input: string, recipient: string): Promise<{ key: string; header: Buffer }> {
  const sealer = beginSeal({ recipient, recordingId: 'bench' });
  const writer = await store.create();
  const fh = await open(input, 'r');
  try {
    // Two plaintext and two ciphertext buffers, reused: the next read and the previous
    // write run in the thread pool while this thread encrypts into the free buffer.
    const plain = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)];
    const sealed = [Buffer.allocUnsafe(sealedBound(BLOCK)), Buffer.allocUnsafe(sealedBound(BLOCK))];
    let pos = 0;
    let turn = 0;
    let pendingWrite: Promise<void> = writer.write(sealer.payloadPrefix);
    let nextRead = fh.read(plain[0]!, 0, BLOCK, 0);
    for (;;) {
      const { bytesRead } = await nextRead;
      if (bytesRead === 0) break;
      const block = plain[turn]!;
      const out = sealed[turn]!;
      pos += bytesRead;
      turn ^= 1;
      nextRead = fh.read(plain[turn]!, 0, BLOCK, pos);
      const end = sealer.pushInto(block.subarray(0, bytesRead), out, 0);
      await pendingWrite; // the other ciphertext buffer is free again
      pendingWrite = writer.write(out.subarray(0, end));
    }
    await pendingWrite;
    await writer.write(sealer.finish());
    await writer.commit();
  } finally {
    await fh.close();
  }
  return { key: writer.key, header: sealer.header };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'callvault-bench-'));
  try {
    const input = join(dir, 'input.bin');
    const block = randomBytes(64 * 1024 * 1024);
    const fh = await open(input, 'w');
    for (let w = 0; w < SIZE; w += block.length) await fh.write(block, 0, Math.min(block.length, SIZE - w));
    await fh.sync();
    await fh.close();
    const { identity, recipient } = generateIdentity();
    const store = await createFsBlobStore(join(dir, 'blobs'));
    console.log(`sealing ${(SIZE / 1024 ** 3).toFixed(2)} GiB, ${RUNS} runs each, medians; same disk, each ending with fsync`);

    const times: Record<'cp' | 'age' | 'seal', number[]> = { cp: [], age: [], seal: [] };
    // Outputs are kept until the end: deleting a large file (the disk may discard blocks)
    // slows the next writer, and each side should meet the same disk. The order of the three
    // sides rotates from run to run.
    const sides = {
      cp: async (run: number) => sh('sh', ['-c', `cp "${input}" "${dir}/copy-${run}" && sync "${dir}/copy-${run}"`]),
      age: async (run: number) => sh('sh', ['-c', `age -r ${recipient} -o "${dir}/out-${run}.age" "${input}" && sync "${dir}/out-${run}.age"`]),
      seal: async () => { await sealFile(store, input, recipient); },
    };
    const names = Object.keys(sides) as Array<keyof typeof sides>;
    for (let run = 0; run < RUNS; run++) {
      const line: string[] = [];
      for (let k = 0; k < names.length; k++) {
        const name = names[(run + k) % names.length]!;
        const t = performance.now();
        await sides[name](run);
        times[name].push(performance.now() - t);
        line.push(`${name} ${gbps(SIZE, times[name].at(-1)!).toFixed(2)} GB/s`);
      }
      console.log(`run ${run + 1}: ${line.join(', ')}`);
    }
    const cp = gbps(SIZE, median(times.cp));
    const age = gbps(SIZE, median(times.age));
    const seal = gbps(SIZE, median(times.seal));
    console.log(`median throughput: cp ${cp.toFixed(2)} GB/s, age ${age.toFixed(2)} GB/s, callvault seal ${seal.toFixed(2)} GB/s`);

    // One hour of 16-bit PCM at 8 kHz mono: 57.6 MB.
    const hour = randomBytes(3600 * 8000 * 2);
    const plainFile = join(dir, 'hour.raw');
    writeFileSync(plainFile, hour);
    const sealedHour = await (async () => {
      const s = beginSeal({ recipient, recordingId: 'hour' });
      const w = await store.create();
      await w.write(s.payloadPrefix);
      await w.write(s.push(hour));
      await w.write(s.finish());
      await w.commit();
      return { key: w.key, header: s.header, payloadSize: await store.size(w.key) };
    })();
    const opened = openRecording({ header: sealedHour.header, identity, recordingId: 'hour' });
    const plainFh = await open(plainFile, 'r');
    const ranges = Array.from({ length: RANGES }, () => {
      const len = 1 + Math.floor(Math.random() * 256 * 1024);
      const start = Math.floor(Math.random() * (hour.length - len));
      return [start, start + len] as const;
    });
    const plainMs: number[] = [];
    const sealedMs: number[] = [];
    for (const [start, end] of ranges) {
      let t = performance.now();
      const buf = Buffer.allocUnsafe(end - start);
      await plainFh.read(buf, 0, buf.length, start);
      plainMs.push(performance.now() - t);

      t = performance.now();
      let got = 0;
      for await (const piece of opened.readRange({ payloadSize: sealedHour.payloadSize, start, end, read: (o, l) => store.read(sealedHour.key, o, l) })) got += piece.length;
      sealedMs.push(performance.now() - t);
      if (got !== end - start) throw new Error(`range read returned ${got} bytes, expected ${end - start}`);
    }
    await plainFh.close();
    const added = pct(sealedMs, 0.95) - pct(plainMs, 0.95);
    console.log(`range reads (${RANGES}, 1 B..256 KiB, one-hour recording): plain p50 ${pct(plainMs, 0.5).toFixed(3)} ms p95 ${pct(plainMs, 0.95).toFixed(3)} ms; sealed p50 ${pct(sealedMs, 0.5).toFixed(3)} ms p95 ${pct(sealedMs, 0.95).toFixed(3)} ms`);
    console.log(`RESULT seal seal_vs_cp=${(seal / cp).toFixed(2)} seal_vs_age=${(seal / age).toFixed(2)} range_p95_added_ms=${added.toFixed(3)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
