import { describe, expect, it } from 'vitest';
import { DeletedConsumers, describeReplaced, replacedNames } from '../src/jetstream/ghost-consumers.js';

describe('the names of deleted consumers', () => {
  it('are carried in a description and read back, the newest eight', () => {
    const names = Array.from({ length: 10 }, (_, i) => `writer-applied-3-e${i + 1}`);
    const description = describeReplaced(names);
    expect(replacedNames(description)).toEqual(names.slice(2));
    expect(describeReplaced([])).toBeUndefined();
    expect(replacedNames(undefined)).toEqual([]);
    expect(replacedNames('a description someone else wrote')).toEqual([]);
  });

  it('are kept per stream and subject, oldest first, each once, at most eight', () => {
    const deleted = new DeletedConsumers();
    deleted.remember('TL_APPLIED', 'tl.applied.3', ['e1', 'e2']);
    deleted.remember('TL_APPLIED', 'tl.applied.3', ['e1']);
    deleted.remember('TL_APPLIED', 'tl.applied.4', ['x']);
    expect(deleted.of('TL_APPLIED', 'tl.applied.3')).toEqual(['e2', 'e1']);
    expect(deleted.of('TL_ENRICHED', 'tl.applied.3')).toEqual([]);
    deleted.remember(
      'TL_APPLIED',
      'tl.applied.3',
      Array.from({ length: 9 }, (_, i) => `n${i}`),
    );
    expect(deleted.of('TL_APPLIED', 'tl.applied.3')).toEqual(
      Array.from({ length: 8 }, (_, i) => `n${i + 1}`),
    );
  });
});
