/**
 * What a prompt asks for, in the procedural world's terms: the family noun, the main colour
 * (the last palette word before the noun: "a tall red lamp"), and every non-colour attribute
 * value phrase of that family that appears in the text ("four legs", "tall back"). Part
 * colours ("a blue seat") are not scored: the probe sees them too unreliably. A main colour
 * the family never takes ("a gray tree") is an error: the probe, trained on the world, would
 * score every sample of it a miss whatever the model drew.
 */
import { COLOR_NAMES, FAMILIES } from '../../scenes/index.js';
import { Dd3dError } from '../core/errors.js';

export interface PromptTerms {
  family: string;
  color?: string;
  /** attribute name → the value the prompt names */
  attributes: Record<string, string>;
}

const words = (text: string) =>
  text
    .toLowerCase()
    .split(/[^a-z0-9']+/)
    .filter(Boolean);

export function promptTerms(prompt: string): PromptTerms {
  const w = words(prompt);
  const familyAt = w.findIndex((x) => FAMILIES.some((f) => f.name === x));
  if (familyAt < 0) {
    throw new Dd3dError(`--prompt: "${prompt}" names no object family (expected one of ${FAMILIES.map((f) => f.name).join(', ')})`);
  }
  const family = FAMILIES.find((f) => f.name === w[familyAt])!;
  const color = w
    .slice(0, familyAt)
    .reverse()
    .find((x) => (COLOR_NAMES as readonly string[]).includes(x));
  const colors = family.attributes.find((s) => s.kind === 'color' && !s.part)?.values ?? COLOR_NAMES;
  if (color && !colors.includes(color)) {
    throw new Dd3dError(`--prompt: "${prompt}" asks for a ${color} ${family.name}, which the world never makes (expected one of ${colors.join(', ')})`);
  }
  const text = ` ${w.join(' ')} `;
  const attributes: Record<string, string> = {};
  for (const spec of family.attributes) {
    if (spec.kind === 'color') continue;
    // the longest value that appears wins ("no back" over "back"), matched as whole words
    const found = [...spec.values].sort((a, b) => b.length - a.length).find((v) => text.includes(` ${v} `));
    if (found) attributes[spec.name] = found;
  }
  return { family: family.name, color, attributes };
}
