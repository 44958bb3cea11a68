/**
 * The `dd3d view` HTTP server: node:http, read-only, one folder.
 *
 * Routes (GET and HEAD only; any other method is 405, any other path 404):
 *   /                           the page (src/view/page/index.html)
 *   /page/<file>                the page's scripts and styles
 *   /shaders/<file>.glsl        display-mode shaders (shaders/)
 *   /vendor/three/build/<f>.js  three.js itself, and /vendor/three/examples/jsm/<f>.js
 *                               its addons (GLTFLoader, OrbitControls); nothing else of
 *                               node_modules is reachable
 *   /api/assets                 JSON listing of the folder's GLBs (see assets.ts)
 *   /files/<relpath>            a file of the folder (.glb, .png, .jpg, .webp, .json);
 *                               ?download=1 adds Content-Disposition: attachment
 *
 * Every path below a prefix goes through resolveSafeFile (safe-path.ts), so nothing outside
 * its root is served however the URL is encoded. On a loopback address the Host header must
 * name a loopback host too, which stops a web page from reading the folder through DNS
 * rebinding (a hostile name that resolves to 127.0.0.1).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';
import { packageRoot } from '../paths.js';
import { listAssets } from './assets.js';
import { resolveSafeFile, type SafeFile } from './safe-path.js';

export interface ViewServerOptions {
  /** The folder to serve. */
  dir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
}

export interface ViewServer {
  /** e.g. http://127.0.0.1:5173/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.glsl': 'text/plain; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.glb': 'model/gltf-binary',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
};

const FOLDER_FILES = ['.glb', '.png', '.jpg', '.jpeg', '.webp', '.json'];

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** realpath of `dir`, or a one-line error naming it. */
export function checkViewDir(dir: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new Dd3dError(`${dir}: no such folder (dd3d view DIR serves the .glb files under DIR)`);
  }
  if (!st.isDirectory()) throw new Dd3dError(`${dir}: not a folder (dd3d view DIR serves the .glb files under DIR; give the folder holding the file)`);
  return fs.realpathSync(dir);
}

/** The real folders each prefix serves from. */
function servedRoots(): { page: string; shaders: string; threeBuild: string; threeAddons: string } {
  const root = packageRoot();
  // three resolved the way Node would from the package (it may be hoisted above it)
  const threeMain = createRequire(path.join(root, 'package.json')).resolve('three');
  const three = path.dirname(path.dirname(threeMain));
  return {
    page: fs.realpathSync(path.join(root, 'src', 'view', 'page')),
    shaders: fs.realpathSync(path.join(root, 'shaders')),
    threeBuild: fs.realpathSync(path.join(three, 'build')),
    threeAddons: fs.realpathSync(path.join(three, 'examples', 'jsm')),
  };
}

const BASE_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...BASE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendFile(res: http.ServerResponse, f: SafeFile, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    ...BASE_HEADERS,
    'content-type': CONTENT_TYPES[path.extname(f.file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': String(f.size),
    'last-modified': f.mtime.toUTCString(),
    'cache-control': 'no-cache',
    ...headers,
  });
  if (res.req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = fs.createReadStream(f.file);
  stream.on('error', () => res.destroy()); // headers are out: cutting the connection is all we can do
  stream.pipe(res);
}

/** Content-Disposition for a download, safe for any file name. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** Starts the server; resolves once it listens. */
export async function startViewServer(opts: ViewServerOptions): Promise<ViewServer> {
  const realDir = checkViewDir(opts.dir);
  const host = opts.host ?? '127.0.0.1';
  const roots = servedRoots();
  const prefixes: Array<[string, string, string[]]> = [
    ['/page/', roots.page, ['.html', '.js', '.css']],
    ['/shaders/', roots.shaders, ['.glsl']],
    ['/vendor/three/build/', roots.threeBuild, ['.js']],
    ['/vendor/three/examples/jsm/', roots.threeAddons, ['.js']],
  ];
  let port = 0;
  const checkHost = isLoopback(host);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    if (checkHost) {
      const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(req.headers.host ?? '');
      if (!m || !isLoopback(m[1]!) || (m[2] !== undefined && Number(m[2]) !== port)) return send(res, 403, 'forbidden host\n');
    }
    // the raw target, not new URL(): URL parsing would resolve "..", "%2e%2e" and friends
    // before we could refuse them
    const raw = req.url ?? '';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));

    if (pathname === '/') {
      const f = await resolveSafeFile(roots.page, 'index.html', ['.html']);
      return f ? sendFile(res, f, { 'cache-control': 'no-store' }) : send(res, 404, 'not found\n');
    }
    if (pathname === '/api/assets') {
      const body = JSON.stringify(await listAssets(realDir));
      return send(res, 200, body, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    }
    if (pathname.startsWith('/files/')) {
      const f = await resolveSafeFile(realDir, pathname.slice('/files/'.length), FOLDER_FILES);
      if (!f) return send(res, 404, 'not found\n');
      return sendFile(res, f, query.get('download') === '1' ? { 'content-disposition': attachment(path.basename(f.file)) } : {});
    }
    for (const [prefix, root, exts] of prefixes) {
      if (!pathname.startsWith(prefix)) continue;
      const f = await resolveSafeFile(root, pathname.slice(prefix.length), exts);
      return f ? sendFile(res, f) : send(res, 404, 'not found\n');
    }
    send(res, 404, 'not found\n');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new Dd3dError(`--port ${opts.port}: already in use; choose another port, or --port 0 for any free one`));
      else if (e.code === 'EACCES') reject(new Dd3dError(`--port ${opts.port}: not allowed to listen there (ports below 1024 need privileges)`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')
        reject(new Dd3dError(`--host ${host}: not an address of this machine`));
      else reject(e);
    });
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive connections would hold close() open
      }),
  };
}
