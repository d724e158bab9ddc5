// Shared setup of the browser tests: real calls uploaded over tus, as a call platform would.
import { makeRawG711 } from '../../src/ingest/g711.ts';
import { makeWav, sineWaveS16 } from '../../src/ingest/wav.ts';
import { ingestKey, type TestServer } from '../helpers/archive.ts';
import { recordingIdOf, tusUpload } from '../helpers/tus.ts';

export interface Calls {
  /** 40 s of stereo G.711 µ-law (one leg per channel), care unit Akuten, with caller and callee. */
  stereo: string;
  /** 30 s of mono 16-bit WAV at 16 kHz, care unit Barn. */
  mono: string;
}

export const STEREO_CALLER = '0701234567';

export async function uploadCalls(s: TestServer): Promise<Calls> {
  const key = await ingestKey(s);
  const g711 = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 2, seconds: 40, hz: 440 });
  const stereo = recordingIdOf(await tusUpload(s.url, key, g711, {
    startedAt: '2026-11-24T09:15:00+01:00', direction: 'inbound', careUnit: 'Akuten', callId: 'call-1001', agentId: 'agent-7',
    caller: STEREO_CALLER, callee: '0771-11 77 11', codec: 'pcmu', sampleRate: '8000', channels: '2',
  }));
  const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 16000, channels: 1, samples: sineWaveS16({ sampleRate: 16000, seconds: 30, hz: 330, channels: 1 }) });
  const mono = recordingIdOf(await tusUpload(s.url, key, wav, {
    startedAt: '2026-11-23T14:40:00+01:00', direction: 'outbound', careUnit: 'Barn', callId: 'call-1002', agentId: 'agent-9', caller: '0709876543',
  }));
  return { stereo, mono };
}
