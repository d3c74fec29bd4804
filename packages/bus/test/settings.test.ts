import { describe, expect, it } from 'vitest';
import { BusErrorCode, isBusError } from '../src/index.js';
import { resolveBusSettings } from '../src/settings.js';

describe('bus settings', () => {
  it('keeps one copy of each stream unless told otherwise', () => {
    expect(resolveBusSettings().streamReplicas).toBe(1);
    expect(resolveBusSettings({ streamReplicas: 3 }).streamReplicas).toBe(3);
  });

  it.each([0, -1, 1.5, 6])('refuses %s copies, naming the setting', (streamReplicas) => {
    let thrown: unknown;
    try {
      resolveBusSettings({ streamReplicas });
    } catch (err) {
      thrown = err;
    }
    expect(isBusError(thrown) && thrown.code).toBe(BusErrorCode.invalidArgument);
    expect(String(thrown)).toContain('streamReplicas');
  });
});
