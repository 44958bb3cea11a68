#!/usr/bin/env node
/**
 * Builds the native kernels' addon (native/build/Release/dd3d_native.node, see
 * src/backend/native-kernels.ts) with node-gyp, without downloading anything: node-gyp is npm's
 * own copy, Node's headers are the local ones (npm's `nodedir`, else <node prefix>/include/node,
 * else node-gyp's header cache). It links no library.
 *
 *   node native/build.mjs             build, or exit 1 saying why not   (npm run build:native)
 *   node native/build.mjs --optional  build if possible; on failure print one line and exit 0
 *                                     (the postinstall: `npm ci` must pass without a compiler)
 *
 * DD3D_NATIVE=0 skips the build. node-gyp's full output goes to native/build/build.log.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
const fallbackNote = 'the wasm kernels will be used';

function fail(why) {
  if (optional) {
    console.log(`dd3d: native kernels not built (${why}); ${fallbackNote}`);
    process.exit(0);
  }
  console.error(`dd3d: native kernels not built: ${why}`);
  process.exit(1);
}

const hasHeaders = (dir) => fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'));

/** npm's bundled node-gyp: npm passes its path to scripts; else next to this node's npm. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && fs.existsSync(c));
}

/** Node's headers on this machine, as a --nodedir (null: node-gyp's cache has them). */
function nodeDir() {
  const configured = process.env.npm_config_nodedir;
  if (configured && hasHeaders(configured)) return configured;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (hasHeaders(prefix)) return prefix;
  const cacheRoot = process.env.npm_config_devdir || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-gyp');
  if (hasHeaders(path.join(cacheRoot, process.versions.node))) return null;
  return undefined;
}

/** The first of `names` found on PATH (an absolute name is taken as is if it exists). */
function which(...names) {
  for (const n of names.filter(Boolean)) {
    if (path.isAbsolute(n)) {
      if (fs.existsSync(n)) return n;
      continue;
    }
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir && fs.existsSync(path.join(dir, n))) return path.join(dir, n);
  }
  return undefined;
}

if (['0', 'false', 'off', 'no'].includes((process.env.DD3D_NATIVE ?? '').trim().toLowerCase())) fail('DD3D_NATIVE=0');
const cxx = process.env.CXX?.trim().split(/\s+/)[0];
if (cxx ? !which(cxx) : !which('c++', 'g++', 'clang++'))
  fail(cxx ? `the C++ compiler CXX=${cxx} was not found` : 'no C++ compiler (c++, g++ or clang++) on PATH');
if (!which(process.env.PYTHON, 'python3', 'python')) fail('no python3 on PATH, which node-gyp needs');
if (os.platform() !== 'win32' && !which('make')) fail('no make on PATH');
const gyp = nodeGyp();
if (!gyp) fail("npm's node-gyp was not found");
const nodedir = nodeDir();
if (nodedir === undefined) fail(`Node's headers (include/node/node_api.h) were not found next to ${process.execPath}, and downloading them is not attempted`);

const args = [gyp, 'rebuild', '--release'];
if (nodedir) args.push(`--nodedir=${nodedir}`);
const started = Date.now();
const r = spawnSync(process.execPath, args, { cwd: here, encoding: 'utf8', env: nodedir ? { ...process.env, npm_config_nodedir: nodedir } : process.env });
const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
fs.mkdirSync(path.join(here, 'build'), { recursive: true });
fs.writeFileSync(path.join(here, 'build', 'build.log'), `node ${args.join(' ')}\n${log}`);
const addon = path.join(here, 'build', 'Release', 'dd3d_native.node');
if (r.error || r.status !== 0 || !fs.existsSync(addon)) {
  const lines = log
    .split('\n')
    .filter((l) => /error|not found|No such file/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
  const first = (r.error ? String(r.error.message) : (lines[0] ?? `node-gyp exited with ${r.status}`)).trim().slice(0, 200);
  fail(`${first}; see native/build/build.log`);
}
console.log(`dd3d: built native kernels (${path.relative(process.cwd(), addon)}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
