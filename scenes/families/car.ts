import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { partMaker } from '../parts.js';

export const car: Family = {
  spec: {
    name: 'car',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'wheel_color', kind: 'color', part: 'wheels', values: ['black', 'gray', 'white'] },
      { name: 'wheels', kind: 'with', values: ['four wheels', 'six wheels'] },
      { name: 'roof', kind: 'with', values: ['roof', 'no roof'] },
      { name: 'spoiler', kind: 'with', values: ['spoiler', 'no spoiler'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const six = a.wheels === 'six wheels';
    const length = rng.range(1.8, 2.1) * (six ? 1.3 : 1);
    const width = rng.range(0.8, 0.95);
    const wheelRadius = rng.range(0.15, 0.2);
    const wheelWidth = rng.range(0.12, 0.16);
    const bodyBottom = wheelRadius * rng.range(0.5, 0.7);
    const bodyHeight = rng.range(0.3, 0.38);
    const bodyTop = bodyBottom + bodyHeight;

    part('body', new THREE.BoxGeometry(width, bodyHeight, length), a.color!, [0, bodyBottom + bodyHeight / 2, 0]);

    const axles = six ? [0.34, -0.08, -0.34] : [0.32, -0.32];
    for (const f of axles) {
      for (const s of [-1, 1]) {
        // wheels roll about X, poking half their width out of the body's sides
        part(
          'wheel',
          new THREE.CylinderGeometry(wheelRadius, wheelRadius, wheelWidth, 16),
          a.wheel_color!,
          [s * (width / 2), wheelRadius, f * length],
          [0, 0, Math.PI / 2],
        );
      }
    }

    // the cabin sits behind the middle, leaving a longer bonnet at the front (+Z)
    const cabinLength = length * rng.range(0.38, 0.48);
    const cabinZ = -length * rng.range(0.04, 0.1);
    const cabinHeight = rng.range(0.22, 0.3);
    if (a.roof === 'roof') {
      part('roof', new THREE.BoxGeometry(width * 0.86, cabinHeight, cabinLength), a.color!, [0, bodyTop + cabinHeight / 2, cabinZ]);
    } else {
      const shield = cabinHeight * 0.7;
      part('windshield', new THREE.BoxGeometry(width * 0.84, shield, 0.03), 'gray', [0, bodyTop + shield / 2, cabinZ + cabinLength / 2], [-0.35, 0, 0]);
      for (const s of [-1, 1]) {
        part('seat', new THREE.BoxGeometry(width * 0.32, cabinHeight * 0.6, 0.08), 'black', [
          s * width * 0.2,
          bodyTop + cabinHeight * 0.3,
          cabinZ - cabinLength * 0.15,
        ]);
      }
    }

    if (a.spoiler === 'spoiler') {
      const rise = rng.range(0.1, 0.15);
      const z = -length / 2 + 0.08;
      part('spoiler', new THREE.BoxGeometry(width * 0.9, 0.025, 0.14), a.color!, [0, bodyTop + rise, z]);
      for (const s of [-1, 1]) part('spoiler mount', new THREE.BoxGeometry(0.03, rise, 0.05), a.color!, [s * width * 0.3, bodyTop + rise / 2, z]);
    }

    const lightY = bodyTop - bodyHeight * 0.3;
    for (const s of [-1, 1]) {
      part('headlight', new THREE.BoxGeometry(width * 0.18, bodyHeight * 0.2, 0.02), 'yellow', [s * width * 0.32, lightY, length / 2 + 0.01]);
      part('taillight', new THREE.BoxGeometry(width * 0.18, bodyHeight * 0.2, 0.02), 'red', [s * width * 0.32, lightY, -length / 2 - 0.01]);
    }
  },
};
