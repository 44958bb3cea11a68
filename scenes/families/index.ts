import type { Family } from '../family.js';
import { car } from './car.js';
import { chair } from './chair.js';
import { lamp } from './lamp.js';
import { mug } from './mug.js';
import { sofa } from './sofa.js';
import { table } from './table.js';
import { tree } from './tree.js';
import { vase } from './vase.js';

/** Every family, in the order listings and datasets use. Adding one here is all it takes. */
export const REGISTRY: readonly Family[] = [chair, table, lamp, mug, vase, sofa, car, tree];
