import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { COPY_PLAN } from './copy-plan.ts';
import { planFor } from './copy.ts';
import { openCatalog } from './db.ts';

it('the copy plan knows every table the migrations create, each once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cv-copy-plan-'));
  const db = await openCatalog({ file: join(dir, 'catalog.sqlite') });
  try {
    const tables = (await db.introspection.getTables()).map((t) => t.name).sort();
    assert.deepEqual((await planFor(db)).map((p) => p.table).sort(), tables);
    assert.equal(new Set(COPY_PLAN.map((p) => p.table)).size, COPY_PLAN.length);
    assert.equal(COPY_PLAN[0]!.table, 'archive_binding', 'the copy claims its target first');
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
