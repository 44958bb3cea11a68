/**
 * The `dd3d view` page in headless Chromium (three.js on SwiftShader WebGL), driven through
 * its window.dd3dView hooks so nothing depends on timing. On the fixture folder
 * (test/fixtures/view/fixture.ts: a generated asset with vertex colours, a reference set, a
 * plain GLB and a corrupt one) it checks that every good GLB loads and draws, the corrupt one
 * fails in its own tile and viewport only, display modes change the pixels, compare shows
 * linked viewports, and an empty folder says so. Screenshots go to test/artifacts/.
 *
 * DD3D_VIEW_SCREENSHOTS=1 also rewrites the README screenshots src/view/gallery.png and
 * src/view/inspector.png from reference sets made by the built CLI (`dd3d scenes refs`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/io/atomic.js';
import { startViewServer, type ViewServer } from '../../../src/view/server.js';
import { CORRUPT_GLB, GOOD_GLBS, makeViewFixture, type ViewFixture } from '../../fixtures/view/fixture.js';
import { runCli } from '../../helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '../..', '..');
const ARTIFACTS = path.join(ROOT, 'test', 'artifacts');
const hasChromium = fs.existsSync(CHROMIUM);
const SCREENSHOTS = process.env.DD3D_VIEW_SCREENSHOTS === '1';
/** The viewport background (BACKGROUND in src/view/page/viewport.js). */
const BG = [0x1d, 0x21, 0x28];
const MODES = ['shaded', 'albedo', 'normals', 'wireframe', 'matcap'];
const GENERATED = 'gen/asset-000/asset.glb';

interface Hooks {
  ready: Promise<{ assets: unknown[] }>;
  thumbnails(): Promise<void>;
  open(path: string): Promise<{ ok: boolean; error?: string }>;
  compare(paths: string[]): Promise<Array<{ path: string; ok: boolean; error?: string }>>;
  close(): Promise<void>;
  setMode(mode: string): Promise<void>;
  setAutoRotate(on: boolean): Promise<void>;
  reload(): Promise<unknown>;
  cameras(): number[][];
}
/** The page's global object as the hooks see it (test files compile without the DOM lib). */
type Win = { dd3dView?: Hooks };

interface Raw {
  data: Buffer;
  width: number;
  height: number;
}

async function raw(png: Buffer): Promise<Raw> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Share of pixels that differ from the viewport background. */
function coverage(img: Raw): number {
  let n = 0;
  for (let i = 0; i < img.data.length; i += 3) {
    if (Math.abs(img.data[i]! - BG[0]!) + Math.abs(img.data[i + 1]! - BG[1]!) + Math.abs(img.data[i + 2]! - BG[2]!) > 24) n++;
  }
  return n / (img.width * img.height);
}

/** Share of pixels that differ between two same-size images. */
function difference(a: Raw, b: Raw): number {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let n = 0;
  for (let i = 0; i < a.data.length; i += 3) {
    if (Math.abs(a.data[i]! - b.data[i]!) + Math.abs(a.data[i + 1]! - b.data[i + 1]!) + Math.abs(a.data[i + 2]! - b.data[i + 2]!) > 24) n++;
  }
  return n / (a.width * a.height);
}

function artifact(name: string, png: Buffer): void {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!fs.existsSync(path.join(ARTIFACTS, '.gitignore'))) fs.writeFileSync(path.join(ARTIFACTS, '.gitignore'), '*\n');
  fs.writeFileSync(path.join(ARTIFACTS, name), png);
}

describe.skipIf(!hasChromium)('dd3d view page in headless Chromium', () => {
  let tmp: string;
  let fx: ViewFixture;
  let server: ViewServer;
  let emptyServer: ViewServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  async function goto(url: string): Promise<void> {
    await page.goto(url);
    await page
      .waitForFunction(() => (globalThis as unknown as Win).dd3dView !== undefined, undefined, { timeout: 60_000 })
      .catch((e) => {
        throw new Error(`the page did not start: ${errors.join('; ') || e}`);
      });
    await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.ready);
  }

  /** Screenshot of the n-th viewport canvas (0-based). */
  async function shot(n = 0, name?: string): Promise<Raw> {
    const png = await page.locator('.vp canvas').nth(n).screenshot();
    if (name) artifact(name, png);
    return raw(png);
  }

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-view-page-'));
    fx = await makeViewFixture(tmp);
    fs.mkdirSync(path.join(tmp, 'empty'));
    server = await startViewServer({ dir: fx.dir, port: 0 });
    emptyServer = await startViewServer({ dir: path.join(tmp, 'empty'), port: 0 });
    // playwright's launch() gives every browser a fresh temporary user-data dir; WebGL runs
    // on SwiftShader with these flags (as in renderer-webgl.test.ts)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 640 }, deviceScaleFactor: 1 });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
    await goto(server.url);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await emptyServer?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('gallery: a tile per GLB, pictures from disk or rendered live, the corrupt one fails alone', async () => {
    await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.thumbnails());
    expect(await page.locator('body').getAttribute('data-status')).toBe('ready');
    const tiles = await page.$$eval('.tile', (els) =>
      els.map((e) => ({ path: e.getAttribute('data-asset'), kind: e.getAttribute('data-kind'), state: e.getAttribute('data-state'), text: e.textContent })),
    );
    const byPath = new Map(tiles.map((t) => [t.path, t]));
    expect([...byPath.keys()].sort()).toEqual([CORRUPT_GLB, ...GOOD_GLBS].sort());
    expect(byPath.get(GENERATED)).toMatchObject({ kind: 'generated', state: 'picture' });
    expect(byPath.get(GENERATED)!.text).toContain('lamps.json');
    expect(byPath.get(GENERATED)!.text).toContain('1500');
    expect(byPath.get('refs/ref-000.glb')).toMatchObject({ kind: 'reference', state: 'picture' });
    expect(byPath.get('refs/ref-000.glb')!.text).toContain('chair');
    expect(byPath.get('plain/mug.glb')).toMatchObject({ kind: 'glb', state: 'rendered' });
    expect(byPath.get(CORRUPT_GLB)).toMatchObject({ kind: 'glb', state: 'error' });
    expect(byPath.get(CORRUPT_GLB)!.text).toContain('cannot load');
    // the live thumbnail shows the mug, not an empty background
    const live = await raw(await page.locator('.tile[data-asset="plain/mug.glb"] .thumb img').screenshot());
    expect(coverage(live)).toBeGreaterThan(0.03);
    const links = await page.$$eval('.tile a[download]', (as) => as.map((a) => a.getAttribute('href')));
    expect(links).toContain('/files/gen/asset-000/asset.glb?download=1');
    artifact('view-gallery.png', await page.screenshot());

    // Refresh picks up a new GLB (rendered live) and drops a removed one
    const extra = path.join(fx.dir, 'plain', 'mug-copy.glb');
    fs.copyFileSync(path.join(fx.dir, 'plain', 'mug.glb'), extra);
    try {
      await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.reload());
      await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.thumbnails());
      expect(await page.locator('.tile').count()).toBe(GOOD_GLBS.length + 2);
      expect(await page.locator('.tile[data-asset="plain/mug-copy.glb"]').getAttribute('data-state')).toBe('rendered');
    } finally {
      fs.rmSync(extra);
    }
    await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.reload());
    expect(await page.locator('.tile').count()).toBe(GOOD_GLBS.length + 1);
  });

  it('the controls work by hand: click a tile, Esc back, tick two tiles and compare', async () => {
    await page.locator('.tile[data-asset="refs/ref-000.glb"] .thumb').click();
    await page.waitForSelector('body[data-view="inspect"] .vp[data-state="loaded"]');
    await page.locator('#modes button[data-mode="normals"]').click();
    expect(await page.locator('#modes button[data-mode="normals"]').getAttribute('aria-pressed')).toBe('true');
    await page.locator('#modes button[data-mode="shaded"]').click();
    await page.keyboard.press('Escape');
    await page.waitForSelector('body[data-view="gallery"]');
    expect(await page.locator('#compare').isDisabled()).toBe(true);
    await page.locator('.tile[data-asset="refs/ref-000.glb"] .pick input').check();
    await page.locator('.tile[data-asset="refs/ref-001.glb"] .pick input').check();
    expect(await page.locator('#compare').textContent()).toBe('Compare (2)');
    await page.locator('#compare').click();
    await page.locator('.vp[data-state="loaded"]').nth(1).waitFor();
    expect(await page.locator('.vp').count()).toBe(2);
    expect(await page.locator('body').getAttribute('data-view')).toBe('compare');
    await page.goBack();
    await page.waitForSelector('body[data-view="gallery"]');
    for (const p of ['refs/ref-000.glb', 'refs/ref-001.glb']) await page.locator(`.tile[data-asset="${p}"] .pick input`).uncheck();
  });

  it('inspector: every good GLB loads and draws; the corrupt one shows its error in the viewport', async () => {
    for (const p of GOOD_GLBS) {
      const r = await page.evaluate((p) => (globalThis as unknown as Win).dd3dView!.open(p), p);
      expect(r, p).toMatchObject({ ok: true });
      expect(await page.locator('.vp').getAttribute('data-state'), p).toBe('loaded');
      const cover = coverage(await shot(0, `view-inspect-${p.replace(/\W+/g, '-')}.png`));
      expect(cover, `${p}: share of non-background pixels`).toBeGreaterThan(0.03);
    }
    const bad = await page.evaluate((p) => (globalThis as unknown as Win).dd3dView!.open(p), CORRUPT_GLB);
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/not a GLB/);
    expect(await page.locator('.vp').getAttribute('data-state')).toBe('error');
    expect(await page.locator('.vp-error').textContent()).toContain('cannot load corrupt');
    // the side panel: facts and the distribution's references, the outside one named
    await page.evaluate((p) => (globalThis as unknown as Win).dd3dView!.open(p), GENERATED);
    const side = (await page.locator('#side').textContent()) ?? '';
    expect(side).toContain('lamps.json');
    expect(side).toContain('../../../outside/secret.png: outside the served folder');
    expect(await page.locator('#side .refs img').count()).toBe(2);
    artifact('view-inspector.png', await page.screenshot());
  });

  it('display modes draw with and without vertex colours, and each changes the pixels', async () => {
    // the generated asset has COLOR_0, the reference chair does not
    for (const p of [GENERATED, 'refs/ref-000.glb']) {
      await page.evaluate((p) => (globalThis as unknown as Win).dd3dView!.open(p), p);
      const shots = new Map<string, Raw>();
      for (const mode of MODES) {
        await page.evaluate((m) => (globalThis as unknown as Win).dd3dView!.setMode(m), mode);
        const img = await shot(0, `view-mode-${mode}-${p.replace(/\W+/g, '-')}.png`);
        expect(coverage(img), `${p} ${mode}: non-background pixels`).toBeGreaterThan(0.03);
        shots.set(mode, img);
      }
      for (const mode of MODES.slice(1)) {
        expect(difference(shots.get('shaded')!, shots.get(mode)!), `${p}: ${mode} vs shaded`).toBeGreaterThan(0.01);
      }
      await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.setMode('shaded'));
    }
  });

  it('compare: one viewport per asset, cameras linked, auto-rotate moves them all', async () => {
    const results = await page.evaluate(
      (paths) => (globalThis as unknown as Win).dd3dView!.compare(paths),
      [GENERATED, 'refs/ref-000.glb', 'plain/mug.glb', CORRUPT_GLB],
    );
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
    expect(await page.locator('body').getAttribute('data-view')).toBe('compare');
    expect(await page.locator('.vp canvas').count()).toBe(4);
    expect(await page.locator('.vp[data-state="loaded"]').count()).toBe(3);
    expect(await page.locator('.vp[data-state="error"] .vp-error').count()).toBe(1);
    for (let i = 0; i < 3; i++) expect(coverage(await shot(i)), `viewport ${i}`).toBeGreaterThan(0.02);

    const cams = (): Promise<number[][]> => page.evaluate(() => (globalThis as unknown as Win).dd3dView!.cameras());
    const before = await cams();
    // drag in the second viewport: every camera follows
    const box = (await page.locator('.vp canvas').nth(1).boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 30, { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction((b) => {
      const c = (globalThis as unknown as Win).dd3dView!.cameras();
      return Math.hypot(c[0]![0]! - b[0]![0]!, c[0]![2]! - b[0]![2]!) > 0.1;
    }, before);
    const after = await cams();
    for (const c of after.slice(1)) for (let k = 0; k < 3; k++) expect(c[k]).toBeCloseTo(after[0]![k]!, 4);
    artifact('view-compare.png', await page.screenshot());

    await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.setAutoRotate(true));
    await page.waitForFunction((b) => {
      const c = (globalThis as unknown as Win).dd3dView!.cameras();
      return Math.hypot(c[2]![0]! - b[2]![0]!, c[2]![2]! - b[2]![2]!) > 0.05;
    }, after);
    await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.setAutoRotate(false));
    const rotated = await cams();
    for (const c of rotated.slice(1)) for (let k = 0; k < 3; k++) expect(c[k]).toBeCloseTo(rotated[0]![k]!, 4);
    await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.close());
    expect(await page.locator('body').getAttribute('data-view')).toBe('gallery');
  });

  it('no console errors except the corrupt GLB failing to load', () => {
    const unexpected = errors.filter((e) => !e.startsWith(`dd3d view: cannot load ${CORRUPT_GLB}:`));
    expect(unexpected).toEqual([]);
    expect(errors.length).toBeGreaterThan(0); // the corrupt GLB did fail, and said so
  });

  it('an empty folder shows the "no GLB" message', async () => {
    await goto(emptyServer.url);
    expect(await page.locator('body').getAttribute('data-status')).toBe('empty');
    expect(await page.locator('#message').isVisible()).toBe(true);
    expect(await page.locator('#message').textContent()).toContain('No .glb files');
    expect(await page.locator('.tile').count()).toBe(0);
    artifact('view-empty.png', await page.screenshot());
  });

  it.runIf(SCREENSHOTS)('README screenshots: src/view/gallery.png and src/view/inspector.png', async () => {
    const dir = path.join(tmp, 'readme');
    for (const family of ['car', 'chair', 'lamp', 'mug', 'tree', 'vase']) {
      const r = runCli(['scenes', 'refs', '--family', family, '--n', '2', '--res', '192', '--seed', '3', '--out', path.join(dir, `${family}s`)]);
      expect(r.status, r.stderr).toBe(0);
    }
    const s = await startViewServer({ dir, port: 0 });
    try {
      await goto(s.url);
      await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.thumbnails());
      writeFileAtomic(path.join(ROOT, 'src', 'view', 'gallery.png'), await page.screenshot());
      await page.evaluate(() => (globalThis as unknown as Win).dd3dView!.open('chairs/ref-001.glb'));
      writeFileAtomic(path.join(ROOT, 'src', 'view', 'inspector.png'), await page.screenshot());
    } finally {
      await s.close();
    }
  });
});

if (!hasChromium) {
  const why = `skipped: ${CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)`;
  console.warn(`view-page.test.ts: the viewer page tests were ${why}`);
  describe('dd3d view page', () => {
    it.skip(why, () => {});
  });
}
