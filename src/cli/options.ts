/** Flag parsers for commander: a bad value is a one-line error naming the flag and what was expected. */
import { InvalidArgumentError } from 'commander';

export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const v = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || v < min || v > max) {
      throw new InvalidArgumentError(`expected an integer${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` ≥ ${min}`}.`);
    }
    return v;
  };
}

export function floatOption(min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
      const range = min > -Infinity && max < Infinity ? ` from ${min} to ${max}` : min > -Infinity ? ` ≥ ${min}` : '';
      throw new InvalidArgumentError(`expected a number${range}.`);
    }
    return v;
  };
}
