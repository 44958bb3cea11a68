import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { partMaker } from '../parts.js';

export const sofa: Family = {
  spec: {
    name: 'sofa',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'cushion_color', kind: 'color', part: 'cushions', values: COLOR_NAMES },
      { name: 'cushions', kind: 'with', values: ['two cushions', 'three cushions'] },
      { name: 'back', kind: 'with', values: ['tall back', 'low back'] },
      { name: 'arms', kind: 'with', values: ['armrests', 'no armrests'] },
      { name: 'legs', kind: 'with', values: ['short legs', 'no legs'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const n = a.cushions === 'three cushions' ? 3 : 2;
    const cushionWidth = rng.range(0.55, 0.68);
    const inner = n * cushionWidth;
    const depth = rng.range(0.8, 0.95);
    const armWidth = a.arms === 'armrests' ? rng.range(0.12, 0.18) : 0;
    const legHeight = a.legs === 'short legs' ? rng.range(0.08, 0.13) : 0;
    const baseHeight = rng.range(0.22, 0.3);
    const cushionThick = rng.range(0.1, 0.14);
    const backThick = rng.range(0.15, 0.2);
    // back height over depth: tall > 0.6, low < 0.4 (tests rely on this)
    const backHeight = depth * (a.back === 'tall back' ? rng.range(0.65, 0.8) : rng.range(0.25, 0.35));

    const baseTop = legHeight + baseHeight;
    part('frame', new THREE.BoxGeometry(inner, baseHeight, depth), a.color!, [0, legHeight + baseHeight / 2, 0]);
    const seatDepth = depth - backThick;
    for (let i = 0; i < n; i++) {
      const x = (i - (n - 1) / 2) * cushionWidth;
      part('cushion', new THREE.BoxGeometry(cushionWidth * 0.96, cushionThick, seatDepth * 0.97), a.cushion_color!, [
        x,
        baseTop + cushionThick / 2,
        backThick / 2,
      ]);
    }
    // the back stands behind the cushions, on the −Z side: a sofa faces +Z
    part('back', new THREE.BoxGeometry(inner, backHeight, backThick), a.color!, [0, baseTop + backHeight / 2, -depth / 2 + backThick / 2]);

    if (armWidth > 0) {
      const armHeight = baseHeight + cushionThick + rng.range(0.08, 0.16);
      for (const s of [-1, 1]) {
        part('armrest', new THREE.BoxGeometry(armWidth, armHeight, depth), a.color!, [s * (inner / 2 + armWidth / 2), legHeight + armHeight / 2, 0]);
      }
    }
    if (legHeight > 0) {
      const hx = inner / 2 + armWidth - 0.05;
      const hz = depth / 2 - 0.05;
      for (const [x, z] of [
        [-hx, -hz],
        [hx, -hz],
        [hx, hz],
        [-hx, hz],
      ] as const) {
        part('leg', new THREE.CylinderGeometry(0.03, 0.022, legHeight, 8), 'black', [x, legHeight / 2, z]);
      }
    }
  },
};
