// The `callvault` command as an operator runs it: a real child process (node bin/callvault.js)
// over real data directories in temporary folders.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { metaHeader, tusCreate } from './helpers/tus.ts';
import { after, before, describe, it } from 'node:test';
import { BIN, type CliResult, isListening, listensNow, REPO_ROOT, runCli, startCli, startServing, tempRoot, waitForHttp } from './helpers/cli.ts';
import { releaseTestArchivesUnder, TEST_CATALOG } from './helpers/catalog.ts';
import { fileEventsOf } from './helpers/strace.ts';

const KEY_FILES = ['archive-identity.txt', 'audit-signing.pem', 'blind-index.key', 'secrets.key'];
const KEY_LINE = /^cvk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

const mode = async (p: string) => (await stat(p)).mode & 0o777;
const octal = (m: number) => m.toString(8).padStart(4, '0');

function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1]!;
}

/** The archive in `dir` has its catalog: DATA/catalog.sqlite, or (PostgreSQL test catalog) its marker says so. */
async function assertCatalog(dir: string): Promise<void> {
  if (TEST_CATALOG === 'sqlite') assert.ok((await stat(join(dir, 'catalog.sqlite'))).size > 0);
  else assert.equal((JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')) as { catalog: string }).catalog, 'postgres');
}

function show(r: CliResult): string {
  return `exit ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Every file under `dir` with its size, mtime and content, to prove nothing changed. */
async function fingerprint(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    const st = await stat(p);
    out.set(p, e.isFile() ? `${st.mtimeMs}:${st.mode}:${(await readFile(p)).toString('base64')}` : `dir:${st.mode}`);
  }
  return out;
}

describe('callvault CLI', () => {
  let root: string;
  let data: string;
  let initRun: CliResult;

  before(async () => {
    root = await tempRoot();
    data = join(root, 'archive');
    initRun = await runCli(['init', '--data', data]);
  });
  after(async () => {
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  describe('init', () => {
    it('creates the data directory 0700, the keys 0600, the catalog, and prints an enrollment link', async () => {
      assert.equal(initRun.code, 0, show(initRun));
      assert.equal(octal(await mode(data)), '0700');
      assert.equal(octal(await mode(join(data, 'keys'))), '0700');
      assert.deepEqual((await readdir(join(data, 'keys'))).sort(), [...KEY_FILES].sort());
      for (const f of KEY_FILES) assert.equal(octal(await mode(join(data, 'keys', f))), '0600', f);
      await assertCatalog(data);
      assert.match(initRun.stdout, /https?:\/\/[^\s]+\/enroll#token=[A-Za-z0-9_-]{20,}/);
      assert.match(await readFile(join(data, 'keys', 'archive-identity.txt'), 'utf8'), /^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
    });

    it('makes the keys and the marker durable before it returns: each file synced after its bytes, then the directories holding their names', async () => {
      // Without this, a power cut soon after init could leave empty key files behind calls
      // already sealed to them. Watched from outside with strace.
      const made = join(root, 'durable', 'archive');
      const script = `import { initArchive } from ${JSON.stringify(new URL('../src/cli/archive.ts', import.meta.url).href)};
        await initArchive(process.argv[1]);`;
      const events = fileEventsOf(script, [made]);
      const at = (e: string) => events.lastIndexOf(e);
      const files = [...KEY_FILES.map((f) => join(made, 'keys', f)), join(made, 'callvault.json')];
      for (const f of files) {
        assert.ok(at(`write ${f}`) >= 0, `${f} is written`);
        assert.ok(at(`sync ${f}`) > at(`write ${f}`), `${f} is synced after its bytes`);
      }
      const lastKey = Math.max(...KEY_FILES.map((f) => at(`open ${join(made, 'keys', f)}`)));
      assert.ok(at(`sync ${join(made, 'keys')}`) > lastKey, 'the keys directory is synced after the last key is created');
      assert.ok(at(`sync ${made}`) > at(`open ${join(made, 'callvault.json')}`), 'the data directory is synced after the marker is created');
      for (const parent of [root, join(root, 'durable')]) assert.ok(at(`sync ${parent}`) >= 0, `${parent}, which holds the name of a directory init made, is synced`);
      await releaseTestArchivesUnder(join(root, 'durable'));
    });

    it('refuses a first administrator\'s name it could not enroll before it makes anything (init could not be run again on what it made)', async () => {
      const dir = join(root, 'bad-admin');
      const r = await runCli(['init', '--data', dir, '--admin', 'Bob Smith']);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /--admin "Bob Smith": a username is 2 to 64 lowercase letters/);
      await assert.rejects(stat(dir), { code: 'ENOENT' });
      const ok = await runCli(['init', '--data', dir, '--admin', 'bob']);
      assert.equal(ok.code, 0, show(ok));
      assert.match(ok.stdout, /administrator "bob"/);
    });

    it('refuses to run again on the same directory (exit 1, "exists") and changes nothing', async () => {
      const before = await fingerprint(data);
      const again = await runCli(['init', '--data', data]);
      assert.equal(again.code, 1, show(again));
      assert.match(again.stderr, /exists/);
      assert.doesNotMatch(again.stdout, /#token=/);
      assert.deepEqual(await fingerprint(data), before);
    });

    it('refuses a non-empty directory that is not an archive, and leaves it alone', async () => {
      const dir = join(root, 'not-empty');
      await mkdir(dir, { mode: 0o700 });
      await writeFile(join(dir, 'notes.txt'), 'keep me');
      const before = await fingerprint(dir);
      const r = await runCli(['init', '--data', dir]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /exists/);
      assert.deepEqual(await fingerprint(dir), before);
      assert.deepEqual(await readdir(dir), ['notes.txt']);
    });

    it('refuses a path that is a file', async () => {
      const file = join(root, 'a-file');
      await writeFile(file, 'x');
      const r = await runCli(['init', '--data', file]);
      assert.equal(r.code, 1, show(r));
      assert.equal(await readFile(file, 'utf8'), 'x');
    });

    it('takes the data directory from CALLVAULT_DATA instead of --data', async () => {
      const dir = join(root, 'from-env');
      const r = await runCli(['init'], { env: { CALLVAULT_DATA: dir } });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /#token=/);
      assert.equal(octal(await mode(dir)), '0700');
      await assertCatalog(dir);
    });

    it('turns an existing empty directory (as `mkdir` leaves it, 0755) into a working 0700 archive', async () => {
      const dir = join(root, 'pre-made');
      await mkdir(dir, { mode: 0o755 });
      const r = await runCli(['init', '--data', dir]);
      assert.equal(octal(await mode(dir)), '0700', 'the data directory must not stay readable by other users');
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /#token=/);
    });

    it('without --data or CALLVAULT_DATA: exit 1, naming CALLVAULT_DATA, creating nothing', async () => {
      const cwd = join(root, 'cwd-no-data');
      await mkdir(cwd);
      for (const args of [['init'], ['apikey', 'list'], ['serve', '--listen', '127.0.0.1:0']]) {
        const r = await runCli(args, { cwd });
        assert.equal(r.code, 1, `${args.join(' ')}: ${show(r)}`);
        assert.match(r.stderr, /CALLVAULT_DATA/, args.join(' '));
      }
      assert.deepEqual(await readdir(cwd), []);
    });
  });

  describe('apikey', () => {
    let keyId: string;
    let token: string;

    it('create prints the key, once, as the last line', async () => {
      const r = await runCli(['apikey', 'create', '--data', data, '--scope', 'ingest', '--name', 'pbx']);
      assert.equal(r.code, 0, show(r));
      token = lastLine(r.stdout);
      const m = KEY_LINE.exec(token);
      assert.ok(m, `last line is not a key: ${JSON.stringify(token)}`);
      keyId = m[1]!;
      assert.equal(r.stdout.split(token).length, 2, 'the key is printed exactly once');
      assert.doesNotMatch(r.stderr, /cvk_/);
    });

    it('list shows it active, by id and name, without the secret', async () => {
      const r = await runCli(['apikey', 'list', '--data', data]);
      assert.equal(r.code, 0, show(r));
      const line = r.stdout.split('\n').find((l) => l.includes(keyId));
      assert.ok(line, r.stdout);
      assert.match(line, /\bingest\b/);
      assert.match(line, /\bactive\b/);
      assert.match(line, /\bpbx\b/);
      const secret = token.split('_').slice(2).join('_');
      assert.ok(!r.stdout.includes(secret) && !r.stdout.includes(token), 'list must not show the secret');
      assert.doesNotMatch(r.stdout, /cvk_/);
    });

    it('revoke ID, then list shows it revoked; revoking again fails', async () => {
      const r = await runCli(['apikey', 'revoke', '--data', data, keyId]);
      assert.equal(r.code, 0, show(r));
      const list = await runCli(['apikey', 'list', '--data', data]);
      const line = list.stdout.split('\n').find((l) => l.includes(keyId));
      assert.ok(line, list.stdout);
      assert.match(line, /\brevoked\b/);
      assert.doesNotMatch(line, /\bactive\b/);
      const again = await runCli(['apikey', 'revoke', '--data', data, keyId]);
      assert.equal(again.code, 1, show(again));
    });

    it('a bad scope: exit 1 with a message, and no key is created', async () => {
      const r = await runCli(['apikey', 'create', '--data', data, '--scope', 'admin', '--name', 'sneaky']);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /scope/);
      assert.doesNotMatch(r.stdout, /cvk_/);
      const list = await runCli(['apikey', 'list', '--data', data]);
      assert.doesNotMatch(list.stdout, /sneaky/);
    });

    it('missing --scope or --name is a usage error (exit 2)', async () => {
      const r = await runCli(['apikey', 'create', '--data', data, '--name', 'x']);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /usage/);
    });
  });

  describe('serve', () => {
    it('refuses 0.0.0.0 without TLS: non-zero exit, a message about TLS and loopback, no port opened', async () => {
      for (const listen of ['0.0.0.0:8750', '[::]:8750']) {
        const p = startCli(['serve', '--data', data, '--listen', listen]);
        let everListening = false;
        let exited = false;
        void p.exited.then(() => { exited = true; });
        // The process's own sockets are watched, whatever port: another process may listen on 8750.
        while (!exited) {
          if (listensNow(p.child.pid!)) everListening = true;
          await new Promise((r) => setTimeout(r, 20));
        }
        const r = await p.exited;
        assert.notEqual(r.code, 0, `${listen}: ${show(r)}`);
        assert.equal(r.signal, null);
        assert.match(r.stderr, /TLS/, listen);
        assert.match(r.stderr, /loopback/, listen);
        assert.doesNotMatch(r.stdout, /listening/i, listen);
        assert.equal(everListening, false, `${listen}: the process listened`);
      }
    });

    it('a second start on an archive already served is refused before it touches the first one\'s enrollment link', async () => {
      const dir = join(root, 'started');
      assert.equal((await runCli(['init', '--data', dir])).code, 0);
      // Nobody has enrolled: each start prints a fresh link, and the links before it stop working.
      const first = await startServing(['start', '--data', dir], { env: { CALLVAULT_LOG_LEVEL: 'warn' } });
      try {
        assert.match(first.stdout(), /#token=/);
        const second = await runCli(['start', '--data', dir, '--listen', '127.0.0.1:0']);
        assert.equal(second.code, 1, show(second));
        assert.match(second.stderr, /is in use by callvault serve/);
        assert.doesNotMatch(second.stdout, /#token=|fresh link/, 'no new link, so the first still works');
      } finally {
        first.child.kill('SIGTERM');
        await first.exited;
      }
      const { openTestArchive } = await import('./helpers/catalog.ts');
      const a = await openTestArchive(dir);
      try {
        const links = await a.db.selectFrom('enrollments').select('used_at').execute();
        assert.equal(links.filter((l) => l.used_at === null).length, 1, 'the first start\'s link is the one unused link');
        assert.equal(links.length, 2, 'init\'s link and the first start\'s, no third');
      } finally {
        await a.close();
      }
    });

    it('serves /healthz on 127.0.0.1:PORT and stops cleanly on SIGTERM (exit 0, port closed)', async () => {
      const p = await startServing(['serve', '--data', data], { env: { CALLVAULT_LOG_LEVEL: 'warn' } });
      const { port } = p;
      try {
        assert.ok(listensNow(p.child.pid!), 'a serving process is seen listening (the probe of the test above)');
        const res = await waitForHttp(`http://127.0.0.1:${port}/healthz`);
        assert.deepEqual(await res.json(), { status: 'ok' });
        assert.equal(res.headers.get('server'), null);
        const anon = await fetch(`http://127.0.0.1:${port}/api/v1/recordings`);
        assert.equal(anon.status, 401);
        const t0 = Date.now();
        p.child.kill('SIGTERM');
        const r = await Promise.race([
          p.exited,
          new Promise<never>((_res, rej) => setTimeout(() => rej(new Error('serve did not stop within 5 s of SIGTERM')), 5000)),
        ]);
        assert.equal(r.signal, null, show(r));
        assert.equal(r.code, 0, show(r));
        assert.ok(Date.now() - t0 < 5000);
        assert.equal(await isListening(port), false);
      } finally {
        p.child.kill('SIGKILL');
      }
    });

    it('stops on SIGTERM within a few seconds even while an upload\'s PATCH is stalled mid-body', async () => {
      const created = await runCli(['apikey', 'create', '--data', data, '--scope', 'ingest', '--name', 'stalled']);
      assert.equal(created.code, 0, show(created));
      const key = lastLine(created.stdout);
      const p = await startServing(['serve', '--data', data], { env: { CALLVAULT_LOG_LEVEL: 'warn' } });
      const { url } = p;
      const meta = metaHeader({ startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'unit-a' });
      let patchReq: ReturnType<typeof request> | undefined;
      try {
        await waitForHttp(`${url}/healthz`);
        const c = await tusCreate(url, key, { 'upload-length': '100000', 'upload-metadata': meta });
        assert.equal(c.status, 201);
        patchReq = request(`${url}${c.headers.get('location')}`, {
          method: 'PATCH', agent: false,
          headers: { authorization: `Bearer ${key}`, 'tus-resumable': '1.0.0', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': '100000' },
        });
        patchReq.on('error', () => undefined);
        patchReq.write(Buffer.from('RIFF'));
        await new Promise((r) => setTimeout(r, 200));
        p.child.kill('SIGTERM');
        const r = await Promise.race([
          p.exited,
          new Promise<never>((_res, rej) => setTimeout(() => rej(new Error('serve did not stop within 5 s of SIGTERM while a PATCH was stalled')), 5000)),
        ]);
        assert.equal(r.code, 0, show(r));
      } finally {
        patchReq?.destroy();
        p.child.kill('SIGKILL');
        await p.exited;
      }
    });

    it('refuses a data directory that other users can read', async () => {
      const dir = join(root, 'loose');
      const init = await runCli(['init', '--data', dir]);
      assert.equal(init.code, 0, show(init));
      await chmod(dir, 0o755);
      const r = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0']);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /chmod 700/);
    });
  });

  describe('other verbs', () => {
    it('openapi prints an OpenAPI 3.1 document in which every operation declares x-callvault-access', async () => {
      const r = await runCli(['openapi']);
      assert.equal(r.code, 0, show(r));
      const doc = JSON.parse(r.stdout) as { openapi: string; paths: Record<string, Record<string, Record<string, unknown>>> };
      assert.match(doc.openapi, /^3\.1\./);
      const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ id: `${m.toUpperCase()} ${path}`, op })));
      assert.ok(ops.length >= 10, `only ${ops.length} operations`);
      for (const { id, op } of ops) {
        const access = op['x-callvault-access'] as { public?: boolean; why?: string; permission?: string } | undefined;
        assert.ok(access, `${id} has no x-callvault-access`);
        assert.ok((access.public === true && typeof access.why === 'string' && access.why.length > 0) || typeof access.permission === 'string', `${id}: ${JSON.stringify(access)}`);
      }
      assert.ok(ops.some(({ id }) => id === 'PATCH /api/v1/uploads/{id}'));
      assert.ok(ops.some(({ id }) => id === 'GET /healthz'));
    });

    it('an unknown command exits 2 with a message', async () => {
      const r = await runCli(['frobnicate']);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /unknown command "frobnicate"/);
    });

    it('no command prints the usage and exits 2; help exits 0', async () => {
      const none = await runCli([]);
      assert.equal(none.code, 2, show(none));
      assert.match(none.stdout, /Usage: callvault/);
      const help = await runCli(['--help']);
      assert.equal(help.code, 0, show(help));
      assert.match(help.stdout, /Usage: callvault/);
    });

    it('standard output that cannot be written (a full disk; a reader gone from the pipe): exit 1, said once, no stack trace', async () => {
      const full = openSync('/dev/full', 'w');
      try {
        const r = spawnSync(process.execPath, [BIN, 'openapi'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.status, 1, r.stderr);
        assert.equal(r.stderr, 'callvault: cannot write to standard output: ENOSPC\n');
      } finally {
        closeSync(full);
      }
      // A reader that leaves without reading (the document, 80 kB and more, is more than a pipe
      // holds, so a write fails): the command ends quietly with 1.
      const piped = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" openapi | true; exit \${PIPESTATUS[0]}`], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(piped.status, 1, piped.stderr);
      assert.equal(piped.stderr, '');
    });

    it('export of an unknown recording id: exit 1, no file written', async () => {
      const outFile = join(root, 'unknown.age');
      const r = await runCli(['export', '--data', data, '0'.repeat(32), '--out', outFile]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /no recording/);
      await assert.rejects(stat(outFile), { code: 'ENOENT' });
    });

    it('export of something that is not a recording id is a usage error (exit 2)', async () => {
      const r = await runCli(['export', '--data', data, '../../etc/passwd', '--out', join(root, 'x.age')]);
      assert.equal(r.code, 2, show(r));
    });

    it('`npx callvault help` works from the repository root', async () => {
      const binDir = join(REPO_ROOT, 'node_modules', '.bin');
      const env = { PATH: `${binDir}:${process.env.PATH ?? ''}` };
      for (const arg of ['help', '--help']) {
        const r = await runCli(['--no-install', 'callvault', arg], { command: 'npx', env, timeoutMs: 30_000 });
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /Usage: callvault <command>/);
        assert.match(r.stdout, /apikey create/);
      }
    });
  });
});
