// A slow disk, simulated (the test machine's disk cannot be slowed for real): preloaded with
// `node --import`, it delays every FileHandle.writev (the ingest journal's write) by
// CALLVAULT_TEST_SLOW_WRITEV_MS milliseconds, so a flush is long enough to race with requests.
import { open } from 'node:fs/promises';

const ms = Number(process.env.CALLVAULT_TEST_SLOW_WRITEV_MS ?? 0);
if (ms > 0) {
  const fh = await open(process.execPath, 'r');
  const proto = Object.getPrototypeOf(fh) as { writev: (...a: unknown[]) => Promise<unknown> };
  await fh.close();
  const writev = proto.writev;
  proto.writev = async function (this: unknown, ...a: unknown[]) {
    await new Promise((r) => setTimeout(r, ms));
    return writev.apply(this, a);
  };
}
