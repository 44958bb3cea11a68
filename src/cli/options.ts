/**
 * Flag parsers for commander: a bad value is a one-line error naming the flag and what was
 * expected. Integers are exact, so they stop at 2^53 − 1 (Number.MAX_SAFE_INTEGER); a value
 * above a bound states the bound, whichever it is.
 */
import { InvalidArgumentError } from 'commander';

export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const v = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || v < min || v > max) {
      const bounded = max < Number.MAX_SAFE_INTEGER || v > max;
      throw new InvalidArgumentError(
        `expected an integer${bounded ? ` from ${min} to ${max}${max === Number.MAX_SAFE_INTEGER ? ' (2^53 − 1)' : ''}` : ` ≥ ${min}`}.`,
      );
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
