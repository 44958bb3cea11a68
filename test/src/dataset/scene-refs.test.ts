import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dd3dError } from '../../../src/core/errors.js';
import { readRefsManifest, writeReferenceSet, type RefsOptions } from '../../../src/dataset/scene-refs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-scene-refs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('writeReferenceSet', () => {
  it('takes the family as typed and writes its canonical name', async () => {
    const out = path.join(tmp, 'mugs');
    const manifest = await writeReferenceSet({ family: ' Mug', where: 'handle=no', n: 2, res: 8, out });
    expect(manifest).toMatchObject({ family: 'mug', n: 2, res: 8, seed: 0, constraints: { handle: ['no handle'] } });
    expect(manifest.images.map((im) => [im.file, im.attributes.family, im.attributes.handle])).toEqual([
      ['ref-000.png', 'mug', 'no handle'],
      ['ref-001.png', 'mug', 'no handle'],
    ]);
    expect(fs.readdirSync(out).sort()).toEqual(['attributes.json', 'ref-000.glb', 'ref-000.png', 'ref-001.glb', 'ref-001.png']);
  });

  it('names the flag of a bad option before writing anything', async () => {
    const out = path.join(tmp, 'never');
    const ok: RefsOptions = { family: 'chair', n: 1, res: 8, out };
    const cases: Array<[Partial<RefsOptions>, string]> = [
      [{ family: 'boat' }, '--family: unknown family "boat"; valid families: chair, table, lamp, mug, vase, sofa, car, tree'],
      [{ where: 'legs=two' }, '--where: unknown legs "two" for chair; valid values: "three legs", "four legs"'],
      [{ seed: -2 }, '--seed -2: expected an integer ≥ 0'],
      [{ n: 0 }, '--n 0: expected an integer ≥ 1'],
      [{ res: 4097 }, '--res 4097: expected an integer from 1 to 4096'],
    ];
    for (const [change, message] of cases) await expect(writeReferenceSet({ ...ok, ...change })).rejects.toThrow(new Dd3dError(message));
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('readRefsManifest', () => {
  it('reads back what writeReferenceSet wrote', async () => {
    const out = path.join(tmp, 'read-back');
    const written = await writeReferenceSet({ family: 'chair', where: 'color=red|blue; back=tall', n: 2, res: 8, out });
    const read = readRefsManifest(path.join(out, 'attributes.json'));
    expect(read.family).toBe('chair');
    expect(read.constraints).toEqual({ color: ['red', 'blue'], back: ['tall back'] });
    expect(read.images).toEqual(written.images.map((im) => ({ file: im.file, glb: im.glb, attributes: im.attributes })));
  });

  it('names the file and the key of a manifest that is not what the writer writes', () => {
    const file = path.join(tmp, 'attributes.json');
    const good = {
      format: 'dd3d-scene-refs',
      family: 'vase',
      constraints: { shape: ['round'] },
      images: [{ file: 'a.png', glb: 'a.glb', attributes: { color: 'red' } }],
    };
    const cases: Array<[unknown, string]> = [
      [{ ...good, format: 'other' }, 'not a reference set (expected "format": "dd3d-scene-refs")'],
      [[good], 'not a reference set (expected "format": "dd3d-scene-refs")'],
      [{ ...good, family: 3 }, 'expected "family" (a string) and "images" (a list), as "dd3d scenes refs" writes it'],
      [{ ...good, images: {} }, 'expected "family" (a string) and "images" (a list), as "dd3d scenes refs" writes it'],
      [{ ...good, constraints: ['round'] }, '"constraints" is not an object of attribute → values'],
      [{ ...good, constraints: { shape: 'round' } }, 'constraints.shape is not a list of values'],
      [{ ...good, images: [{ glb: 'a.glb' }] }, 'images[0] has no "file" (a string), as "dd3d scenes refs" writes it'],
      [{ ...good, images: [good.images[0], null] }, 'images[1] has no "file" (a string), as "dd3d scenes refs" writes it'],
      [{ ...good, images: [{ file: 'a.png', glb: 7 }] }, 'images[0].glb is not a file name'],
      [{ ...good, images: [{ file: 'a.png', attributes: { color: 1 } }] }, 'images[0].attributes is not an object of attribute → value'],
    ];
    for (const [value, message] of cases) {
      fs.writeFileSync(file, JSON.stringify(value));
      expect(() => readRefsManifest(file)).toThrow(new Dd3dError(`${file}: ${message}`));
    }
    fs.writeFileSync(file, JSON.stringify({ ...good, constraints: undefined, images: [{ file: 'b.png' }] }));
    expect(readRefsManifest(file)).toEqual({ family: 'vase', constraints: {}, images: [{ file: 'b.png', attributes: {} }] });
  });
});
