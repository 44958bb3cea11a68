import * as THREE from 'three';
import { COLOR_NAMES } from '../colors.js';
import type { Family } from '../family.js';
import { legSpots, partMaker } from '../parts.js';

export const chair: Family = {
  spec: {
    name: 'chair',
    attributes: [
      { name: 'color', kind: 'color', values: COLOR_NAMES },
      { name: 'seat_color', kind: 'color', part: 'seat', values: COLOR_NAMES },
      { name: 'legs', kind: 'with', values: ['three legs', 'four legs'] },
      { name: 'back', kind: 'with', values: ['tall back', 'short back', 'no back'] },
      { name: 'seat', kind: 'with', values: ['round seat', 'square seat'] },
      { name: 'arms', kind: 'with', values: ['armrests', 'no armrests'] },
    ],
  },

  build(a, rng, body) {
    const part = partMaker(body);
    const round = a.seat === 'round seat';
    const width = rng.range(0.42, 0.52);
    const depth = round ? width : width * rng.range(0.9, 1.1);
    const seatTop = rng.range(0.42, 0.5);
    const seatThick = rng.range(0.04, 0.06);
    const legRadius = rng.range(0.018, 0.026);
    const legHeight = seatTop - seatThick;

    const seat = round ? new THREE.CylinderGeometry(width / 2, width / 2, seatThick, 24) : new THREE.BoxGeometry(width, seatThick, depth);
    part('seat', seat, a.seat_color!, [0, seatTop - seatThick / 2, 0]);

    const inset = legRadius * 1.5;
    const nLegs = a.legs === 'three legs' ? 3 : 4;
    const spots = legSpots(nLegs, width / 2 - inset, depth / 2 - inset, round);
    const taper = rng.range(0.7, 1);
    for (const [x, z] of spots) part('leg', new THREE.CylinderGeometry(legRadius * taper, legRadius, legHeight, 8), a.color!, [x, legHeight / 2, z]);

    if (a.back !== 'no back') {
      // tall backs rise above the seat width, short ones stay well under it (tests rely on this)
      const h = width * (a.back === 'tall back' ? rng.range(1.0, 1.3) : rng.range(0.35, 0.55));
      const t = 0.035;
      const w = round ? width * 0.75 : width;
      const z = round ? -width * 0.36 : -depth / 2 + t / 2;
      const lean = rng.range(0, 0.15);
      // lean the panel back around its bottom edge so it stays on the seat
      const cy = seatTop + (h / 2) * Math.cos(lean);
      const cz = z - (h / 2) * Math.sin(lean);
      part('back', new THREE.BoxGeometry(w, h, t), a.color!, [0, cy, cz], [-lean, 0, 0]);
    }

    if (a.arms === 'armrests') {
      const rise = rng.range(0.18, 0.24);
      const len = depth * 0.8;
      const x = (round ? width * 0.42 : width / 2) - 0.02;
      for (const s of [-1, 1]) {
        part('armrest', new THREE.BoxGeometry(0.045, 0.03, len), a.color!, [s * x, seatTop + rise, -depth * 0.05]);
        part('arm support', new THREE.CylinderGeometry(0.014, 0.014, rise, 8), a.color!, [s * x, seatTop + rise / 2, len * 0.35]);
      }
    }
  },
};
