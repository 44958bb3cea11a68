import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dd3dError } from '../../../src/core/errors.js';
import { writeReferenceSet, type RefsOptions } from '../../../src/dataset/scene-refs.js';

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
