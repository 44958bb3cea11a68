/**
 * `dd3d view`'s server: the asset listing, content types, downloads, and above all that
 * nothing outside the served folder is reachable, however the path is spelled. Requests
 * are sent with node:http and a raw path, so no client normalizes "..", "%2e%2e" or "\"
 * before the server sees them.
 *
 * Symlinks: a link inside the folder whose target is also inside is served like its target
 * (and a linked .glb is listed); a link whose real path is outside is a 404, and a linked
 * folder is never entered by the listing.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssetListing, GeneratedFacts, ReferenceFacts } from '../../../src/view/assets.js';
import { safeSegments } from '../../../src/view/safe-path.js';
import { startViewServer, type ViewServer } from '../../../src/view/server.js';
import { CORRUPT_GLB, GOOD_GLBS, TURNTABLE_FRAMES, makeViewFixture, type ViewFixture } from '../../fixtures/view/fixture.js';
import { cliPath, expectOneLineError, runCli } from '../../helpers/cli.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with the path exactly as given. */
function raw(server: ViewServer, rawPath: string, opts: { method?: string; host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method: opts.method ?? 'GET', path: rawPath, headers: opts.host ? { host: opts.host } : {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

let tmp: string;
let fx: ViewFixture;
let server: ViewServer;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-view-server-'));
  fx = await makeViewFixture(tmp);
  const d = fx.dir;
  fs.symlinkSync('plain/mug.glb', path.join(d, 'alias.glb')); // inside → listed and served
  fs.symlinkSync('refs/ref-000.png', path.join(d, 'alias.png'));
  fs.symlinkSync('../outside/secret.png', path.join(d, 'leak.png')); // outside → 404
  fs.symlinkSync('../outside/secret.glb', path.join(d, 'leak.glb')); // outside → not listed
  fs.symlinkSync(fx.outside, path.join(d, 'leakdir')); // a folder outside
  fs.symlinkSync('.', path.join(d, 'loop')); // a cycle: must not hang the listing
  fs.mkdirSync(path.join(d, '.hidden'));
  fs.copyFileSync(path.join(d, 'plain', 'mug.glb'), path.join(d, '.hidden', 'x.glb'));
  fs.copyFileSync(path.join(d, 'refs', 'ref-000.png'), path.join(d, '.secret.png'));
  fs.mkdirSync(path.join(d, 'node_modules'));
  fs.copyFileSync(path.join(d, 'plain', 'mug.glb'), path.join(d, 'node_modules', 'y.glb'));
  server = await startViewServer({ dir: d, port: 0 });
});

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('dd3d view server: what it serves', () => {
  it('listens on 127.0.0.1 by default and gives its URL', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
  });

  it('/api/assets lists every GLB with its kind, thumbnail, facts and references', async () => {
    const r = await raw(server, '/api/assets');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    const listing = JSON.parse(r.body.toString()) as AssetListing;
    expect(listing.root).toBe('served');
    expect(listing.truncated).toBe(false);
    const byPath = new Map(listing.assets.map((a) => [a.path, a]));
    // hidden folders, node_modules, links leading out and linked folders are not listed
    expect([...byPath.keys()]).toEqual(['alias.glb', CORRUPT_GLB, ...GOOD_GLBS].sort());

    const gen = byPath.get('gen/asset-000/asset.glb')!;
    expect(gen.kind).toBe('generated');
    expect(gen.name).toBe('gen/asset-000');
    expect(gen.thumbnail).toBe('gen/asset-000/turntable.png');
    expect(gen.thumbnailFrames).toBe(TURNTABLE_FRAMES);
    expect(gen.preview).toBe('gen/asset-000/preview.png');
    expect(gen.manifest).toBe('gen/asset-000/manifest.json');
    const facts = gen.facts as GeneratedFacts;
    expect(facts).toMatchObject({
      source: { kind: 'distribution', path: 'lamps.json' },
      seed: 7,
      instance: 0,
      iterations: 1500,
      seconds: 612.3,
      settings: { res: 64 },
    });
    expect(gen.references).toEqual(['refs/ref-000.png', 'refs/ref-001.png']);
    expect(gen.unavailableReferences).toEqual([{ path: '../../../outside/secret.png', reason: 'outside the served folder' }]);
    expect(gen.problem).toBeNull();

    const ref = byPath.get('refs/ref-001.glb')!;
    expect(ref.kind).toBe('reference');
    expect(ref.thumbnail).toBe('refs/ref-001.png');
    expect(ref.manifest).toBe('refs/attributes.json');
    const rf = ref.facts as ReferenceFacts;
    expect(rf.attributes.family).toBe('chair');
    expect(typeof rf.seed).toBe('number');
    expect(rf.view).toMatch(/view$/);

    for (const p of ['plain/mug.glb', CORRUPT_GLB, 'alias.glb']) {
      const a = byPath.get(p)!;
      expect(a.kind, p).toBe('glb');
      expect(a.thumbnail, p).toBeNull();
      expect(a.facts, p).toBeNull();
    }
    expect(byPath.get('plain/mug.glb')!.size).toBe(fs.statSync(path.join(fx.dir, 'plain', 'mug.glb')).size);
    expect(Number.isNaN(Date.parse(byPath.get('plain/mug.glb')!.mtime))).toBe(false);
  });

  it('a manifest with bad JSON or missing references is reported, not fatal', async () => {
    const d = fs.mkdtempSync(path.join(tmp, 'odd-'));
    fs.mkdirSync(path.join(d, 'a'));
    fs.copyFileSync(path.join(fx.dir, 'plain', 'mug.glb'), path.join(d, 'a', 'asset.glb'));
    fs.writeFileSync(path.join(d, 'a', 'manifest.json'), '{ not json');
    fs.mkdirSync(path.join(d, 'b'));
    fs.copyFileSync(path.join(fx.dir, 'plain', 'mug.glb'), path.join(d, 'b', 'asset.glb'));
    fs.writeFileSync(
      path.join(d, 'b', 'manifest.json'),
      JSON.stringify({
        format: 'dd3d-asset',
        version: 1,
        glb: 'asset.glb',
        source: { kind: 'prompt', prompt: 'a red chair', references: ['gone.png'] },
        seed: 'x',
      }),
    );
    const s = await startViewServer({ dir: d, port: 0 });
    try {
      const listing = JSON.parse((await raw(s, '/api/assets')).body.toString()) as AssetListing;
      const [a, b] = listing.assets;
      expect(a).toMatchObject({ path: 'a/asset.glb', kind: 'glb', problem: 'manifest.json: not valid JSON' });
      expect(b).toMatchObject({ path: 'b/asset.glb', kind: 'generated', thumbnail: null, preview: null, problem: null });
      expect(b!.facts).toMatchObject({ source: { kind: 'prompt', prompt: 'a red chair' }, seed: null, iterations: null });
      expect(b!.unavailableReferences).toEqual([{ path: 'gone.png', reason: 'missing' }]);
    } finally {
      await s.close();
    }
  });

  it('an empty folder lists no assets', async () => {
    const d = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const s = await startViewServer({ dir: d, port: 0 });
    try {
      expect(JSON.parse((await raw(s, '/api/assets')).body.toString())).toEqual({ root: path.basename(d), assets: [], truncated: false });
    } finally {
      await s.close();
    }
  });

  it('serves the page, its scripts, the shaders and three with the right content types', async () => {
    const cases: Array<[string, string]> = [
      ['/', 'text/html; charset=utf-8'],
      ['/page/main.js', 'text/javascript; charset=utf-8'],
      ['/page/style.css', 'text/css; charset=utf-8'],
      ['/shaders/mesh.vert.glsl', 'text/plain; charset=utf-8'],
      ['/shaders/matcap.frag.glsl', 'text/plain; charset=utf-8'],
      ['/vendor/three/build/three.module.js', 'text/javascript; charset=utf-8'],
      ['/vendor/three/build/three.core.js', 'text/javascript; charset=utf-8'],
      ['/vendor/three/examples/jsm/loaders/GLTFLoader.js', 'text/javascript; charset=utf-8'],
      ['/vendor/three/examples/jsm/controls/OrbitControls.js', 'text/javascript; charset=utf-8'],
      ['/files/plain/mug.glb', 'model/gltf-binary'],
      ['/files/gen/asset-000/turntable.png', 'image/png'],
      ['/files/gen/asset-000/manifest.json', 'application/json; charset=utf-8'],
      ['/files/refs/attributes.json', 'application/json; charset=utf-8'],
    ];
    for (const [p, type] of cases) {
      const r = await raw(server, p);
      expect(r.status, p).toBe(200);
      expect(r.headers['content-type'], p).toBe(type);
      expect(r.headers['x-content-type-options'], p).toBe('nosniff');
      expect(Number(r.headers['content-length']), p).toBe(r.body.length);
    }
    const page = (await raw(server, '/')).body.toString();
    expect(page).toContain('"three": "/vendor/three/build/three.module.js"');
    expect(page).toContain('"three/addons/": "/vendor/three/examples/jsm/"');
    const glb = await raw(server, '/files/plain/mug.glb');
    expect(glb.body.equals(fs.readFileSync(path.join(fx.dir, 'plain', 'mug.glb')))).toBe(true);
  });

  it('?download=1 adds Content-Disposition: attachment; HEAD sends headers only', async () => {
    const plain = await raw(server, '/files/gen/asset-000/asset.glb');
    expect(plain.headers['content-disposition']).toBeUndefined();
    const dl = await raw(server, '/files/gen/asset-000/asset.glb?download=1');
    expect(dl.status).toBe(200);
    expect(dl.headers['content-disposition']).toBe(`attachment; filename="asset.glb"; filename*=UTF-8''asset.glb`);
    const head = await raw(server, '/files/gen/asset-000/asset.glb', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(fs.statSync(path.join(fx.dir, 'gen', 'asset-000', 'asset.glb')).size);
  });

  it('a symlink whose target is inside the folder is served like its target', async () => {
    const r = await raw(server, '/files/alias.png');
    expect(r.status).toBe(200);
    expect(r.body.equals(fs.readFileSync(path.join(fx.dir, 'refs', 'ref-000.png')))).toBe(true);
    expect((await raw(server, '/files/alias.glb')).status).toBe(200);
  });
});

describe('dd3d view server: nothing outside the folder', () => {
  const secretAbs = (): string => path.join(fx.outside, 'secret.png');
  const variants = (): string[] => [
    // plain and encoded dot-dot
    '/files/../outside/secret.png',
    '/files/refs/../../outside/secret.png',
    '/files/%2e%2e/outside/secret.png',
    '/files/%2E%2E/outside/secret.png',
    '/files/.%2e/outside/secret.png',
    '/files/%2e./outside/secret.png',
    // encoded separators
    '/files/..%2foutside%2fsecret.png',
    '/files/%2e%2e%2foutside%2fsecret.png',
    '/files/refs%2f..%2f..%2foutside%2fsecret.png',
    '/files/%2e%2e%2F%2e%2e%2Foutside%2Fsecret.png',
    // double encoding
    '/files/%252e%252e/outside/secret.png',
    '/files/%252e%252e%252foutside%252fsecret.png',
    '/files/..%252foutside%252fsecret.png',
    // absolute paths
    `/files/${secretAbs()}`,
    `/files/${encodeURIComponent(secretAbs())}`,
    '/files//etc/passwd',
    '/files/%2fetc%2fpasswd',
    // backslashes
    '/files/..\\outside\\secret.png',
    '/files/refs\\..\\..\\outside\\secret.png',
    '/files/..%5coutside%5csecret.png',
    '/files/%2e%2e%5coutside%5csecret.png',
    // NUL bytes
    '/files/refs/ref-000.png%00.glb',
    '/files/%00',
    '/files/refs/ref-000.png%00',
    // symlinks out, and a linked folder out
    '/files/leak.png',
    '/files/leak.glb',
    '/files/leakdir/secret.png',
    '/files/loop/leakdir/secret.png',
    // hidden files and malformed escapes
    '/files/.secret.png',
    '/files/.hidden/x.glb',
    '/files/%2esecret.png',
    '/files/refs/ref-000%zz.png',
    '/files/refs/ref-000.png%',
    // the other roots: nothing but their own files, no escaping them
    '/page/../../../package.json',
    '/page/%2e%2e/%2e%2e/%2e%2e/package.json',
    '/shaders/../package.json',
    '/shaders/README.md',
    '/vendor/three/package.json',
    '/vendor/three/build/../package.json',
    '/vendor/three/build/%2e%2e/package.json',
    '/vendor/three/examples/jsm/../../package.json',
    '/vendor/three/examples/jsm/libs/draco/draco_decoder.wasm',
    '/node_modules/three/build/three.module.js',
    '/package.json',
    '/etc/passwd',
    '/../outside/secret.png',
  ];

  it('every traversal spelling is a 404 that reveals nothing', async () => {
    for (const p of variants()) {
      const r = await raw(server, p);
      expect(r.status, p).toBe(404);
      expect(r.body.toString(), p).not.toContain('SECRET');
    }
  });

  it('no directory listings anywhere', async () => {
    for (const p of [
      '/files/',
      '/files',
      '/files/refs',
      '/files/refs/',
      '/files/gen/asset-000/',
      '/page/',
      '/shaders/',
      '/vendor/three/',
      '/vendor/three/build/',
      '/vendor/three/examples/jsm/loaders/',
      '/api/',
      '/api/assets/',
    ]) {
      const r = await raw(server, p);
      expect(r.status, p).toBe(404);
    }
  });

  it('only GET and HEAD: anything else is 405', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      for (const p of ['/', '/api/assets', '/files/plain/mug.glb', '/nowhere']) {
        const r = await raw(server, p, { method });
        expect(r.status, `${method} ${p}`).toBe(405);
        expect(r.headers.allow, `${method} ${p}`).toBe('GET, HEAD');
      }
    }
  });

  it('on loopback, a Host header that is not a loopback name is refused (DNS rebinding)', async () => {
    expect((await raw(server, '/api/assets', { host: `evil.example:${server.port}` })).status).toBe(403);
    expect((await raw(server, '/api/assets', { host: `localhost:${server.port}` })).status).toBe(200);
    expect((await raw(server, '/api/assets', { host: `[::1]:${server.port}` })).status).toBe(200);
  });

  it('path segments: decoded one at a time, anything unusual refused', () => {
    expect(safeSegments('a/b%20c.glb')).toEqual(['a', 'b c.glb']);
    for (const bad of ['', 'a//b', '/a', 'a/', '..', 'a/../b', '%2e%2e', 'a%2fb', 'a%5cb', 'a\\b', 'a%00', '%252e', '%zz', '.git/config']) {
      expect(safeSegments(bad), bad).toBeNull();
    }
  });
});

describe('dd3d view CLI', () => {
  it('a missing folder, a file, or no folder at all: one error line, exit 1', () => {
    expectOneLineError(runCli(['view', path.join(tmp, 'nope')]), /nope: no such folder/);
    expectOneLineError(runCli(['view', path.join(fx.dir, 'plain', 'mug.glb')]), /mug\.glb: not a folder/);
    expectOneLineError(runCli(['view']), /missing required argument 'dir'/);
    expectOneLineError(runCli(['view', fx.dir, '--port', '70000']), /--port/);
  });

  it('a port in use is one error line naming --port', async () => {
    expectOneLineError(runCli(['view', fx.dir, '--port', String(server.port)]), new RegExp(`--port ${server.port}: already in use`));
  });

  it('--help explains the page', () => {
    const r = runCli(['view', '--help']);
    expect(r.status).toBe(0);
    for (const word of ['--port', '--host', '--open', 'gallery', 'inspector', 'compare', 'matcap', 'Ctrl-C']) expect(r.stdout).toContain(word);
  });

  /** Starts `dd3d view`, returns its first stdout line, stderr so far, and the process. */
  async function launch(args: string[]): Promise<{ line: string; stderr: () => string; child: ReturnType<typeof spawn> }> {
    const child = spawn(process.execPath, [cliPath, 'view', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DD3D_BACKEND: 'wasm' } });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const lines = readline.createInterface({ input: child.stdout! });
    const line = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`dd3d view exited ${code} before printing its URL: ${stderr}`)));
    });
    return { line, stderr: () => stderr, child };
  }

  async function stop(child: ReturnType<typeof spawn>): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    return exited;
  }

  it('prints "dd3d view: URL", serves the folder there, and exits 0 on Ctrl-C', async () => {
    const { line, stderr, child } = await launch([fx.dir, '--port', '0']);
    try {
      const m = /^dd3d view: (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(line);
      expect(m, line).not.toBeNull();
      const res = await fetch(`${m![1]}api/assets`);
      expect(res.status).toBe(200);
      const listing = (await res.json()) as AssetListing;
      expect(listing.assets.map((a) => a.path)).toContain('gen/asset-000/asset.glb');
      expect(stderr()).toBe('');
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('--host with a non-loopback address warns on stderr in one line', async () => {
    const { line, stderr, child } = await launch([fx.dir, '--port', '0', '--host', '0.0.0.0']);
    try {
      expect(line).toMatch(/^dd3d view: http:\/\/0\.0\.0\.0:\d+\/$/);
      const port = /:(\d+)\/$/.exec(line)![1];
      expect((await fetch(`http://127.0.0.1:${port}/api/assets`)).status).toBe(200);
      const warning = stderr().trim().split('\n');
      expect(warning).toHaveLength(1);
      expect(warning[0]).toMatch(/^dd3d: warning: --host 0\.0\.0\.0 serves .* to every machine/);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });
});
