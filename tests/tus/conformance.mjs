// conformance.mjs - hosod's tus endpoint driven by tus-js-client, the client that web
// and React Native apps use, as an independent check of docs/protocol.md 4.5b.
//
// usage: node conformance.mjs BASE_URL TOKEN DIR
// DIR holds scan.png (uploaded whole), resume.png (cut after its first piece, then
// resumed from a new Upload that only knows the URL), gone.png (begun, then ended with
// DELETE) and setup.exe (refused by the media check). One JSON line per step on
// stdout; the caller checks the server's side. Exit 1 on the first step that fails.
import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';

const [base, token, dir] = process.argv.slice(2);
if (!base || !token || !dir) {
  console.error('usage: node conformance.mjs BASE_URL TOKEN DIR');
  process.exit(2);
}
const endpoint = `${base}/v1/uploads`;
const auth = { Authorization: `Bearer ${token}` };
const PIECE = 256 * 1024;

function report(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

function fail(step, why) {
  report(step, { ok: false, why: String(why) });
  process.exit(1);
}

// Starts an Upload and settles with it when it succeeds or fails (never retries: a
// refusal must surface as the server's status).
function run(file, options) {
  return new Promise((resolve) => {
    const up = new tus.Upload(file, {
      endpoint,
      headers: auth,
      chunkSize: PIECE,
      retryDelays: [],
      ...options,
      onSuccess: () => resolve({ up, ok: true }),
      onError: (err) => resolve({ up, ok: false, err }),
    });
    if (options.hook) options.hook(up);
    up.start();
  });
}

const status = (err) => (err && err.originalResponse ? err.originalResponse.getStatus() : 0);

// 1. A whole file, in pieces.
{
  const file = readFileSync(`${dir}/scan.png`);
  let pieces = 0;
  const r = await run(file, {
    metadata: { filename: 'Giấy khai sinh.png', filetype: 'image/png' },
    onChunkComplete: () => pieces++,
  });
  if (!r.ok) fail('upload', r.err);
  report('upload', { ok: true, url: r.up.url, pieces, size: file.length });
}

// 2. Cut after the first piece; a new Upload given only the URL asks the server (HEAD)
// and goes on from its offset.
{
  const file = readFileSync(`${dir}/resume.png`);
  let url = null;
  const first = await new Promise((resolve) => {
    const up = new tus.Upload(file, {
      endpoint,
      headers: auth,
      chunkSize: PIECE,
      retryDelays: [],
      metadata: { filename: 'resume.png' },
      onChunkComplete: (sent) => {
        url = up.url;
        up.abort(false).then(() => resolve(sent));
      },
      onSuccess: () => resolve(-1),
      onError: (err) => fail('resume-cut', err),
    });
    up.start();
  });
  if (first !== PIECE || !url) fail('resume-cut', `cut at ${first}`);
  let resumedFrom = -1;
  const r = await run(file, {
    uploadUrl: url,
    onProgress: (sent) => {
      if (resumedFrom < 0) resumedFrom = sent;
    },
  });
  if (!r.ok) fail('resume', r.err);
  if (r.up.url !== url) fail('resume', `a new upload was made: ${r.up.url}`);
  if (resumedFrom < first) fail('resume', `started again at ${resumedFrom}, not from ${first}`);
  report('resume', { ok: true, url, cut_at: first, size: file.length });
}

// 3. Termination: begun, then ended; the server forgets it.
{
  const file = readFileSync(`${dir}/gone.png`);
  let url = null;
  await new Promise((resolve) => {
    const up = new tus.Upload(file, {
      endpoint,
      headers: auth,
      chunkSize: PIECE,
      retryDelays: [],
      onChunkComplete: () => {
        url = up.url;
        up.abort(false).then(resolve);
      },
      onSuccess: resolve,
      onError: (err) => fail('terminate', err),
    });
    up.start();
  });
  try {
    await tus.Upload.terminate(url, { headers: auth, retryDelays: [] });
  } catch (err) {
    fail('terminate', err);
  }
  const r = await run(file, { uploadUrl: url, endpoint: null });
  // tus-js-client makes a new upload when the old URL is gone only when it has an
  // endpoint; without one the HEAD's 404 is the error.
  if (r.ok || status(r.err) !== 404) fail('terminate', `HEAD after DELETE: ${status(r.err)}`);
  report('terminate', { ok: true, url });
}

// 4. A renamed executable: the media check refuses it with 415.
{
  const r = await run(readFileSync(`${dir}/setup.exe`), { metadata: { filename: 'anh.png' } });
  if (r.ok || status(r.err) !== 415) fail('refuse', `expected 415, got ${r.ok ? 'success' : status(r.err)}`);
  report('refuse', { ok: true, status: 415 });
}

// 5. No token: 401 at creation.
{
  const r = await run(readFileSync(`${dir}/scan.png`), { headers: {} });
  if (r.ok || status(r.err) !== 401) fail('unauthorized', `expected 401, got ${r.ok ? 'success' : status(r.err)}`);
  report('unauthorized', { ok: true, status: 401 });
}

// 6. A wrong offset, as a client that lost track would send it: 409.
{
  const file = readFileSync(`${dir}/resume.png`);
  let url = null;
  await new Promise((resolve) => {
    const up = new tus.Upload(file, {
      endpoint,
      headers: auth,
      chunkSize: PIECE,
      retryDelays: [],
      onChunkComplete: () => {
        url = up.url;
        up.abort(false).then(resolve);
      },
      onError: (err) => fail('offset', err),
    });
    up.start();
  });
  const res = await fetch(new URL(url, base), {
    method: 'PATCH',
    headers: {
      ...auth,
      'Tus-Resumable': '1.0.0',
      'Upload-Offset': '0',
      'Content-Type': 'application/offset+octet-stream',
    },
    body: file.subarray(0, 1000),
  });
  if (res.status !== 409) fail('offset', `expected 409, got ${res.status}`);
  report('offset', { ok: true, status: 409 });
}
