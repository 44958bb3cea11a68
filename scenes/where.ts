/**
 * Names as people type them, resolved to the registry's: families, and `--where`
 * constraints ("color=red|blue; back=tall": clauses split on ";", values on "|"; keys and
 * values case-insensitive, "_", "-" and spaces alike in keys, a value given by some of its
 * words when exactly one value has them all). Every unknown or ambiguous name is a Dd3dError
 * that lists the valid ones.
 */
import { Dd3dError } from '../src/core/errors.js';
import type { AttributeSpec, Family } from './family.js';
import { REGISTRY } from './families/index.js';

/** Attribute name → allowed values; a string is a single allowed value. */
export type Constraints = Partial<Record<string, string | readonly string[]>>;

/** The family called `name` (any case, spaces around ignored); `flag`, when given, starts the error message. */
export function findFamily(name: string, flag?: string): Family {
  const family = REGISTRY.find((f) => f.spec.name === name.trim().toLowerCase());
  if (!family) {
    throw new Dd3dError(`${flag ? `${flag}: ` : ''}unknown family "${name.trim()}"; valid families: ${REGISTRY.map((f) => f.spec.name).join(', ')}`);
  }
  return family;
}

/** The registry's name for the family a user typed, e.g. " Chair" → "chair" (see findFamily). */
export const familyName = (name: string, flag?: string): string => findFamily(name, flag).spec.name;

const words = (s: string): string[] =>
  s
    .trim()
    .toLowerCase()
    .split(/[\s_-]+/)
    .filter(Boolean);

function findAttribute(family: Family, key: string, where: string): AttributeSpec {
  // "shade color", "shade-color" and "shade_color" all name the same key
  const name = words(key).join('_');
  const spec = family.spec.attributes.find((a) => a.name === name);
  if (!spec) {
    const valid = family.spec.attributes.map((a) => a.name).join(', ');
    throw new Dd3dError(`${where}: ${family.spec.name} has no attribute "${key.trim()}"; valid attributes: ${valid}`);
  }
  return spec;
}

/**
 * Resolves what a user typed to one allowed value: the exact value, or the only value that
 * contains all the typed words, so "back=tall" means "tall back" and "handle=no" means
 * "no handle" while "legs=legs" is rejected as ambiguous.
 */
function resolveValue(family: Family, spec: AttributeSpec, typed: string, where: string): string {
  const want = words(typed);
  const exact = spec.values.find((v) => words(v).join(' ') === want.join(' '));
  if (exact) return exact;
  const partial = want.length === 0 ? [] : spec.values.filter((v) => want.every((w) => words(v).includes(w)));
  if (partial.length === 1) return partial[0]!;
  const valid = spec.values.map((v) => `"${v}"`).join(', ');
  const what = partial.length > 1 ? `ambiguous ${spec.name} "${typed.trim()}"` : `unknown ${spec.name} "${typed.trim()}"`;
  throw new Dd3dError(`${where}: ${what} for ${family.spec.name}; valid values: ${valid}`);
}

/**
 * Parses "color=red|blue; back=tall back" into constraints for makeObject. Keys and values
 * are case-insensitive; an unknown family, attribute or value throws a Dd3dError listing
 * the valid ones. `flag` names the option in messages.
 */
export function parseWhere(familyName: string, text: string, flag = '--where'): Record<string, string[]> {
  const family = findFamily(familyName);
  const out: Record<string, string[]> = {};
  for (const clause of text.split(';')) {
    if (clause.trim() === '') continue;
    const eq = clause.indexOf('=');
    if (eq < 0) throw new Dd3dError(`${flag} "${clause.trim()}": expected attribute=value[|value...], e.g. "color=red|blue"`);
    const spec = findAttribute(family, clause.slice(0, eq), flag);
    const values = clause.slice(eq + 1).split('|');
    const resolved = values.map((v) => resolveValue(family, spec, v, flag));
    // a key given twice narrows to what both clauses allow
    const prev = out[spec.name];
    const next = prev ? resolved.filter((v) => prev.includes(v)) : [...new Set(resolved)];
    if (next.length === 0) throw new Dd3dError(`${flag}: the clauses for ${spec.name} allow no value in common`);
    out[spec.name] = next;
  }
  return out;
}

/** Checks constraints passed in code (not typed by a user): names and values must be exact. */
export function checkConstraints(family: Family, constraints: Constraints): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const [key, given] of Object.entries(constraints)) {
    if (given === undefined) continue;
    const spec = family.spec.attributes.find((a) => a.name === key);
    if (!spec) {
      const valid = family.spec.attributes.map((a) => a.name).join(', ');
      throw new Dd3dError(`constraint "${key}": ${family.spec.name} has no such attribute; valid attributes: ${valid}`);
    }
    const list = typeof given === 'string' ? [given] : given;
    if (list.length === 0) throw new Dd3dError(`constraint "${key}": empty list of allowed values`);
    for (const v of list) {
      if (!spec.values.includes(v)) {
        throw new Dd3dError(`constraint "${key}": unknown value "${v}" for ${family.spec.name}; valid values: ${spec.values.map((x) => `"${x}"`).join(', ')}`);
      }
    }
    out.set(key, list);
  }
  return out;
}
