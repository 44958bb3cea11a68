import type * as THREE from 'three';
import type { Rng } from '../src/core/random.js';

/**
 * How a caption uses an attribute's value:
 * - `color`: a palette name; the main colour (`part` absent) is an adjective of the object
 *   ("a red chair"), a part colour attaches to its part ("with a white drum shade");
 * - `adjective`: a word placed before the family noun ("a tall lamp");
 * - `with`: a phrase after "with" ("with four legs", "with no handle").
 */
export type AttributeKind = 'color' | 'adjective' | 'with';

export interface AttributeSpec {
  readonly name: string;
  readonly kind: AttributeKind;
  readonly values: readonly string[];
  /** Part colours only: the part noun as captions say it ("shade", "wheels"). */
  readonly part?: string;
}

export interface FamilySpec {
  readonly name: string;
  readonly attributes: readonly AttributeSpec[];
}

/** One object's ground truth: its family plus one value per attribute of that family. */
export interface Attributes {
  family: string;
  [attribute: string]: string;
}

/** A family's spec plus the builder that turns a full attribute record into geometry. */
export interface Family {
  readonly spec: FamilySpec;
  /**
   * Builds the object at any convenient scale with its floor at y = 0 and its front toward
   * +Z; makeObject centres and rescales it. `rng` varies proportions within the attributes.
   */
  build(attributes: Attributes, rng: Rng, body: THREE.Group): void;
}
