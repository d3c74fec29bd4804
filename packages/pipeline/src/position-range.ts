import type { PositionRange } from '@throughline/runtime';

/**
 * The lowest and highest position among `items`, or undefined when there is none: what a turn reports with its
 * event count, so its span says which events it carried (`throughline trace` looks an event up by it).
 */
export function positionRange<T>(
  items: readonly T[],
  position: (item: T) => bigint,
): PositionRange | undefined {
  if (items.length === 0) return undefined;
  let first = position(items[0]!);
  let last = first;
  for (let i = 1; i < items.length; i++) {
    const p = position(items[i]!);
    if (p < first) first = p;
    if (p > last) last = p;
  }
  return { first, last };
}
