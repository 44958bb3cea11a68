/** scripts/check-layers.mjs: the repo obeys its layer rules, and the checker catches each kind of breach. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs tool script without type declarations
import { checkLayers } from '../../scripts/check-layers.mjs';

const ROOT = path.resolve(__dirname, '..', '..');

function fakeRepo(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-layers-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('check-layers', () => {
  it('finds no upward import and no cycle in this repository', () => {
    const { files, problems } = checkLayers(ROOT);
    expect(files).toBeGreaterThan(100);
    expect(problems).toEqual([]);
  });

  it('reports an upward import, a type-only one included', () => {
    const root = fakeRepo({
      'src/core/errors.ts': 'export class E {}\n',
      'src/cli/table.ts': 'export const t = 1;\n',
      'nerf/field.ts': "import type { t } from '../src/cli/table.js';\nimport { E } from '../src/core/errors.js';\n",
      'scenes/index.ts': "import { x } from '../renderers/camera.js';\n",
      'renderers/camera.ts': 'export const x = 1;\n',
    });
    const { problems } = checkLayers(root);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^nerf\/field\.ts \(layer nerf\) imports src\/cli\/table\.ts \(layer src\)/);
    expect(problems[1]).toMatch(/^scenes\/index\.ts \(layer scenes\) imports renderers\/camera\.ts/);
  });

  it('reports a cycle, and lets the core import nothing above it', () => {
    const root = fakeRepo({
      'src/text/a.ts': "import type { B } from './b.js';\nexport type A = B;\n",
      'src/text/b.ts': "import type { A } from './a.js';\nexport type B = A;\n",
      'src/core/random.ts': "import { y } from '../text/a.js';\n",
    });
    const { problems } = checkLayers(root);
    expect(problems).toContain('import cycle: src/text/a.ts -> src/text/b.ts -> src/text/a.ts');
    expect(problems.some((p: string) => p.startsWith('src/core/random.ts (layer src/core) imports src/text/a.ts'))).toBe(true);
  });
});
