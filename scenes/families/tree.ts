import * as THREE from 'three';
import type { Family } from '../family.js';
import { partMaker } from '../parts.js';

export const tree: Family = {
  spec: {
    name: 'tree',
    attributes: [
      // foliage colours a tree plausibly has, in some season or species
      { name: 'color', kind: 'color', values: ['green', 'yellow', 'orange', 'red', 'pink', 'white', 'purple'] },
      { name: 'trunk_color', kind: 'color', part: 'trunk', values: ['brown', 'gray', 'black', 'white'] },
      { name: 'crown', kind: 'with', values: ['round crown', 'pointed crown', 'layered crown'] },
      { name: 'trunk', kind: 'with', values: ['tall trunk', 'short trunk'] },
      { name: 'pot', kind: 'with', values: ['pot', 'no pot'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const size = rng.range(0.8, 1.0); // the crown's width
    const potHeight = a.pot === 'pot' ? size * rng.range(0.3, 0.4) : 0;
    if (potHeight > 0) {
      const pr = size * rng.range(0.22, 0.3);
      part('pot', new THREE.CylinderGeometry(pr, pr * 0.75, potHeight, 16), 'brown', [0, potHeight / 2, 0]);
    }
    // trunk length over crown width: tall > 0.7, short < 0.5 (tests rely on this)
    const trunk = size * (a.trunk === 'tall trunk' ? rng.range(0.8, 1.1) : rng.range(0.25, 0.4));
    const tr = size * rng.range(0.05, 0.08);
    // the trunk reaches into the crown so no gap shows between them
    const overlap = size * 0.15;
    part('trunk', new THREE.CylinderGeometry(tr * 0.7, tr, trunk + overlap, 10), a.trunk_color!, [0, potHeight + (trunk + overlap) / 2, 0]);
    const base = potHeight + trunk;

    if (a.crown === 'round crown') {
      const r = size / 2;
      part('crown', new THREE.SphereGeometry(r, 16, 12), a.color!, [0, base + r * 0.9, 0]);
      const extra = rng.int(0, 2);
      for (let i = 0; i < extra; i++) {
        const ang = rng.range(0, 2 * Math.PI);
        const rr = r * rng.range(0.45, 0.6);
        part('crown', new THREE.SphereGeometry(rr, 12, 8), a.color!, [Math.sin(ang) * r * 0.6, base + r * rng.range(0.6, 1.3), Math.cos(ang) * r * 0.6]);
      }
    } else if (a.crown === 'pointed crown') {
      const h = size * rng.range(1.3, 1.8);
      part('crown', new THREE.ConeGeometry(size / 2, h, 16), a.color!, [0, base + h / 2, 0]);
    } else {
      let y = base;
      let r = size / 2;
      const layers = rng.int(3, 4);
      for (let i = 0; i < layers; i++) {
        const h = r * rng.range(1.3, 1.6);
        part('crown', new THREE.ConeGeometry(r, h, 16), a.color!, [0, y + h / 2, 0]);
        y += h * 0.45;
        r *= 0.75;
      }
    }
  },
};
