import { describe, expect, it } from 'vitest';
import { busSettingsOf, commonSettings } from '../src/settings.js';

describe('bus settings from the environment', () => {
  it('keeps one copy by default, and refuses three on nats-server 2.9 unless the risk is accepted', () => {
    const defaults = busSettingsOf(commonSettings.parse({}));
    expect(defaults).toMatchObject({ streamReplicas: 1, acceptNats29Replicas: false });
    const three = busSettingsOf(commonSettings.parse({ BUS_STREAM_REPLICAS: '3' }));
    expect(three).toMatchObject({ streamReplicas: 3, acceptNats29Replicas: false });
    for (const [value, accepted] of [
      ['true', true],
      ['1', true],
      ['false', false],
      ['0', false],
      ['', false],
    ] as const)
      expect(
        busSettingsOf(commonSettings.parse({ BUS_STREAM_REPLICAS: '3', BUS_ACCEPT_NATS_2_9_REPLICAS: value }))
          .acceptNats29Replicas,
      ).toBe(accepted);
    expect(() => commonSettings.parse({ BUS_ACCEPT_NATS_2_9_REPLICAS: 'yes' })).toThrow();
  });
});
