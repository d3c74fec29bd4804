/**
 * The NATS JetStream bus of the distributed mode: one work-queue stream per topic, one durable pull consumer per
 * (consumer group, topic, partition), dead letters in a limits-retention stream kept 7 days.
 */
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamOptions,
} from '@nats-io/jetstream';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { subjects, type Topic } from '@throughline/contracts';
import { consumerName } from './addressing.js';
import { DEFAULT_DEAD_LETTER_LIMIT, deadLetterEnvelope } from './dead-letter.js';
import { BusError, BusErrorCode, ensureError } from './errors.js';
import { readJetStreamDeadLetters } from './jetstream/dead-letters.js';
import {
  CLIENT_BUCKET,
  ensureClientBucket,
  ensureLeaseBucket,
  openLeaseBucket,
} from './leases/jetstream-lease-bucket.js';
import { DeletedConsumers } from './jetstream/ghost-consumers.js';
import { JetStreamMailbox } from './jetstream/mailbox.js';
import {
  isJetStreamUnavailable,
  isNoMessage,
  isNoPeers,
  isStreamNotFound,
  toBusError,
} from './jetstream/nats-errors.js';
import {
  currentConsumer,
  ensureMailboxConsumer,
  ensureStreams,
  mailboxConsumerConfig,
  takeOverPartition,
} from './jetstream/topology.js';
import { natsAuthOptions, type NatsAuth } from './jetstream/auth.js';
import {
  peerVersions,
  REPLICAS_SAFE_SINCE,
  replicasAreSafeOn,
  type PeerVersion,
} from './jetstream/server-version.js';
import { resolveBusSettings, type ResolvedBusSettings } from './settings.js';
import type {
  Bus,
  BusMessage,
  BusSettings,
  ConsumerBacklog,
  DeadLetter,
  DeadLetterPart,
  LeaseBucket,
  Logger,
  Mailbox,
  MailboxOptions,
  PublishAck,
  PublishOptions,
} from './types.js';

/** `topologyRetryMs`'s default. */
const TOPOLOGY_RETRY_MS = 60_000;

export interface ConnectJetStreamBusOptions {
  /**
   * NATS server URL(s), e.g. `nats://127.0.0.1:4222`, or several separated by commas (the seed servers of a
   * cluster: any one that answers will do, the others are learnt from it).
   */
  servers: string | string[];
  /** Connection name shown by the server (monitoring). Default: none. */
  name?: string;
  settings?: BusSettings;
  logger?: Logger;
  /** Wait between reconnect attempts; attempts never stop. Default 2000. */
  reconnectTimeWaitMs?: number;
  /** Time-out of JetStream requests (publish acks, management, ack confirmations). Default 5000. */
  requestTimeoutMs?: number;
  /** Credentials and TLS (default: none, as the URL says). */
  auth?: NatsAuth;
  /** How long the first connection may take (a TLS handshake the server drops ends only with it). Default 20000. */
  connectTimeoutMs?: number;
  /** How often an idle mailbox checks its consumer (see `CreateJetStreamBusOptions`). Default 10000. */
  consumerCheckIntervalMs?: number;
  /** How long `ensureTopology` goes on trying while JetStream does not answer (see `CreateJetStreamBusOptions`). */
  topologyRetryMs?: number;
  /**
   * Whether the lease bucket gets a connection of its own (opened with the first `leases()`), so that membership,
   * heartbeats and hand-overs are never queued behind the partitions' data on the same socket. Default true.
   */
  separateLeaseConnection?: boolean;
}

export interface CreateJetStreamBusOptions {
  logger?: Logger;
  /** Whether `close()` drains and closes the connection. Default false: the caller owns it. */
  closeConnection?: boolean;
  /** Time-out of JetStream requests (publish acks, management, ack confirmations). Default 5000. */
  requestTimeoutMs?: number;
  /**
   * How often an idle mailbox checks that its consumer has not lost track of stored messages, ms. Default 10000
   * (a consumer found so twice in a row is created again).
   */
  consumerCheckIntervalMs?: number;
  /**
   * How long `ensureTopology` goes on trying while JetStream does not answer or cannot place the copies yet, ms.
   * Default 60000 (a leader election takes seconds; a server joining a cluster, a little more).
   */
  topologyRetryMs?: number;
  /**
   * Opens the connection the lease bucket uses (see `ConnectJetStreamBusOptions.separateLeaseConnection`); the bus
   * drains it on `close()`. Default: the lease bucket shares the bus's connection.
   */
  leaseConnection?: () => Promise<NatsConnection>;
}

/**
 * Connects to NATS (with `noAsyncTraces`, which roughly doubles the publish rate, and reconnecting forever) and
 * returns a bus that owns the connection. The first connection attempt must succeed.
 */
export async function connectJetStreamBus(opts: ConnectJetStreamBusOptions): Promise<Bus> {
  const auth = natsAuthOptions(opts.auth ?? {});
  const open = async (name: string | undefined): Promise<NatsConnection> => {
    try {
      const nc = await connect({
        ...auth,
        servers: natsServerList(opts.servers),
        ...(name === undefined ? {} : { name }),
        noAsyncTraces: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: opts.reconnectTimeWaitMs ?? 2_000,
        ...(opts.connectTimeoutMs === undefined ? {} : { timeout: opts.connectTimeoutMs }),
      });
      if (opts.logger !== undefined) watchConnection(nc, opts.logger, name);
      return nc;
    } catch (err) {
      const cause = ensureError(err);
      // The URL without a password it may hold; the cause says why (refused, authorization violation, TLS).
      const where = String(opts.servers).replace(/\/\/[^/@\s]*@/g, '//***@');
      throw new BusError(BusErrorCode.connectFailed, `cannot connect to NATS at ${where}: ${cause.message}`, {
        cause,
      });
    }
  };
  const nc = await open(opts.name);
  return createJetStreamBus(nc, opts.settings, {
    closeConnection: true,
    ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: opts.requestTimeoutMs }),
    ...(opts.consumerCheckIntervalMs === undefined
      ? {}
      : { consumerCheckIntervalMs: opts.consumerCheckIntervalMs }),
    ...(opts.topologyRetryMs === undefined ? {} : { topologyRetryMs: opts.topologyRetryMs }),
    ...(opts.separateLeaseConnection === false
      ? {}
      : { leaseConnection: () => open(opts.name === undefined ? undefined : `${opts.name}-leases`) }),
  });
}

/** `a,b` or `[a, b]` as `[a, b]`, blanks dropped. */
export function natsServerList(servers: string | readonly string[]): string[] {
  return (typeof servers === 'string' ? servers.split(',') : servers)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Builds the bus on an existing connection (connect it with `noAsyncTraces: true` for publish speed). */
export function createJetStreamBus(
  nc: NatsConnection,
  settings?: BusSettings,
  options: CreateJetStreamBusOptions = {},
): Bus {
  return new JetStreamBus(nc, resolveBusSettings(settings), options);
}

class JetStreamBus implements Bus {
  private readonly js: JetStreamClient;
  private manager: Promise<JetStreamManager> | undefined;
  private leaseBucket: Promise<LeaseBucket> | undefined;
  /** The lease bucket's own connection, once opened (`CreateJetStreamBusOptions.leaseConnection`). */
  private leaseNc: Promise<NatsConnection> | undefined;
  private clientBucket: Promise<LeaseBucket> | undefined;
  /** The repair of a lost topology in progress, if any. */
  private repair: Promise<void> | undefined;
  /** Open mailboxes by durable consumer name. */
  private readonly mailboxes = new Map<string, JetStreamMailbox>();
  /** Consumers deleted on each partition: a server that was down meanwhile may still hold one (a ghost). */
  private readonly deletedConsumers = new DeletedConsumers();
  private closed = false;
  private warnedReplicas = false;
  private readonly logger: Logger | undefined;
  private readonly jsOptions: JetStreamOptions;

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: ResolvedBusSettings,
    private readonly options: CreateJetStreamBusOptions,
  ) {
    this.logger = options.logger;
    this.jsOptions = { timeout: options.requestTimeoutMs ?? 5_000 };
    this.js = jetstream(nc, this.jsOptions);
  }

  async ensureTopology(): Promise<void> {
    this.checkOpen();
    await this.checkReplicasSupported();
    // Every step is idempotent, so the whole is tried again while JetStream does not answer: a clustered
    // JetStream electing the leader of a stream just created (or of its meta data) times requests out meanwhile.
    const retryMs = this.options.topologyRetryMs ?? TOPOLOGY_RETRY_MS;
    const deadline = Date.now() + retryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const jsm = await this.jsm();
        await ensureStreams(jsm, this.settings, this.logger);
        await ensureLeaseBucket(
          this.nc,
          jsm,
          this.settings.leaseTtlMs,
          this.settings.streamReplicas,
          this.logger,
        );
        await ensureClientBucket(this.nc, jsm, this.settings.streamReplicas, this.logger);
        return;
      } catch (err) {
        // On a cluster, a server still joining leaves too few peers for the copies for a moment: tried again too.
        const transient =
          isJetStreamUnavailable(err) || (isNoPeers(err) && this.nc.info?.cluster !== undefined);
        if (this.closed || !transient) throw err;
        if (Date.now() >= deadline) {
          if (!isNoPeers(err)) throw err;
          const copies = this.settings.streamReplicas;
          throw new BusError(
            BusErrorCode.requestFailed,
            `JetStream could not place ${copies} copies of each stream within ${retryMs} ms (no suitable peers ` +
              `for placement): the cluster has fewer than ${copies} JetStream servers up, or a server is outside ` +
              `JetStream's meta group. A new cluster whose servers start together can leave one out (seen on ` +
              `nats-server 2.10.27); the meta leader's /jsz (meta_cluster) or \`nats server report jetstream\` ` +
              `shows the group, and restarting the server left out lets it join (deploy/README.md, "A production topology")`,
            { cause: err },
          );
        }
        this.logger?.warn(
          'bus: JetStream could not set up the streams yet (no answer, or too few servers for the copies); trying again',
          {
            attempt,
            error: ensureError(err).message,
          },
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** (attempt - 1), 2_000)));
      }
    }
  }

  /**
   * Refuses more than one copy of the streams when a server of the cluster does not keep them consistent (see the
   * setting): the one connected to, and every other the cluster advertises that answers.
   */
  private async checkReplicasSupported(): Promise<void> {
    if (this.settings.streamReplicas <= 1) return;
    const connected = this.nc.getServer();
    const servers: PeerVersion[] = [
      { address: connected, version: this.nc.info?.version },
      ...(await peerVersions((this.nc.info?.connect_urls ?? []).filter((url) => url !== connected))),
    ];
    const older = servers.filter((s) => !replicasAreSafeOn(s.version));
    if (older.length === 0) return;
    const version = older[0]!.version;
    const which =
      older.length === servers.length && servers.length === 1
        ? ''
        : ` (${older.map((s) => `${s.address} runs ${s.version}`).join(', ')})`;
    const why =
      `on nats-server ${version}${which} the copies of a work-queue stream disagree after a node restart and ` +
      `acknowledged messages can be lost (README, "Exactly once")`;
    if (!this.settings.acceptNats29Replicas)
      throw new BusError(
        BusErrorCode.unsupportedServer,
        `${this.settings.streamReplicas} copies of each stream need nats-server ${REPLICAS_SAFE_SINCE} or newer on every node: ` +
          `${why}. Upgrade the NATS servers, or set BUS_ACCEPT_NATS_2_9_REPLICAS=true to accept that risk`,
      );
    if (!this.warnedReplicas) {
      this.warnedReplicas = true;
      this.logger?.warn(`bus: ${this.settings.streamReplicas} copies of each stream accepted: ${why}`, {
        version,
      });
    }
  }

  clients(): Promise<LeaseBucket> {
    this.checkOpen();
    this.clientBucket ??= openLeaseBucket(this.nc, 0, this.jsOptions.timeout ?? 5_000, CLIENT_BUCKET)
      .then((bucket) => this.repairing(bucket))
      .catch((err: unknown) => {
        this.clientBucket = undefined;
        throw err;
      });
    return this.clientBucket;
  }

  leases(): Promise<LeaseBucket> {
    this.checkOpen();
    this.leaseBucket ??= this.leaseConnection()
      .then((nc) =>
        openLeaseBucket(
          nc,
          this.settings.leaseTtlMs,
          this.jsOptions.timeout ?? 5_000,
          undefined,
          this.logger,
        ),
      )
      .then((bucket) => this.repairing(bucket))
      .catch((err: unknown) => {
        this.leaseBucket = undefined;
        throw err;
      });
    return this.leaseBucket;
  }

  /** The connection of the lease bucket: its own when the options open one (opened once), else the bus's. */
  private leaseConnection(): Promise<NatsConnection> {
    const open = this.options.leaseConnection;
    if (open === undefined) return Promise.resolve(this.nc);
    this.leaseNc ??= open().catch((err: unknown) => {
      this.leaseNc = undefined;
      throw err;
    });
    return this.leaseNc;
  }

  /**
   * Creates the streams and the lease bucket again when one is missing: the server lost its JetStream store (a
   * disk lost, a server restarted empty). One repair at a time; a caller whose request found nothing retries once.
   */
  private repairTopology(after: string): Promise<void> {
    this.repair ??= (async () => {
      this.logger?.warn('bus: a stream is missing; creating the streams and the lease bucket again', {
        after,
      });
      await this.ensureTopology();
    })().finally(() => (this.repair = undefined));
    return this.repair;
  }

  private async withRepair<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (this.closed || !(err instanceof BusError) || err.code !== BusErrorCode.noStream) throw err;
      await this.repairTopology(what);
      return work();
    }
  }

  /** `bucket` with each call that finds the bucket's stream missing repaired and tried once more. */
  private repairing(bucket: LeaseBucket): LeaseBucket {
    const w = <T>(what: string, work: () => Promise<T>) => this.withRepair(what, work);
    return {
      ttlMs: bucket.ttlMs,
      create: (key, value) => w(`lease create ${key}`, () => bucket.create(key, value)),
      update: (key, value, revision) => w(`lease update ${key}`, () => bucket.update(key, value, revision)),
      put: (key, value) => w(`lease put ${key}`, () => bucket.put(key, value)),
      delete: (key, revision) => w(`lease delete ${key}`, () => bucket.delete(key, revision)),
      get: (key) => w(`lease get ${key}`, () => bucket.get(key)),
      advanceRevision: (floor) => w('lease advance', () => bucket.advanceRevision(floor)),
      entries: (prefix) => w(`lease entries ${prefix}`, () => bucket.entries(prefix)),
      watch: (prefix, onEntry) => w(`lease watch ${prefix}`, () => bucket.watch(prefix, onEntry)),
    };
  }

  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<PublishAck> {
    this.checkOpen();
    if (typeof opts.msgId !== 'string' || opts.msgId.length === 0) {
      throw new BusError(BusErrorCode.invalidArgument, 'publish needs a non-empty msgId');
    }
    return this.withRepair(`publish ${subject}`, () => this.publishOnce(subject, data, opts));
  }

  private async publishOnce(subject: string, data: Uint8Array, opts: PublishOptions): Promise<PublishAck> {
    try {
      let headers: MsgHdrs | undefined;
      if (opts.headers !== undefined) {
        headers = natsHeaders();
        for (const [name, value] of Object.entries(opts.headers)) headers.set(name, value);
      }
      const ack = await this.js.publish(
        subject,
        data,
        headers === undefined ? { msgID: opts.msgId } : { msgID: opts.msgId, headers },
      );
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw toBusError(err, BusErrorCode.publishFailed, `publish ${subject}`);
    }
  }

  openMailbox(opts: MailboxOptions): Promise<Mailbox> {
    this.checkOpen();
    return this.withRepair(`open mailbox ${opts.topic}/${opts.partition}`, () => this.openMailboxOnce(opts));
  }

  private async openMailboxOnce(opts: MailboxOptions): Promise<Mailbox> {
    const name = consumerName(opts);
    const stream = subjects.stream(opts.topic);
    const config = mailboxConsumerConfig(name, opts.topic, opts.partition, this.settings);
    // A second mailbox on the same consumer in this process takes over, as in the in-memory bus.
    await this.mailboxes.get(name)?.close();
    const jsm = await this.jsm();
    const replaced = await takeOverPartition(jsm, stream, opts, name, this.deletedConsumers);
    if (replaced > 0)
      this.logger?.info('consumers of older lease epochs removed', { stream, consumer: name, replaced });
    const recreated = await ensureMailboxConsumer(jsm, stream, config, this.deletedConsumers, (ghosts) =>
      this.logger?.warn(
        'bus: consumers deleted while a JetStream server was down were still held by it, refusing a new ' +
          'consumer as not unique; re-created and deleted them',
        { stream, consumer: name, ghosts },
      ),
    );
    if (recreated) {
      this.logger?.info('consumer recreated to restart at the first unacknowledged message', {
        stream,
        consumer: name,
      });
    }
    let mailbox: JetStreamMailbox;
    try {
      const consumer = await this.js.consumers.get(stream, name);
      const subject = subjects.of(opts.topic, opts.partition);
      mailbox = await JetStreamMailbox.start(consumer, {
        topic: opts.topic,
        partition: opts.partition,
        pullBatch: this.settings.maxAckPending,
        lostMessages: async () => {
          // Whether it reports them pending or not: an idle mailbox whose consumer holds nothing unacknowledged
          // should have been sent what the stream stores. (Both were seen after a node of a cluster restarted.)
          const info = await consumer.info();
          if (info.num_ack_pending > 0) return 0;
          const stored = await jsm.streams.info(stream, { subjects_filter: subject });
          return stored.state.subjects?.[subject] ?? 0;
        },
        dropConsumer: async () => {
          await jsm.consumers.delete(stream, name);
        },
        ...(this.options.consumerCheckIntervalMs === undefined
          ? {}
          : { checkIntervalMs: this.options.consumerCheckIntervalMs }),
        ...(this.logger === undefined ? {} : { logger: this.logger }),
        onClose: (closed) => {
          if (this.mailboxes.get(name) === closed) this.mailboxes.delete(name);
        },
      });
    } catch (err) {
      throw toBusError(err, BusErrorCode.requestFailed, `open mailbox ${stream}/${name}`);
    }
    this.mailboxes.set(name, mailbox);
    return mailbox;
  }

  async deadLetter(msg: BusMessage, reason: string, part?: DeadLetterPart): Promise<void> {
    const envelope = deadLetterEnvelope(msg, subjects.stream(msg.topic), reason, part);
    await this.publish(envelope.subject, part?.data ?? msg.data, {
      msgId: envelope.msgId,
      headers: Object.fromEntries(envelope.headers),
    });
    if (part === undefined) await msg.ack();
  }

  async readDeadLetters(opts: { topic?: Topic; limit?: number } = {}): Promise<DeadLetter[]> {
    this.checkOpen();
    return readJetStreamDeadLetters(
      this.js,
      opts.topic,
      opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT,
      this.logger,
    );
  }

  async removeDeadLetter(seq: number): Promise<boolean> {
    this.checkOpen();
    try {
      return await (await this.jsm()).streams.deleteMessage(subjects.deadLetterStream, seq, false);
    } catch (err) {
      if (isStreamNotFound(err) || isNoMessage(err)) return false;
      throw toBusError(err, BusErrorCode.requestFailed, `delete dead letter ${seq}`);
    }
  }

  async topicBacklog(topic: Topic): Promise<number> {
    this.checkOpen();
    const stream = subjects.stream(topic);
    try {
      return (await (await this.jsm()).streams.info(stream)).state.messages;
    } catch (err) {
      if (isStreamNotFound(err)) return 0;
      throw toBusError(err, BusErrorCode.requestFailed, `backlog of ${stream}`);
    }
  }

  async backlog(opts: MailboxOptions): Promise<ConsumerBacklog> {
    this.checkOpen();
    consumerName(opts); // validates
    const stream = subjects.stream(opts.topic);
    const subject = subjects.of(opts.topic, opts.partition);
    try {
      const jsm = await this.jsm();
      const consumer = await currentConsumer(jsm, stream, opts);
      if (consumer !== undefined)
        return { pending: consumer.num_pending, ackPending: consumer.num_ack_pending };
      // No consumer (yet, or between two owners): on a work-queue stream, all that is stored is unacknowledged.
      const info = await jsm.streams.info(stream, { subjects_filter: subject });
      return { pending: info.state.subjects?.[subject] ?? 0, ackPending: 0 };
    } catch (err) {
      if (isStreamNotFound(err)) return { pending: 0, ackPending: 0 };
      throw toBusError(err, BusErrorCode.requestFailed, `backlog of ${subject}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.mailboxes.values()].map((mailbox) => mailbox.close()));
    const leaseNc = await this.leaseNc?.catch(() => undefined);
    await Promise.all([
      // The lease connection is the bus's own: drained whoever owns the other.
      leaseNc === undefined ? undefined : this.drain(leaseNc),
      this.options.closeConnection === true ? this.drain(this.nc) : undefined,
    ]);
  }

  private async drain(nc: NatsConnection): Promise<void> {
    if (nc.isClosed()) return;
    try {
      await nc.drain();
    } catch (err) {
      this.logger?.warn('NATS connection did not drain cleanly', { error: ensureError(err).message });
    }
  }

  private jsm(): Promise<JetStreamManager> {
    this.manager ??= jetstreamManager(this.nc, this.jsOptions).catch((err: unknown) => {
      this.manager = undefined;
      throw toBusError(err, BusErrorCode.requestFailed, 'JetStream is not available');
    });
    return this.manager;
  }

  private checkOpen(): void {
    if (this.closed) throw new BusError(BusErrorCode.closed, 'the bus is closed');
  }
}

/** Logs connection state changes until the connection closes. */
function watchConnection(nc: NatsConnection, logger: Logger, name: string | undefined): void {
  // Which of an instance's connections: the bus's, or its lease bucket's (`<name>-leases`).
  const which = name === undefined ? {} : { connection: name };
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'error')
        logger.warn('NATS connection', { ...which, ...status });
      else if (status.type === 'reconnect') logger.info('NATS connection', { ...which, ...status });
    }
  })().catch((err: unknown) => logger.warn('NATS status watch ended', { error: ensureError(err).message }));
}
