import * as fs from 'node:fs';
import * as path from 'node:path';
import * as THREE from 'three';
import { describe, expect, it } from 'vitest';
import { Dd3dError } from '../../src/core/errors.js';
import { COLORS, FAMILIES, disposeObject, familyName, makeObject, parseWhere, triangleCount, type Attributes } from '../../scenes/index.js';

const SEEDS = Array.from({ length: 50 }, (_, i) => i * 7919 + 3);

function meshes(group: THREE.Object3D, name?: string): THREE.Mesh[] {
  const out: THREE.Mesh[] = [];
  group.traverse((o) => {
    if ((o as THREE.Mesh).isMesh && (name === undefined || o.name === name)) out.push(o as THREE.Mesh);
  });
  return out;
}
const count = (g: THREE.Object3D, name: string): number => meshes(g, name).length;

/** World-space box of the named meshes (or of everything). */
function box(group: THREE.Object3D, name?: string): THREE.Box3 {
  group.updateMatrixWorld(true);
  const b = new THREE.Box3();
  for (const m of meshes(group, name)) b.expandByObject(m, true);
  return b;
}
const size = (b: THREE.Box3): THREE.Vector3 => b.getSize(new THREE.Vector3());
const centre = (b: THREE.Box3): THREE.Vector3 => b.getCenter(new THREE.Vector3());

function worldPositions(group: THREE.Object3D): number[] {
  group.updateMatrixWorld(true);
  const out: number[] = [];
  const v = new THREE.Vector3();
  for (const m of meshes(group)) {
    const p = m.geometry.getAttribute('position');
    for (let i = 0; i < p.count; i++) out.push(...v.fromBufferAttribute(p, i).applyMatrix4(m.matrixWorld).toArray());
  }
  return out;
}

/** Signed volume of a mesh in world space: positive when its triangles wind outward (CCW). */
function signedVolume(m: THREE.Mesh): number {
  const g = m.geometry;
  const p = g.getAttribute('position');
  const idx = g.index;
  const n = idx ? idx.count : p.count;
  const a = new THREE.Vector3(),
    b = new THREE.Vector3(),
    c = new THREE.Vector3();
  let vol = 0;
  for (let t = 0; t < n; t += 3) {
    const at = (k: number): number => (idx ? idx.getX(t + k) : t + k);
    a.fromBufferAttribute(p, at(0)).applyMatrix4(m.matrixWorld);
    b.fromBufferAttribute(p, at(1)).applyMatrix4(m.matrixWorld);
    c.fromBufferAttribute(p, at(2)).applyMatrix4(m.matrixWorld);
    vol += a.dot(b.cross(c)) / 6;
  }
  return vol;
}

describe('family specs', () => {
  it('has at least 8 families, 10 colours, and 3 family-specific attributes each, all caption-ready words', () => {
    expect(FAMILIES.length).toBeGreaterThanOrEqual(8);
    expect(FAMILIES.map((f) => f.name)).toEqual(expect.arrayContaining(['chair', 'table', 'lamp', 'mug', 'vase', 'sofa', 'car', 'tree']));
    expect(Object.keys(COLORS).length).toBeGreaterThanOrEqual(10);
    for (const f of FAMILIES) {
      const names = f.attributes.map((a) => a.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names).toContain('color');
      expect(f.attributes.filter((a) => a.kind !== 'color').length).toBeGreaterThanOrEqual(3);
      for (const a of f.attributes) {
        expect(a.values.length).toBeGreaterThanOrEqual(2);
        for (const v of a.values) expect(v).toMatch(/^[a-z0-9]+( [a-z0-9]+)*$/);
        if (a.kind === 'color') for (const v of a.values) expect(COLORS).toHaveProperty(v);
      }
    }
  });

  it('keeps scenes/ browser-safe: only three and relative imports, no node: modules', () => {
    const dir = path.resolve(__dirname, '..', '..', 'scenes');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(/from '([^']+)'/g)) {
        const spec = m[1]!;
        expect(spec === 'three' || spec.startsWith('.'), `${f} imports ${spec}`).toBe(true);
        // from src/, only the browser-safe part of the foundation layer (no tfjs, no node:)
        if (spec.startsWith('../src/') || spec.startsWith('../../src/')) expect(spec, `${f}`).toMatch(/src\/core\/(errors|random)\.js$/);
      }
    }
  });
});

describe('makeObject', () => {
  it('is deterministic for a seed and varies across seeds', () => {
    for (const f of FAMILIES) {
      const a = makeObject(f.name, 42);
      const b = makeObject(f.name, 42);
      expect(b.attributes).toEqual(a.attributes);
      expect(worldPositions(b.group)).toEqual(worldPositions(a.group));
      const c = makeObject(f.name, 43);
      expect(worldPositions(c.group)).not.toEqual(worldPositions(a.group));
      const records = new Set(SEEDS.map((s) => JSON.stringify(makeObject(f.name, s).attributes)));
      expect(records.size, f.name).toBeGreaterThan(10);
      // every value of every attribute turns up within 50 seeds
      for (const attr of f.attributes) {
        const seen = new Set(SEEDS.map((s) => makeObject(f.name, s).attributes[attr.name]));
        if (attr.values.length <= 4) expect([...seen].sort(), `${f.name}.${attr.name}`).toEqual([...attr.values].sort());
      }
    }
  });

  it('centres every object, scales it to a unit bounding sphere, keeps the root transform identity', () => {
    for (const f of FAMILIES) {
      for (const seed of SEEDS) {
        const { group } = makeObject(f.name, seed);
        const c = centre(box(group));
        expect(c.length(), `${f.name} #${seed} centre`).toBeLessThan(1e-3);
        const p = worldPositions(group);
        let r = 0;
        for (let i = 0; i < p.length; i += 3) r = Math.max(r, Math.hypot(p[i]!, p[i + 1]!, p[i + 2]!));
        expect(Math.abs(r - 1), `${f.name} #${seed} radius`).toBeLessThan(1e-3);
        expect(group.matrix.equals(new THREE.Matrix4()), `${f.name} root`).toBe(true);
        for (const m of meshes(group)) expect(signedVolume(m), `${f.name} #${seed} ${m.name} winds outward`).toBeGreaterThan(0);
      }
    }
  });

  /** Parts that stand on the floor, and parts one of which reaches the top: an upside-down object fails. */
  const UPRIGHT: Record<string, { ground: (a: Attributes) => string[]; top: (a: Attributes) => string[] }> = {
    chair: { ground: () => ['leg'], top: () => ['back', 'armrest', 'seat'] },
    table: { ground: (a) => (a.legs === 'one leg' ? ['foot'] : ['leg']), top: () => ['top'] },
    lamp: { ground: () => ['base'], top: () => ['shade'] },
    mug: { ground: (a) => (a.saucer === 'saucer' ? ['saucer'] : ['body']), top: () => ['body'] },
    vase: { ground: () => ['body'], top: (a) => (a.neck === 'no neck' ? ['body'] : ['neck']) },
    sofa: { ground: (a) => (a.legs === 'short legs' ? ['leg'] : ['frame']), top: () => ['back', 'armrest'] },
    car: { ground: () => ['wheel'], top: (a) => (a.roof === 'roof' ? ['roof'] : ['windshield', 'spoiler', 'seat']) },
    tree: { ground: (a) => (a.pot === 'pot' ? ['pot'] : ['trunk']), top: () => ['crown'] },
  };

  it('stands upright: floor parts at the bottom, top parts at the top', () => {
    for (const f of FAMILIES) {
      const rule = UPRIGHT[f.name];
      expect(rule, `${f.name} has an upright rule`).toBeDefined();
      for (const seed of SEEDS) {
        const { group, attributes } = makeObject(f.name, seed);
        const all = box(group);
        const ground = rule!.ground(attributes).map((n) => box(group, n));
        expect(Math.min(...ground.map((b) => b.min.y)) - all.min.y, `${f.name} #${seed} floor`).toBeLessThan(1e-6);
        // (a mug without saucer is all body, so its floor part is centred, not below)
        for (const b of ground) expect(centre(b).y, `${f.name} #${seed}`).toBeLessThan(1e-6);
        const top = rule!
          .top(attributes)
          .map((n) => box(group, n))
          .filter((b) => !b.isEmpty());
        expect(all.max.y - Math.max(...top.map((b) => b.max.y)), `${f.name} #${seed} top`).toBeLessThan(0.05);
      }
    }
  });

  it('faces +Z: backs and tail lights behind, head lights in front, mug handle on the right', () => {
    for (const seed of SEEDS) {
      const chair = makeObject('chair', seed, { back: ['tall back', 'short back'] }).group;
      expect(centre(box(chair, 'back')).z).toBeLessThan(centre(box(chair, 'seat')).z - 0.1);
      const sofa = makeObject('sofa', seed).group;
      expect(centre(box(sofa, 'back')).z).toBeLessThan(centre(box(sofa, 'cushion')).z - 0.1);
      const car = makeObject('car', seed, { spoiler: 'spoiler' }).group;
      expect(box(car, 'headlight').min.z).toBeGreaterThan(0.5);
      expect(box(car, 'taillight').max.z).toBeLessThan(-0.5);
      expect(centre(box(car, 'spoiler')).z).toBeLessThan(-0.5);
      const mug = makeObject('mug', seed, { handle: 'handle' }).group;
      expect(centre(box(mug, 'handle')).x).toBeGreaterThan(centre(box(mug, 'body')).x);
    }
  });

  /** Attribute ↔ geometry, family by family: counts of named meshes, geometry kinds, proportions. */
  const CONSISTENT: Record<string, (a: Attributes, g: THREE.Group) => void> = {
    chair(a, g) {
      expect(count(g, 'leg')).toBe(a.legs === 'three legs' ? 3 : 4);
      expect(count(g, 'seat')).toBe(1);
      expect(meshes(g, 'seat')[0]!.geometry.type).toBe(a.seat === 'round seat' ? 'CylinderGeometry' : 'BoxGeometry');
      expect(count(g, 'back')).toBe(a.back === 'no back' ? 0 : 1);
      if (a.back !== 'no back') {
        const ratio = size(box(g, 'back')).y / size(box(g, 'seat')).x;
        if (a.back === 'tall back') expect(ratio).toBeGreaterThan(0.9);
        else expect(ratio).toBeLessThan(0.6);
      }
      expect(count(g, 'armrest')).toBe(a.arms === 'armrests' ? 2 : 0);
    },
    table(a, g) {
      expect(count(g, 'leg')).toBe({ 'one leg': 1, 'three legs': 3, 'four legs': 4 }[a.legs!]);
      expect(count(g, 'foot')).toBe(a.legs === 'one leg' ? 1 : 0);
      const top = meshes(g, 'top');
      expect(top.length).toBe(1);
      expect(top[0]!.geometry.type).toBe(a.top === 'round top' ? 'CylinderGeometry' : 'BoxGeometry');
      const t = size(box(g, 'top'));
      if (a.top === 'rectangular top') expect(t.x / t.z).toBeGreaterThan(1.4);
      else expect(t.x / t.z).toBeCloseTo(1, 5);
      const all = size(box(g));
      const ratio = all.y / Math.max(all.x, all.z);
      if (a.height === 'tall') expect(ratio).toBeGreaterThan(0.6);
      else expect(ratio).toBeLessThan(0.45);
    },
    lamp(a, g) {
      const shade = meshes(g, 'shade');
      expect(shade.length).toBe(1);
      expect(count(g, 'base')).toBe(1);
      expect(count(g, 'stem')).toBe(1);
      const geo = shade[0]!.geometry;
      if (a.shade === 'dome shade') expect(geo.type).toBe('LatheGeometry');
      else {
        expect(geo.type).toBe('CylinderGeometry');
        const { radiusTop, radiusBottom } = (geo as THREE.CylinderGeometry).parameters;
        if (a.shade === 'cone shade') expect(radiusTop / radiusBottom).toBeLessThan(0.6);
        else expect(radiusTop / radiusBottom).toBeGreaterThan(0.85);
      }
      expect(meshes(g, 'base')[0]!.geometry.type).toBe(a.base === 'round base' ? 'CylinderGeometry' : 'BoxGeometry');
      const ratio = size(box(g, 'stem')).y / size(box(g, 'shade')).x;
      if (a.height === 'tall') expect(ratio).toBeGreaterThan(1.2);
      else expect(ratio).toBeLessThan(0.9);
    },
    mug(a, g) {
      expect(count(g, 'body')).toBe(1);
      expect(count(g, 'handle')).toBe(a.handle === 'handle' ? 1 : 0);
      expect(count(g, 'saucer')).toBe(a.saucer === 'saucer' ? 1 : 0);
      const b = size(box(g, 'body'));
      if (a.shape === 'tall') expect(b.y / b.x).toBeGreaterThan(0.95);
      else expect(b.y / b.x).toBeLessThan(0.87);
    },
    vase(a, g) {
      expect(count(g, 'body')).toBe(1);
      expect(count(g, 'neck')).toBe(a.neck === 'no neck' ? 0 : 1);
      if (a.neck !== 'no neck') {
        const ratio = size(box(g, 'neck')).y / size(box(g, 'body')).y;
        if (a.neck === 'long neck') expect(ratio).toBeGreaterThan(0.35);
        else expect(ratio).toBeLessThan(0.25);
      }
      expect(count(g, 'handle')).toBe(a.handles === 'two handles' ? 2 : 0);
      const pts = (meshes(g, 'body')[0]!.geometry as THREE.LatheGeometry).parameters.points.filter((p) => p.x > 0);
      const radii = pts.map((p) => p.x);
      const max = Math.max(...radii);
      const [bottom, top] = [radii[0]!, radii[radii.length - 1]!];
      if (a.shape === 'round') expect(Math.max(bottom, top) / max).toBeLessThan(0.6);
      if (a.shape === 'cylindrical') expect(Math.min(...radii) / max).toBeGreaterThan(0.9);
      if (a.shape === 'flared') expect([top / max, bottom / max < 0.5]).toEqual([1, true]);
    },
    sofa(a, g) {
      expect(count(g, 'cushion')).toBe(a.cushions === 'three cushions' ? 3 : 2);
      expect(count(g, 'armrest')).toBe(a.arms === 'armrests' ? 2 : 0);
      expect(count(g, 'leg')).toBe(a.legs === 'short legs' ? 4 : 0);
      expect(count(g, 'back')).toBe(1);
      const ratio = size(box(g, 'back')).y / size(box(g, 'frame')).z;
      if (a.back === 'tall back') expect(ratio).toBeGreaterThan(0.6);
      else expect(ratio).toBeLessThan(0.4);
    },
    car(a, g) {
      expect(count(g, 'wheel')).toBe(a.wheels === 'six wheels' ? 6 : 4);
      expect(count(g, 'roof')).toBe(a.roof === 'roof' ? 1 : 0);
      expect(count(g, 'windshield')).toBe(a.roof === 'roof' ? 0 : 1);
      expect(count(g, 'spoiler')).toBe(a.spoiler === 'spoiler' ? 1 : 0);
      expect(count(g, 'headlight')).toBe(2);
    },
    tree(a, g) {
      expect(count(g, 'trunk')).toBe(1);
      expect(count(g, 'pot')).toBe(a.pot === 'pot' ? 1 : 0);
      const kinds = meshes(g, 'crown').map((m) => m.geometry.type);
      if (a.crown === 'round crown') expect(new Set(kinds)).toEqual(new Set(['SphereGeometry']));
      if (a.crown === 'pointed crown') expect(kinds).toEqual(['ConeGeometry']);
      if (a.crown === 'layered crown') {
        expect(kinds.length).toBeGreaterThanOrEqual(3);
        expect(new Set(kinds)).toEqual(new Set(['ConeGeometry']));
      }
      const ratio = size(box(g, 'trunk')).y / size(box(g, 'crown')).x;
      if (a.trunk === 'tall trunk') expect(ratio).toBeGreaterThan(0.7);
      else expect(ratio).toBeLessThan(0.6);
    },
  };
  /** Which meshes wear each part colour. */
  const PART_MESH: Record<string, string> = { seat: 'seat', top: 'top', shade: 'shade', cushions: 'cushion', wheels: 'wheel', trunk: 'trunk' };

  it('matches attributes to geometry and colours for every family', () => {
    for (const f of FAMILIES) {
      const check = CONSISTENT[f.name];
      expect(check, `${f.name} has a consistency check`).toBeDefined();
      for (const seed of SEEDS) {
        const { group, attributes } = makeObject(f.name, seed);
        expect(attributes.family).toBe(f.name);
        expect(Object.keys(attributes).sort()).toEqual(['family', ...f.attributes.map((a) => a.name)].sort());
        try {
          check!(attributes, group);
        } catch (e) {
          throw new Error(`${f.name} #${seed} ${JSON.stringify(attributes)}: ${(e as Error).message}`);
        }
        const colours = new Map(meshes(group).map((m) => [m.name, m.material as THREE.MeshStandardMaterial]));
        expect(meshes(group).some((m) => (m.material as THREE.Material).name === attributes.color)).toBe(true);
        for (const spec of f.attributes.filter((s) => s.kind === 'color' && s.part)) {
          const mat = colours.get(PART_MESH[spec.part!]!);
          expect(mat?.name, `${f.name}.${spec.name}`).toBe(attributes[spec.name]);
          expect(mat!.color.getHex()).toBe(COLORS[attributes[spec.name]!]);
        }
        for (const m of meshes(group)) {
          expect(m.material).toBeInstanceOf(THREE.MeshStandardMaterial);
          expect(m.name, `${f.name} mesh names say their role`).toMatch(/^[a-z]+( [a-z]+)*$/);
        }
      }
    }
  });

  it('honours constraints, and rejects unknown ones', () => {
    const seen = new Set<string>();
    for (const seed of SEEDS) {
      const { attributes, group } = makeObject('chair', seed, { color: ['red', 'blue'], back: 'tall back' });
      expect(['red', 'blue']).toContain(attributes.color);
      expect(attributes.back).toBe('tall back');
      expect(count(group, 'back')).toBe(1);
      seen.add(attributes.color!);
    }
    expect(seen).toEqual(new Set(['red', 'blue']));
    for (const seed of SEEDS.slice(0, 10)) {
      expect(makeObject('mug', seed, { handle: 'no handle' }).attributes.handle).toBe('no handle');
      expect(count(makeObject('mug', seed, { handle: 'no handle' }).group, 'handle')).toBe(0);
    }
    expect(() => makeObject('chair', 1, { wings: 'two' })).toThrow(Dd3dError);
    expect(() => makeObject('chair', 1, { back: 'huge back' })).toThrow(/valid values: "tall back", "short back", "no back"/);
    expect(() => makeObject('chair', 1, { color: [] })).toThrow(Dd3dError);
    expect(() => makeObject('spaceship', 1)).toThrow(/valid families: chair, table/);
    expect(() => makeObject('chair', 1.5)).toThrow(/seed 1.5: expected an integer/);
    expect(makeObject('chair', -3).attributes).toEqual(makeObject('chair', -3).attributes);
  });

  it('draws the unconstrained attributes and the proportions as without the constraint', () => {
    let sameValue = 0;
    for (const seed of SEEDS) {
      const free = makeObject('chair', seed);
      const red = makeObject('chair', seed, { color: 'red' });
      expect(red.attributes).toEqual({ ...free.attributes, color: 'red' });
      // a constraint that the free draw already meets changes nothing at all
      if (free.attributes.color === 'red') {
        sameValue++;
        expect(worldPositions(red.group)).toEqual(worldPositions(free.group));
      }
      const narrowed = makeObject('chair', seed, { legs: free.attributes.legs!, back: [free.attributes.back!] });
      expect(narrowed.attributes).toEqual(free.attributes);
      expect(worldPositions(narrowed.group)).toEqual(worldPositions(free.group));
    }
    expect(sameValue).toBeGreaterThan(0);
  });

  it('disposes every geometry and material once', () => {
    const { group } = makeObject('car', 5);
    let geometries = 0;
    let materials = 0;
    const mats = new Set<THREE.Material>();
    for (const m of meshes(group)) {
      m.geometry.addEventListener('dispose', () => geometries++);
      mats.add(m.material as THREE.Material);
    }
    for (const m of mats) m.addEventListener('dispose', () => materials++);
    disposeObject(group);
    expect(geometries).toBe(meshes(group).length);
    expect(materials).toBe(mats.size);
  });

  it('keeps triangle counts modest (prints the budget per family)', () => {
    const rows: string[] = [];
    for (const f of FAMILIES) {
      const n = SEEDS.map((s) => triangleCount(makeObject(f.name, s).group));
      const mean = n.reduce((a, b) => a + b, 0) / n.length;
      rows.push(
        `${f.name.padEnd(6)} min ${String(Math.min(...n)).padStart(5)}  mean ${mean.toFixed(0).padStart(5)}  max ${String(Math.max(...n)).padStart(5)}`,
      );
      expect(Math.max(...n), f.name).toBeLessThanOrEqual(2000);
      expect(Math.min(...n), f.name).toBeGreaterThanOrEqual(24);
    }
    console.log(`triangles per object over ${SEEDS.length} seeds:\n${rows.join('\n')}`);
  });
});

describe('parseWhere', () => {
  it('parses values, lists, short forms and key spellings', () => {
    expect(parseWhere('chair', 'color=red|blue; back=tall back')).toEqual({ color: ['red', 'blue'], back: ['tall back'] });
    expect(parseWhere('chair', ' back = tall ;legs=Four; ')).toEqual({ back: ['tall back'], legs: ['four legs'] });
    expect(parseWhere('lamp', 'Shade Color=white; shade-color=white|black')).toEqual({ shade_color: ['white'] });
    expect(parseWhere('mug', 'handle=no')).toEqual({ handle: ['no handle'] });
    expect(parseWhere('mug', 'handle=handle')).toEqual({ handle: ['handle'] });
    expect(parseWhere('tree', '')).toEqual({});
    const c = parseWhere('chair', 'color=red|blue; back=tall');
    for (const seed of SEEDS.slice(0, 10)) expect(makeObject('chair', seed, c).attributes.back).toBe('tall back');
  });

  it('names the valid families, attributes and values in its errors', () => {
    const fails = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(Dd3dError);
        return (e as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(fails(() => parseWhere('spaceship', 'color=red'))).toBe(
      'unknown family "spaceship"; valid families: chair, table, lamp, mug, vase, sofa, car, tree',
    );
    expect(fails(() => parseWhere('chair', 'wings=two'))).toBe(
      '--where: chair has no attribute "wings"; valid attributes: color, seat_color, legs, back, seat, arms',
    );
    expect(fails(() => parseWhere('chair', 'back=huge'))).toBe('--where: unknown back "huge" for chair; valid values: "tall back", "short back", "no back"');
    expect(fails(() => parseWhere('chair', 'color=red|teal'))).toMatch(/unknown color "teal" for chair; valid values: "red", "orange", .*"gray"$/);
    expect(fails(() => parseWhere('chair', 'legs=legs'))).toMatch(/ambiguous legs "legs" for chair; valid values: "three legs", "four legs"/);
    expect(fails(() => parseWhere('chair', 'back'))).toMatch(/--where "back": expected attribute=value/);
    expect(fails(() => parseWhere('chair', 'color=red; color=blue'))).toMatch(/allow no value in common/);
    expect(fails(() => parseWhere('chair', 'back=', '--filter'))).toMatch(/^--filter: unknown back ""/);
  });

  it('resolves family names as typed, naming the flag in its error', () => {
    expect(['Chair', ' sofa ', 'TREE'].map((n) => familyName(n))).toEqual(['chair', 'sofa', 'tree']);
    expect(() => familyName(' Boat ', '--family')).toThrow(/^--family: unknown family "Boat"; valid families: chair, table, lamp, mug, vase, sofa, car, tree$/);
    expect(() => familyName('boat')).toThrow(/^unknown family "boat"; valid families: chair,/);
    expect(() => familyName('')).toThrow(Dd3dError);
  });
});
