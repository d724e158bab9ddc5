import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAudioSource, encodeLoop, loopSource, onPath, parsePcmWav, resample, synthesizeSpeech, synthesizeTones } from './audio.ts';

function pcmWav(samples: Int16Array, rate: number, channels = 1): Buffer {
  const data = Buffer.alloc(samples.length * 2 * channels);
  for (let i = 0; i < samples.length; i++) for (let c = 0; c < channels; c++) data.writeInt16LE(c === 0 ? samples[i]! : -1, (i * channels + c) * 2);
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE(rate * 2 * channels, 8);
  fmt.writeUInt16LE(2 * channels, 12);
  fmt.writeUInt16LE(16, 14);
  const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0')]); // odd size, padded
  const body = Buffer.concat([Buffer.from('WAVE'), Buffer.from('fmt '), Buffer.from([16, 0, 0, 0]), fmt, list, Buffer.from('data'), Buffer.alloc(4), data]);
  body.writeUInt32LE(data.length, 4 + 8 + 16 + list.length + 4);
  const head = Buffer.from('RIFF\0\0\0\0');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

function sine(rate: number, hz: number, seconds: number, amp = 10000): Int16Array {
  return Int16Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));
}

const crossings = (xs: Int16Array) => {
  let n = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i - 1]! < 0) !== (xs[i]! < 0)) n++;
  return n;
};
const rms = (xs: Int16Array) => Math.sqrt(xs.reduce((s, v) => s + v * v, 0) / xs.length);

test('parsePcmWav reads channel 0 past other chunks; refuses what is not 16-bit PCM', () => {
  const s = sine(22050, 440, 0.1);
  const wav = parsePcmWav(pcmWav(s, 22050, 2));
  assert.equal(wav.rate, 22050);
  assert.deepEqual(wav.samples, s);
  assert.throws(() => parsePcmWav(Buffer.from('RIFF\0\0\0\0WAVX')), /not a WAV/);
  const eightBit = pcmWav(s, 8000);
  eightBit.writeUInt16LE(8, 20 + 14);
  assert.throws(() => parsePcmWav(eightBit), /16-bit PCM/);
});

test('parsePcmWav takes what is there when the data size is unset (0xFFFFFFFF)', () => {
  const s = sine(22050, 300, 0.05);
  const wav = pcmWav(s, 22050);
  wav.writeUInt32LE(0xffffffff, wav.length - s.length * 2 - 4);
  assert.deepEqual(parsePcmWav(wav).samples, s);
});

test('resample 22050 -> 8000 Hz keeps pitch, level and length', () => {
  const input = sine(22050, 440, 1);
  const out = resample(input, 22050, 8000);
  assert.equal(out.length, 8000);
  assert.ok(Math.abs(crossings(out) - 880) <= 2, `zero crossings ${crossings(out)}`);
  assert.ok(Math.abs(rms(out) / rms(input) - 1) < 0.05, `level ratio ${rms(out) / rms(input)}`);
});

test('resample attenuates what 8 kHz cannot hold (no loud alias of a 7 kHz tone)', () => {
  const out = resample(sine(22050, 7000, 1), 22050, 8000);
  assert.ok(rms(out) < 0.45 * rms(sine(8000, 1000, 1)), `alias rms ${rms(out)}`);
});

test('the tone loop is deterministic, voice-level, and encodes to G.711', () => {
  const a = synthesizeTones(2);
  assert.deepEqual(a, synthesizeTones(2));
  assert.equal(a.length, 16000);
  assert.ok(rms(a) > 500 && rms(a) < 12000);
  const mono = encodeLoop(a, 'pcmu', 1);
  assert.equal(mono.length, 16000);
  const stereo = encodeLoop(a, 'pcma', 2);
  assert.equal(stereo.length, 32000);
  assert.notDeepEqual(stereo.subarray(0, 100), encodeLoop(a, 'pcmu', 2).subarray(0, 100));
  // The second leg is the first half a loop later.
  assert.equal(stereo[1], stereo[2 * 8000]);
});

test('loopSource reads on across the end of the loop', () => {
  const src = loopSource(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), 'pcmu', 1, 'tones');
  assert.deepEqual([...src.read(3, 4)], [3, 4, 5, 6]);
  assert.deepEqual([...src.read(8, 5)], [8, 9, 0, 1, 2]);
  assert.deepEqual([...src.read(23, 25)], [3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual([...src.read(4, 0)], []);
  assert.throws(() => loopSource(Buffer.from([1, 2, 3]), 'pcmu', 2, 'tones'), RangeError);
});

test('createAudioSource: tones when speech is off; rates and frames by channels', async () => {
  const mono = await createAudioSource({ codec: 'pcmu', channels: 1, speech: 'off' });
  assert.equal(mono.content, 'tones');
  assert.equal(mono.bytesPerSecond, 8000);
  assert.equal(mono.frameBytes, 1);
  const stereo = await createAudioSource({ codec: 'pcma', channels: 2, speech: 'off' });
  assert.equal(stereo.bytesPerSecond, 16000);
  assert.equal(stereo.loopBytes % 2, 0);
});

test('onPath finds executables in PATH only', () => {
  assert.equal(onPath('sh', '/bin:/usr/bin'), true);
  assert.equal(onPath('sh', '/nonexistent'), false);
  assert.equal(onPath('definitely-not-a-command-here'), false);
});

test('speech prompts from espeak-ng', async () => {
  assert.ok(onPath('espeak-ng'), 'espeak-ng is needed for this check (Debian package "espeak-ng"; npm test installs it)');
  const speech = await synthesizeSpeech();
  assert.ok(speech, 'espeak-ng is on the PATH but gave no audio');
  assert.ok(speech.length > 8000 * 5, `only ${speech.length} samples`);
  assert.ok(rms(speech) > 300, `rms ${rms(speech)}`);
  const src = await createAudioSource({ codec: 'pcmu', channels: 1 });
  assert.equal(src.content, 'speech');
});
