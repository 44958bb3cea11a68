import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { legSpots, partMaker } from '../parts.js';

export const table: Family = {
  spec: {
    name: 'table',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'top_color', kind: 'color', part: 'top', values: COLOR_NAMES },
      { name: 'height', kind: 'adjective', values: ['tall', 'low'] },
      { name: 'legs', kind: 'with', values: ['one leg', 'three legs', 'four legs'] },
      { name: 'top', kind: 'with', values: ['round top', 'square top', 'rectangular top'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const round = a.top === 'round top';
    // the long side of a rectangular top runs along X, so the front view shows it
    const width = rng.range(0.85, 1.1);
    const depth = a.top === 'rectangular top' ? width * rng.range(0.5, 0.65) : width;
    // "tall" vs "low" is height over the top's longest side; tests check > 0.6 vs < 0.45
    const height = width * (a.height === 'tall' ? rng.range(0.68, 0.85) : rng.range(0.3, 0.4));
    const thick = rng.range(0.035, 0.055);

    const top = round ? new THREE.CylinderGeometry(width / 2, width / 2, thick, 32) : new THREE.BoxGeometry(width, thick, depth);
    part('top', top, a.top_color!, [0, height - thick / 2, 0]);

    const legHeight = height - thick;
    if (a.legs === 'one leg') {
      const r = width * rng.range(0.04, 0.06);
      const footThick = 0.03;
      part('leg', new THREE.CylinderGeometry(r, r * 1.2, legHeight - footThick, 12), a.color!, [0, footThick + (legHeight - footThick) / 2, 0]);
      const foot = Math.min(width, depth) * rng.range(0.25, 0.35);
      part('foot', new THREE.CylinderGeometry(foot * 0.9, foot, footThick, 24), a.color!, [0, footThick / 2, 0]);
      return;
    }
    const r = rng.range(0.022, 0.035);
    const inset = r + width * rng.range(0.03, 0.08);
    const n = a.legs === 'three legs' ? 3 : 4;
    for (const [x, z] of legSpots(n, width / 2 - inset, depth / 2 - inset, round)) {
      part('leg', new THREE.CylinderGeometry(r, r * 0.8, legHeight, 8), a.color!, [x, legHeight / 2, z]);
    }
  },
};
