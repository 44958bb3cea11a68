import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import validator from 'gltf-validator';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { COLOR_NAMES, FAMILIES, FAMILY_NAMES, parseWhere } from '../../../scenes/index.js';
import { cliPath, expectOneLineError, runCli } from '../../helpers/cli.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-scenes-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const VALID_FAMILIES = /valid families: chair, table, lamp, mug, vase, sofa, car, tree$/;

function sameFiles(a: string, b: string): void {
  const names = fs.readdirSync(a).sort();
  expect(fs.readdirSync(b).sort()).toEqual(names);
  for (const f of names) expect(fs.readFileSync(path.join(b, f)).equals(fs.readFileSync(path.join(a, f))), f).toBe(true);
}

describe('dd3d scenes', () => {
  it('--help lists the four subcommands with examples', () => {
    const r = runCli(['scenes', '--help']);
    expect(r.status).toBe(0);
    for (const word of ['dataset', 'refs', 'list', 'sheet', 'Examples:']) expect(r.stdout).toContain(word);
    const d = runCli(['scenes', 'dataset', '--help']);
    expect(d.status).toBe(0);
    for (const word of ['--n <count>', '--res <px>', '--out <dir>', '--seed', '--families', '--shard-size', '--json', 'shard-00000.safetensors', 'Examples:']) {
      expect(d.stdout).toContain(word);
    }
    expect(runCli(['--help']).stdout).toContain('scenes');
  });

  it('list --json gives every family with its attributes and values, and the palette', () => {
    const r = runCli(['scenes', 'list', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.families.map((f: { name: string }) => f.name)).toEqual(FAMILY_NAMES);
    for (const f of FAMILIES) {
      const got = j.families.find((x: { name: string }) => x.name === f.name);
      expect(got.attributes.map((a: { name: string }) => a.name)).toEqual(f.attributes.map((a) => a.name));
      for (const a of f.attributes) {
        const ga = got.attributes.find((x: { name: string }) => x.name === a.name);
        expect(ga.values).toEqual(a.values);
        expect(ga.kind).toBe(a.kind);
      }
    }
    expect(Object.keys(j.colors)).toEqual(COLOR_NAMES);
    for (const hex of Object.values(j.colors)) expect(hex).toMatch(/^#[0-9a-f]{6}$/);

    const text = runCli(['scenes', 'list']);
    expect(text.status).toBe(0);
    for (const name of [...FAMILY_NAMES, 'tall back', 'palette:', 'red #d62828']) expect(text.stdout).toContain(name);
  });

  it('dataset writes shards and prints a JSON summary; a rerun skips them; other settings are a one-line error', () => {
    const out = path.join(tmp, 'ds');
    const args = ['scenes', 'dataset', '--n', '7', '--res', '8', '--shard-size', '3', '--seed', '2', '--out', out];
    const r = runCli([...args, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ out, n: 7, res: 8, shards: 3, written: 3, skipped: 0, images_written: 7 });
    expect(s.seconds).toBeGreaterThan(0);
    expect(s.images_per_s).toBeGreaterThan(0);
    const lines = fs.readFileSync(path.join(out, 'shard-00002.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).index)).toEqual([6]);

    const again = runCli([...args, '--json']);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ written: 0, skipped: 3, images_written: 0 });

    const plain = runCli(args);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toMatch(/7 images of 8×8 in 3 shards \(0 written, 3 already complete\)/);

    expectOneLineError(runCli([...args.slice(0, -2), '--out', out, '--res', '16']), /made with --res 8, but this run asks for --res 16;.*new --out/);
    expectOneLineError(
      runCli([...args, '--families', 'chair']),
      /made with --families chair,table,lamp,mug,vase,sofa,car,tree, but this run asks for --families chair;/,
    );
  });

  it('dataset flag errors are one line', () => {
    const out = path.join(tmp, 'never');
    expectOneLineError(
      runCli(['scenes', 'dataset', '--n', '4', '--res', '8', '--out', out, '--families', 'chair,rocket']),
      new RegExp(`--families: unknown family "rocket"; ${VALID_FAMILIES.source}`),
    );
    expectOneLineError(runCli(['scenes', 'dataset', '--n', '0', '--res', '8', '--out', out]), /--n <count>.*expected an integer/);
    expectOneLineError(runCli(['scenes', 'dataset', '--n', '4', '--out', out]), /required option '--res <px>'/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('dataset killed mid-run resumes to the same bytes as an uninterrupted run', async () => {
    const args = ['scenes', 'dataset', '--n', '2400', '--res', '16', '--shard-size', '100', '--seed', '11', '--json'];
    const whole = path.join(tmp, 'whole');
    expect(runCli([...args, '--out', whole]).status).toBe(0);

    const killed = path.join(tmp, 'killed');
    const child = spawn(process.execPath, [cliPath, ...args, '--out', killed], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const marker = path.join(killed, 'shard-00002.jsonl');
    const deadline = Date.now() + 60_000; // generous: CLI start-up alone takes seconds on a busy machine
    while (Date.now() < deadline && !fs.existsSync(marker)) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    expect(fs.existsSync(marker)).toBe(true);
    expect(fs.existsSync(path.join(killed, 'shard-00023.jsonl')), 'killed before the end').toBe(false);

    const resumed = runCli([...args, '--out', killed]);
    expect(resumed.status, resumed.stderr).toBe(0);
    const s = JSON.parse(resumed.stdout);
    expect(s.skipped).toBeGreaterThanOrEqual(3);
    expect(s.skipped + s.written).toBe(24);
    expect(s.written).toBeGreaterThan(0);
    sameFiles(whole, killed);
  });

  it('refs writes n distinct instances matching --where, as PNG + GLB, and attributes.json', async () => {
    const out = path.join(tmp, 'refs');
    const where = 'color=red|blue; back=tall';
    const r = runCli(['scenes', 'refs', '--family', 'chair', '--where', where, '--n', '5', '--res', '32', '--seed', '4', '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ family: 'chair', n: 5, res: 32, constraints: { color: ['red', 'blue'], back: ['tall back'] } });
    const files = fs.readdirSync(out).sort();
    expect(files).toEqual(['attributes.json', ...[0, 1, 2, 3, 4].flatMap((i) => [`ref-00${i}.glb`, `ref-00${i}.png`])]);

    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'attributes.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'dd3d-scene-refs', version: 1, family: 'chair', where, seed: 4, n: 5, res: 32 });
    expect(manifest.constraints).toEqual(parseWhere('chair', where));
    expect(manifest.images).toHaveLength(5);
    expect(new Set(manifest.images.map((im: { seed: number }) => im.seed)).size).toBe(5);
    for (const im of manifest.images) {
      expect(im.attributes.family).toBe('chair');
      expect(['red', 'blue']).toContain(im.attributes.color);
      expect(im.attributes.back).toBe('tall back');
      expect(im.camera.elevation).toBeGreaterThanOrEqual(0);
      expect(im.camera.elevation).toBeLessThanOrEqual(30);
      expect(im.view).not.toBe('overhead view');
      expect(im.description).toContain('tall back');
      const meta = await sharp(path.join(out, im.file)).metadata();
      expect([meta.width, meta.height, meta.channels]).toEqual([32, 32, 3]);
    }
    const glb = fs.readFileSync(path.join(out, 'ref-000.glb'));
    const report = (await validator.validateBytes(new Uint8Array(glb))) as { issues: { numErrors: number } };
    expect(report.issues.numErrors).toBe(0);

    // a smaller set in the same folder leaves no stale references behind
    expect(runCli(['scenes', 'refs', '--family', 'chair', '--where', where, '--n', '2', '--res', '32', '--seed', '4', '--out', out]).status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['attributes.json', 'ref-000.glb', 'ref-000.png', 'ref-001.glb', 'ref-001.png']);
    // the same seed gives the same instances
    expect(JSON.parse(fs.readFileSync(path.join(out, 'attributes.json'), 'utf8')).images).toEqual(manifest.images.slice(0, 2));
  });

  it('refs: unknown family, attribute or value is a one-line error listing the valid ones', () => {
    const out = path.join(tmp, 'bad-refs');
    expectOneLineError(
      runCli(['scenes', 'refs', '--family', 'spaceship', '--out', out]),
      new RegExp(`--family: unknown family "spaceship"; ${VALID_FAMILIES.source}`),
    );
    expectOneLineError(
      runCli(['scenes', 'refs', '--family', 'chair', '--where', 'wings=two', '--out', out]),
      /--where: chair has no attribute "wings"; valid attributes: color, seat_color, legs, back, seat, arms$/,
    );
    expectOneLineError(
      runCli(['scenes', 'refs', '--family', 'chair', '--where', 'color=teal', '--out', out]),
      /--where: unknown color "teal" for chair; valid values: "red", "orange",.*"gray"$/,
    );
    expectOneLineError(runCli(['scenes', 'refs', '--family', 'chair', '--where', 'back', '--out', out]), /--where "back": expected attribute=value/);
    expect(fs.existsSync(out)).toBe(false);

    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'holiday.jpg'), 'x');
    expectOneLineError(runCli(['scenes', 'refs', '--family', 'chair', '--n', '1', '--out', out]), /holds files that are not a reference set \(holiday\.jpg\)/);
  });

  it('sheet draws one row per family', async () => {
    const out = path.join(tmp, 'sheet.png');
    const r = runCli(['scenes', 'sheet', '--out', out, '--per-family', '2', '--res', '16', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: FAMILY_NAMES, columns: 2, res: 16 });
    const meta = await sharp(out).metadata();
    // tiles with a 2-pixel gap
    expect([meta.width, meta.height]).toEqual([2 * 16 + 2, FAMILY_NAMES.length * 18 - 2]);

    expectOneLineError(runCli(['scenes', 'sheet', '--out', path.join(tmp, 'sheet.jpg')]), /--out: expected a \.png file name/);
    expectOneLineError(runCli(['scenes', 'sheet', '--out', out, '--families', 'boat']), VALID_FAMILIES);
  });
});
