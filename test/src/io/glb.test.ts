import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NodeIO } from '@gltf-transform/core';
import validator from 'gltf-validator';
import * as THREE from 'three';
import { afterAll, describe, expect, it } from 'vitest';
import { Dd3dError } from '../../../src/core/errors.js';
import { encodeGlb, groupToMeshes, writeGlb, type GlbMesh } from '../../../src/io/glb.js';
import { FAMILIES, makeObject, triangleCount } from '../../../scenes/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dd3d-glb-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Issue {
  code: string;
  severity: number;
  message: string;
  pointer?: string;
}
interface Report {
  issues: { numErrors: number; numWarnings: number; numInfos: number; messages: Issue[] };
}

async function validate(bytes: Uint8Array): Promise<Report> {
  return (await validator.validateBytes(bytes, { maxIssues: 50 })) as Report;
}
const errors = (r: Report): Issue[] => r.issues.messages.filter((m) => m.severity === 0);

/** Signed volume of a triangle list: positive when faces wind outward. */
function signedVolume(pos: ArrayLike<number>, idx: ArrayLike<number>): number {
  let v = 0;
  for (let t = 0; t < idx.length; t += 3) {
    const [a, b, c] = [idx[t]!, idx[t + 1]!, idx[t + 2]!].map((i) => new THREE.Vector3(pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]));
    v += a!.dot(b!.cross(c!)) / 6;
  }
  return v;
}

describe('GLB writing', () => {
  it('writes a valid GLB for every family, with world transforms, colours and attributes', async () => {
    const notes = new Map<string, number>();
    for (const f of FAMILIES) {
      for (const seed of [1, 2, 3]) {
        const { group, attributes } = makeObject(f.name, seed);
        const meshes = groupToMeshes(group);
        const file = path.join(tmp, `${f.name}-${seed}.glb`);
        await writeGlb(file, meshes, { name: f.name, extras: { attributes, seed } });
        const bytes = new Uint8Array(fs.readFileSync(file));
        const report = await validate(bytes);
        expect(errors(report), `${f.name} #${seed}`).toEqual([]);
        for (const m of report.issues.messages) notes.set(m.code, (notes.get(m.code) ?? 0) + 1);

        const doc = await new NodeIO().readBinary(bytes);
        const root = doc.getRoot();
        expect(root.getAsset().extras).toEqual({ attributes, seed });
        const nodes = root.getDefaultScene()!.listChildren();
        expect(nodes.map((n) => n.getName())).toEqual(meshes.map((m) => m.name));
        let tris = 0;
        let r = 0;
        for (const node of nodes) {
          // transforms are baked: nodes carry none
          expect(node.getMatrix()).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
          const prim = node.getMesh()!.listPrimitives()[0]!;
          const pos = prim.getAttribute('POSITION')!.getArray()!;
          const idx = prim.getIndices()!.getArray()!;
          tris += idx.length / 3;
          for (let i = 0; i < pos.length; i += 3) r = Math.max(r, Math.hypot(pos[i]!, pos[i + 1]!, pos[i + 2]!));
          expect(signedVolume(pos, idx), `${f.name} ${node.getName()} winds outward`).toBeGreaterThan(0);
        }
        expect(tris).toBe(triangleCount(group));
        expect(r).toBeCloseTo(1, 4);
        const factors = root.listMaterials().map((m) =>
          m
            .getBaseColorFactor()
            .slice(0, 3)
            .map((x) => x.toFixed(5))
            .join(','),
        );
        for (const m of meshes)
          expect(factors).toContain(
            m
              .color!.slice(0, 3)
              .map((x) => x.toFixed(5))
              .join(','),
          );
        expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      }
    }
    // infos/warnings the validator raised, if any (e.g. zero-area triangles at lathe axes)
    console.log('gltf-validator non-error issues:', Object.fromEntries(notes));
  });

  it('writes bare triangles with vertex colours, and unit normals from unnormalized input', async () => {
    const mesh: GlbMesh = {
      name: 'triangle',
      positions: new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]),
      normals: new Float32Array([0, 0, 2, 0, 0, 3, 0, 0, 0]),
      colors: new Float32Array([1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0.5]),
      color: [1, 1, 1, 0.5],
      doubleSided: true,
    };
    const bytes = await encodeGlb([mesh]);
    const report = await validate(bytes);
    expect(errors(report)).toEqual([]);
    const doc = await new NodeIO().readBinary(bytes);
    const prim = doc.getRoot().listMeshes()[0]!.listPrimitives()[0]!;
    expect(prim.getIndices()).toBeNull();
    expect(Array.from(prim.getAttribute('NORMAL')!.getArray()!)).toEqual([0, 0, 1, 0, 0, 1, 0, 1, 0]);
    expect(prim.getAttribute('COLOR_0')!.getType()).toBe('VEC4');
    expect(doc.getRoot().listMaterials()[0]!.getAlphaMode()).toBe('BLEND');
  });

  it('keeps faces outward under a mirroring transform, and splits multi-material meshes', async () => {
    const group = new THREE.Group();
    const box = new THREE.Mesh(
      new THREE.BoxGeometry(1, 2, 3),
      [0, 1, 2, 3, 4, 5].map((i) => new THREE.MeshStandardMaterial({ color: i < 3 ? 0xff0000 : 0x0000ff })),
    );
    box.scale.set(-1, 1, 1);
    box.position.set(5, 0, 0);
    group.add(box);
    const meshes = groupToMeshes(group);
    expect(meshes).toHaveLength(6);
    let vol = 0;
    for (const m of meshes) vol += signedVolume(m.positions, m.indices!);
    expect(vol).toBeCloseTo(6, 5);
    expect(meshes[0]!.positions[0]).toBeGreaterThan(4);
    const report = await validate(await encodeGlb(meshes));
    expect(errors(report)).toEqual([]);
  });

  it('has a validator that does catch broken files', async () => {
    const bytes = await encodeGlb(groupToMeshes(makeObject('lamp', 1).group));
    expect(errors(await validate(bytes))).toEqual([]);
    const json = new TextDecoder().decode(bytes.subarray(20, 20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true)));
    const broken = JSON.parse(json) as { accessors: Array<{ count: number }> };
    broken.accessors[0]!.count += 1000; // past the end of its buffer view
    const text = new TextEncoder().encode(JSON.stringify(broken));
    const report = (await validator.validateBytes(text, { format: 'gltf' })) as Report;
    expect(report.issues.numErrors).toBeGreaterThan(0);
  });

  it('rejects meshes that cannot make a valid file, naming the file and mesh', async () => {
    const file = path.join(tmp, 'bad.glb');
    await expect(writeGlb(file, [{ name: 'empty', positions: new Float32Array(0) }])).rejects.toThrow(Dd3dError);
    await expect(writeGlb(file, [{ positions: new Float32Array([0, 0, NaN, 1, 0, 0, 0, 1, 0]) }])).rejects.toThrow(
      /bad\.glb: mesh 0 \("mesh0"\): vertex 0 has a non-finite coordinate/,
    );
    await expect(writeGlb(file, [{ name: 'x', positions: new Float32Array(9), indices: new Uint32Array([0, 1, 3]) }])).rejects.toThrow(
      /index 3 is past the last vertex/,
    );
    await expect(writeGlb(file, [{ name: 'x', positions: new Float32Array(12) }])).rejects.toThrow(/do not form whole triangles/);
    expect(fs.existsSync(file)).toBe(false);
    await expect(writeGlb(path.join(tmp, 'no-such-dir', 'a.glb'), groupToMeshes(makeObject('mug', 1).group))).rejects.toThrow(Dd3dError);
  });
});
