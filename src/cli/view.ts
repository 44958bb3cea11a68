/**
 * `dd3d view DIR`: serves a local page that shows every GLB under DIR (see src/view/).
 * Runs until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { isLoopback, startViewServer } from '../view/server.js';
import { intOption } from './options.js';

interface ViewFlags {
  port: number;
  host: string;
  open?: boolean;
}

export const DEFAULT_VIEW_PORT = 5173;

/** Opens `url` in the desktop's browser; any failure (no desktop, no opener) is ignored. */
function openBrowser(url: string): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // no opener: the URL is printed anyway
  }
}

export function registerView(program: Command): void {
  program
    .command('view')
    .description('open a local web page showing every GLB under DIR: gallery, 3D inspector with display modes, side-by-side compare')
    .argument('<dir>', 'folder holding .glb files (searched recursively), e.g. the --out of dd3d generate or dd3d scenes refs')
    .option('--port <n>', 'port to listen on; 0 picks a free one', intOption(0, 65535), DEFAULT_VIEW_PORT)
    .option('--host <address>', 'address to listen on; anything but loopback exposes DIR to the network', '127.0.0.1')
    .option('--open', 'open the page in the default browser')
    .addHelpText(
      'after',
      `
Prints "dd3d view: http://127.0.0.1:PORT/" and serves until Ctrl-C. The page shows:
  - a gallery of every .glb under DIR: thumbnail (a generated asset's turntable, a
    reference's picture, or a live render), name, facts (distribution or prompt, seed,
    iterations, time; a reference's attributes) and a download link;
  - an inspector (click a tile): orbit, zoom, auto-rotate, display modes shaded, albedo
    (unlit base / vertex colour), normals, wireframe and matcap, and the reference images
    of the distribution the asset came from;
  - compare: tick two or more tiles to see them side by side with linked cameras.
The folder is rescanned on every reload. Only files under DIR are served (.glb, .png,
.jpg, .webp, .json; no listings, no symlinks leading out); hidden files are never served.

Examples:
  dd3d view out/
  dd3d view refs/ --port 0 --open
  dd3d view out/ --host 0.0.0.0 --port 8080    # reachable from other machines: careful`,
    )
    .action(async (dir: string, opts: ViewFlags) => {
      if (!isLoopback(opts.host)) {
        process.stderr.write(`dd3d: warning: --host ${opts.host} serves ${dir} to every machine that can reach this one\n`);
      }
      const server = await startViewServer({ dir, host: opts.host, port: opts.port });
      console.log(`dd3d view: ${server.url}`);
      if (opts.open) openBrowser(server.url);
      // Ctrl-C (or a kill) closes the server; the action then returns and Node exits by itself
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
