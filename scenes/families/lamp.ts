import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { lathe, partMaker } from '../parts.js';

export const lamp: Family = {
  spec: {
    name: 'lamp',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'shade_color', kind: 'color', part: 'shade', values: COLOR_NAMES },
      { name: 'height', kind: 'adjective', values: ['tall', 'short'] },
      { name: 'shade', kind: 'with', values: ['cone shade', 'drum shade', 'dome shade'] },
      { name: 'base', kind: 'with', values: ['round base', 'square base'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const shadeRadius = rng.range(0.18, 0.24);
    const baseRadius = shadeRadius * rng.range(0.55, 0.8);
    const baseThick = rng.range(0.03, 0.05);
    // stem length over shade width: tall > 1.2, short < 0.9 (tests rely on this)
    const stem = 2 * shadeRadius * (a.height === 'tall' ? rng.range(1.5, 2.2) : rng.range(0.45, 0.8));
    const stemRadius = rng.range(0.012, 0.02);

    const base =
      a.base === 'round base'
        ? new THREE.CylinderGeometry(baseRadius * 0.95, baseRadius, baseThick, 24)
        : new THREE.BoxGeometry(baseRadius * 1.8, baseThick, baseRadius * 1.8);
    part('base', base, a.color!, [0, baseThick / 2, 0]);
    part('stem', new THREE.CylinderGeometry(stemRadius, stemRadius, stem, 8), a.color!, [0, baseThick + stem / 2, 0]);

    // the shade sits a little below the stem's top, hiding where the bulb would be
    const shadeBottom = baseThick + stem - shadeRadius * 0.25;
    if (a.shade === 'dome shade') {
      const h = shadeRadius * rng.range(0.65, 0.9);
      const arc: Array<[number, number]> = [
        [0, 0],
        [shadeRadius, 0],
      ];
      for (let i = 1; i <= 8; i++) {
        const t = (i / 8) * (Math.PI / 2);
        arc.push([i === 8 ? 0 : shadeRadius * Math.cos(t), h * Math.sin(t)]);
      }
      part('shade', lathe(arc, [1], 24), a.shade_color!, [0, shadeBottom, 0]);
    } else {
      const h = shadeRadius * rng.range(0.8, 1.1);
      // a cone shade's top is under 0.6 of its bottom, a drum's over 0.85
      const top = shadeRadius * (a.shade === 'cone shade' ? rng.range(0.35, 0.55) : rng.range(0.88, 1));
      part('shade', new THREE.CylinderGeometry(top, shadeRadius, h, 24), a.shade_color!, [0, shadeBottom + h / 2, 0]);
    }
  },
};
