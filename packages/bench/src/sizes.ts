/** How big each scenario runs: `default` fits each scenario in under 10 minutes on a 2-core machine; `small` is for tests. */
export type Size = 'small' | 'default';

export interface Sizes {
  /** Events generated for each pipeline run (the same events for every row). */
  events: number;
  /** Longest a pipeline row measures before it reports what was committed, ms. */
  timeBoxMs: number;
  /** Longest a naive point of the sweep measures, ms (it never finishes `events`; its rate settles within seconds). */
  naiveSweepTimeBoxMs: number;
  /** Events for the full design's capacity run (its maximum throughput, as fast as ingest accepts them). */
  capacityEvents: number;
  /** Events offered, paced at half that maximum, for the latency at half load. */
  halfLoadEvents: number;
  naiveConcurrency: number[];
  /** Turn sizes (bus messages per turn, every stage) swept for the full design. */
  turnMessages: number[];
  /** Whether the sweep repeats with injected latency. */
  withLatency: boolean;
  floorEvents: number;
  peerEvents: number;
  /** Longest the peer runs before it reports what it committed, ms. */
  peerTimeBoxMs: number;
  /** Events of each run of the scaling scenario (long enough for every scale step to land mid-run). */
  scalingEvents: number;
  /**
   * The scaling scenario's paced run: `events` offered at `perSecond` (a load the pipeline keeps up with), while
   * the stages scale as in the other runs: the pause of a moved partition when the machine is not saturated.
   */
  scalingPaced: { events: number; perSecond: number };
  /** Events of each run of the security scenario (plaintext and secured, alternating). */
  securityEvents: number;
  /** Events of each run of the replication scenario (one copy and three, alternating). */
  replicationEvents: number;
  /** Starts of each stage (for each tracing setting) the startup scenario measures. */
  startupStarts: number;
  /** Accounts and claimed event ids the footprint scenario writes to Redis. */
  footprint: { accounts: number; eventIds: number };
  /**
   * The soak: `events` offered at `perSecond`, a fault every `faultEveryMs`, each held `holdMs` before it is
   * healed.
   */
  soak: { events: number; perSecond: number; faultEveryMs: number; holdMs: number };
}

export const SIZES: Record<Size, Sizes> = {
  default: {
    events: 200_000,
    timeBoxMs: 40_000,
    naiveSweepTimeBoxMs: 20_000,
    capacityEvents: 1_000_000,
    halfLoadEvents: 500_000,
    naiveConcurrency: [1, 10, 50, 100, 300, 500, 1000],
    turnMessages: [1, 4, 16, 64],
    withLatency: true,
    floorEvents: 500_000,
    peerEvents: 30_000,
    peerTimeBoxMs: 80_000,
    scalingEvents: 600_000,
    scalingPaced: { events: 300_000, perSecond: 10_000 },
    securityEvents: 300_000,
    replicationEvents: 300_000,
    startupStarts: 5,
    footprint: { accounts: 100_000, eventIds: 1_000_000 },
    // Six minutes, two rounds of the six faults.
    soak: { events: 1_080_000, perSecond: 3_000, faultEveryMs: 15_000, holdMs: 6_000 },
  },
  small: {
    events: 2_000,
    timeBoxMs: 3_000,
    naiveSweepTimeBoxMs: 3_000,
    capacityEvents: 5_000,
    halfLoadEvents: 5_000,
    naiveConcurrency: [1, 50],
    turnMessages: [32],
    withLatency: false,
    floorEvents: 20_000,
    peerEvents: 2_000,
    // Generous: the test checks that the peer commits everything; BullMQ's start takes seconds on two busy cores.
    peerTimeBoxMs: 90_000,
    scalingEvents: 40_000,
    scalingPaced: { events: 20_000, perSecond: 4_000 },
    securityEvents: 20_000,
    replicationEvents: 20_000,
    startupStarts: 1,
    footprint: { accounts: 10_000, eventIds: 50_000 },
    soak: { events: 90_000, perSecond: 2_000, faultEveryMs: 4_000, holdMs: 3_000 },
  },
};

/** The modelled network of a deployment: per round trip to each dependency. */
export const INJECTED_LATENCY = 'config=2ms,redis=0.5ms,postgres=2ms';
