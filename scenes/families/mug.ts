import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { lathe, partMaker } from '../parts.js';

export const mug: Family = {
  spec: {
    name: 'mug',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'shape', kind: 'adjective', values: ['tall', 'short'] },
      { name: 'handle', kind: 'with', values: ['handle', 'no handle'] },
      { name: 'saucer', kind: 'with', values: ['saucer', 'no saucer'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const r = rng.range(0.2, 0.24);
    const rTop = r * rng.range(1, 1.12);
    // height over diameter: tall > 1.05, short < 0.9 (tests rely on this)
    const h = 2 * r * (a.shape === 'tall' ? rng.range(1.1, 1.4) : rng.range(0.6, 0.85));
    const wall = r * 0.12;
    const floor = r * 0.15;
    const saucerThick = a.saucer === 'saucer' ? 0.03 : 0;

    if (saucerThick > 0) {
      const sr = r * rng.range(1.6, 1.9);
      part('saucer', new THREE.CylinderGeometry(sr, sr * 0.8, saucerThick, 32), 'white', [0, saucerThick / 2, 0]);
    }
    // a hollow cup: outside up, over the lip, down the inside, across the inner floor
    const profile: Array<[number, number]> = [
      [0, 0],
      [r, 0],
      [rTop, h],
      [rTop - wall, h],
      [r - wall, floor],
      [0, floor],
    ];
    part('body', lathe(profile, [1, 2, 3, 4], 24), a.color!, [0, saucerThick, 0]);

    if (a.handle === 'handle') {
      // a half torus on the +X side (the right, seen from the front), its open ends buried in the wall
      const hr = h * rng.range(0.25, 0.32);
      const tube = Math.min(wall * 0.45, r * 0.05);
      const wallX = (r + rTop) / 2 - wall / 2;
      part('handle', new THREE.TorusGeometry(hr, tube, 8, 16, Math.PI), a.color!, [wallX, saucerThick + h * 0.5, 0], [0, 0, -Math.PI / 2]);
    }
  },
};
