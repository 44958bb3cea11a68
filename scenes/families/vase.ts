import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { lathe, partMaker } from '../parts.js';

/** Body radius at height fraction t ∈ [0, 1], relative to the widest radius. */
const PROFILES: Record<string, (t: number) => number> = {
  round: (t) => 0.5 + 0.5 * Math.sin(Math.PI * t),
  cylindrical: (t) => 0.93 + 0.07 * Math.sin(Math.PI * t),
  flared: (t) => 0.4 + 0.6 * t ** 1.6,
};

export const vase: Family = {
  spec: {
    name: 'vase',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'shape', kind: 'adjective', values: ['round', 'cylindrical', 'flared'] },
      { name: 'neck', kind: 'with', values: ['long neck', 'short neck', 'no neck'] },
      { name: 'handles', kind: 'with', values: ['two handles', 'no handles'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const shape = PROFILES[a.shape!]!;
    const r = rng.range(0.2, 0.26);
    const h = r * (a.shape === 'round' ? rng.range(1.8, 2.2) : rng.range(2.4, 3.2));
    const profile: Array<[number, number]> = [[0, 0]];
    const rows = 10;
    for (let i = 0; i <= rows; i++) profile.push([r * shape(i / rows), (h * i) / rows]);
    profile.push([0, h]);
    part('body', lathe(profile, [1, rows + 1], 24), a.color!, [0, 0, 0]);

    if (a.neck !== 'no neck') {
      // neck length over body height: long > 0.35, short < 0.25 (tests rely on this)
      const nh = h * (a.neck === 'long neck' ? rng.range(0.4, 0.55) : rng.range(0.12, 0.2));
      const nr = Math.min(r * shape(1), r * 0.5) * rng.range(0.7, 0.9);
      part('neck', new THREE.CylinderGeometry(nr * 1.15, nr, nh, 16), a.color!, [0, h + nh / 2 - 0.005, 0]);
    }

    if (a.handles === 'two handles') {
      const t = rng.range(0.55, 0.7);
      const y = h * t;
      const wall = r * shape(t);
      const hr = h * 0.12;
      for (const s of [-1, 1]) {
        // half tori on ±X, bulging outward, ends slightly inside the body surface
        part('handle', new THREE.TorusGeometry(hr, r * 0.06, 8, 12, Math.PI), a.color!, [s * (wall - r * 0.05), y, 0], [0, 0, (-s * Math.PI) / 2]);
      }
    }
  },
};
