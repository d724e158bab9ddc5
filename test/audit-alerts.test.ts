// Alerts on unusual access: stored for auditors, logged, and sent to a webhook.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollSupervisor, ingestKey, signIn, startTestServer, type TestServer } from './helpers/archive.ts';
import { runCli } from './helpers/cli.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

describe('audit alerts', () => {
  let s: TestServer;
  let hook: Server;
  const received: Array<Record<string, unknown>> = [];

  before(async () => {
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; }).on('end', () => { received.push(JSON.parse(body)); res.end(); });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const port = (hook.address() as { port: number }).port;
    // Working hours that exclude the present hour, whatever it is.
    const h = Number(new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone: 'Europe/Stockholm' }).format(new Date()));
    s = await startTestServer({
      CALLVAULT_ALERT_PLAYS_PER_HOUR: '3', CALLVAULT_ALERT_DENIALS: '3', CALLVAULT_ALERT_WEBHOOK: `http://127.0.0.1:${port}/alerts`,
      CALLVAULT_ALERT_WORKING_HOURS: `${(h + 1) % 24}-${(h + 2) % 24 || 24}`,
    });
  });
  after(async () => {
    await s.close();
    await new Promise((r) => hook.close(r));
  });

  it('too many plays, access outside working hours and repeated denials each raise one alert', async () => {
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(1) });
    const id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'unit-a', caller: '0701112233' }));
    const admin = await signIn(s, await enrollSupervisor(s));
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: admin.cookie, range: `bytes=${i}-${i + 10}` } });
      await res.arrayBuffer();
    }
    for (let i = 0; i < 4; i++) await fetch(`${s.url}/api/v1/recordings/${'0'.repeat(32)}`, { headers: { cookie: admin.cookie } }).then((r) => r.arrayBuffer());
    await s.running.alerts.settled();
    const rows = await s.archive.db.selectFrom('audit_alerts').selectAll().execute();
    const rules = rows.map((r) => r.rule).sort();
    assert.deepEqual(rules, ['outside_working_hours', 'plays_per_hour', 'repeated_denials'], rows.map((r) => r.summary).join('\n'));
    assert.deepEqual(received.map((r) => r.rule).sort(), rules);
    assert.ok(received.every((r) => r.source === 'callvault' && !JSON.stringify(r).includes('0701112233')));
    assert.ok(s.logs.some((l) => l.includes('audit alert')));
    const cli = await runCli(['audit', 'alerts', '--data', s.dir]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /plays_per_hour/);
  });
});

describe('audit alerts under a flood', () => {
  it('once a rule has fired for someone, their further events cost no catalog read until its quiet hour is over', async () => {
    const { createAlertEngine, DEFAULT_RULES } = await import('../src/audit/alerts.ts');
    const s = await startTestServer();
    try {
      // Someone playing calls by the thousand is whom the rule is for: each of their plays must
      // not read the others (which made the server's appends five times slower under such a load).
      let queries = 0;
      const counted = s.archive.db.withPlugin({
        transformQuery: (args) => {
          queries++;
          return args.node;
        },
        transformResult: async (args) => args.result,
      });
      const engine = createAlertEngine({ db: counted, rules: { ...DEFAULT_RULES, playsPerHour: 3 }, log: () => undefined });
      const actor = { type: 'user' as const, id: 'c'.repeat(32), role: 'agent' };
      const play = { action: 'recording.played' as const, actor, outcome: 'success' as const, object: { type: 'recording' as const, id: 'd'.repeat(32) }, careUnit: 'unit-a' };
      for (let i = 0; i < 4; i++) {
        await s.archive.audit.record(play);
        engine.observe(play, Date.now());
      }
      await engine.settled();
      assert.equal((await s.archive.db.selectFrom('audit_alerts').select('id').where('actor_id', '=', actor.id).execute()).length, 1);
      const before = queries;
      for (let i = 0; i < 200; i++) {
        await s.archive.audit.record(play);
        engine.observe(play, Date.now());
      }
      await engine.settled();
      assert.equal(queries - before, 0, 'no catalog read while the alert is quiet');
      // An hour on, the rule counts again.
      engine.observe(play, Date.now() + 3_600_000);
      await engine.settled();
      assert.ok(queries > before, 'the rule evaluates again after its quiet hour');
    } finally {
      await s.close();
    }
  });
});

describe('audit alerts over several nodes', () => {
  it('count from the shared log: plays spread over two nodes (or a restart) reach the limit, and the alert fires once', async () => {
    const { createAlertEngine, DEFAULT_RULES } = await import('../src/audit/alerts.ts');
    const s = await startTestServer();
    try {
      const rules = { ...DEFAULT_RULES, playsPerHour: 3 };
      const lines: Array<Record<string, unknown>> = [];
      // Two engines over one catalog, as on two nodes (or before and after a restart).
      const nodes = [createAlertEngine({ db: s.archive.db, rules, log: (l) => lines.push(l) }), createAlertEngine({ db: s.archive.db, rules, log: (l) => lines.push(l) })];
      const actor = { type: 'user' as const, id: 'a'.repeat(32), role: 'supervisor' };
      for (let i = 0; i < 6; i++) {
        const event = { action: 'recording.played' as const, actor, outcome: 'success' as const, object: { type: 'recording' as const, id: 'b'.repeat(32) }, careUnit: 'unit-a', details: { start: 0, end: 10 } };
        await s.archive.audit.record(event);
        nodes[i % 2]!.observe(event, Date.now());
        await nodes[i % 2]!.settled();
      }
      const rows = await s.archive.db.selectFrom('audit_alerts').selectAll().where('rule', '=', 'plays_per_hour').execute();
      assert.equal(rows.length, 1, 'one alert, though each node saw only three plays');
      assert.match(rows[0]!.summary, /^more than 3 plays within an hour/);
      assert.equal(lines.filter((l) => l.alert === 'plays_per_hour').length, 1);
    } finally {
      await s.close();
    }
  });
});
