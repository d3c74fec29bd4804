/**
 * A NATS cluster on loopback: nodes with routes to each other and JetStream clustered over them, so streams can
 * keep three copies and a node can be killed, restarted or lose its store while the others go on.
 */
import { get } from 'node:http';
import { freePort } from './ports.js';
import { launchNats, type NatsHandle, type NatsStartOptions } from './nats.js';
import { natsServerAtLeast } from './nats-provision.js';
import { waitFor } from './wait.js';

export interface NatsNodeHandle extends NatsHandle {
  /** The node's server name (`n1`, `n2`, …): what JetStream reports as a stream's leader or replica. */
  readonly name: string;
  /** The node's monitoring port (HTTP: /healthz, /jsz, /routez). */
  readonly monitorPort: number;
}

export interface NatsClusterHandle {
  readonly nodes: readonly NatsNodeHandle[];
  /** Every node's URL, separated by commas (the services' NATS_URL). */
  readonly url: string;
  /** The node named `name` (`n1`, …); throws when there is none. */
  node(name: string): NatsNodeHandle;
  /**
   * Resolves once every running node answers `/healthz` with OK: JetStream has a meta leader and the node's copies
   * of every stream and consumer are current. After a node restarts, this is when it has caught up.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The name of the node leading JetStream's meta group now, or `undefined` when no running node knows of one. */
  metaLeader(): Promise<string | undefined>;
  /**
   * The name of the node leading the stream `stream` now (as a running node's monitoring reports it), or
   * `undefined` when no running node knows of a leader (an election under way).
   */
  streamLeader(stream: string): Promise<string | undefined>;
  /** Stops every node and removes their stores. */
  stop(): Promise<void>;
}

export interface NatsClusterStartOptions extends Omit<NatsStartOptions, 'config'> {
  /** Default 3 (JetStream needs a majority: 3 nodes survive the loss of one). */
  nodes?: number;
  /**
   * The oldest nats-server the cluster may run, e.g. `"2.10"`: when the one on PATH is older, a newer one is
   * fetched (`natsServerAtLeast`). Default: whatever `binary`, or else PATH, gives.
   */
  minVersion?: string;
  /** One nats-server executable per node (a cluster in the middle of an upgrade); overrides `binary`. */
  binaries?: readonly string[];
}

/** `GET http://127.0.0.1:<port><path>`: the status code and body. */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from 127.0.0.1:${port}${path}`)));
    req.on('error', reject);
  });
}

/**
 * Starts `nodes` nats-servers (default 3) on free ports of 127.0.0.1, each with its own store, routed to one
 * another as the cluster `tl-test`, and resolves once the cluster is healthy and JetStream's meta group holds every
 * node (a node it left out is restarted, see `checkMetaGroup`). The route and monitoring ports are
 * chosen before the nodes start (every node must know the others' routes), so another process could take one
 * in between: the nodes are then started again on other ports (three attempts), and a start that still fails
 * throws with the node's log.
 */
export async function startNatsCluster(opts: NatsClusterStartOptions = {}): Promise<NatsClusterHandle> {
  if (opts.minVersion !== undefined && opts.binary === undefined)
    opts = { ...opts, binary: await natsServerAtLeast(opts.minVersion, { binDirs: opts.binDirs }) };
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

async function startNatsClusterOnce(opts: NatsClusterStartOptions): Promise<NatsClusterHandle> {
  const count = opts.nodes ?? 3;
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < count; i++) {
    routePorts.push(await freePort());
    monitorPorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(',');
  // One node after another, each accepting clients before the next starts. Started all at once, nats-server 2.10.27
  // often forms JetStream's meta group without one of them (2 of 15 starts here): the leader never hears that node's
  // answers (their routes were being connected twice over and deduplicated at that moment), shrinks the group to
  // the nodes it heard, and streams of three copies are refused as "no suitable peers for placement" for as long as
  // that node runs. One at a time it is rarer (1 of 25 starts), and `checkMetaGroup` mends what is left.
  const nodes: NatsNodeHandle[] = [];
  try {
    for (const [i, routePort] of routePorts.entries()) {
      const name = `n${i + 1}`;
      const binary = opts.binaries?.[i] ?? opts.binary;
      const handle = await launchNats(binary === undefined ? opts : { ...opts, binary }, [
        '--name',
        name,
        '--cluster_name',
        'tl-test',
        '--cluster',
        `nats://127.0.0.1:${routePort}`,
        '--routes',
        routes,
        '-m',
        String(monitorPorts[i]),
      ]);
      nodes.push(Object.assign(handle, { name, monitorPort: monitorPorts[i]! }));
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  const cluster: NatsClusterHandle = {
    nodes,
    get url() {
      return nodes.map((n) => n.url).join(',');
    },
    node(name) {
      const node = nodes.find((n) => n.name === name);
      if (node === undefined) throw new Error(`no NATS node named ${JSON.stringify(name)}`);
      return node;
    },
    async waitHealthy(timeoutMs = 60_000) {
      const last = new Map<string, string>();
      await waitFor(
        async () => {
          let healthy = true;
          for (const node of nodes) {
            if (node.pid === undefined) continue;
            const reply = await httpGet(node.monitorPort, '/healthz').catch((err: Error) => ({
              status: 0,
              body: err.message,
            }));
            last.set(node.name, `${reply.status} ${reply.body.trim()}`);
            if (reply.status !== 200) healthy = false;
          }
          return healthy;
        },
        {
          timeoutMs,
          intervalMs: 100,
          message: () =>
            `the NATS cluster was not healthy within ${timeoutMs} ms: ` +
            [...last].map(([name, answer]) => `${name}: ${answer}`).join('; '),
        },
      );
    },
    async metaLeader() {
      for (const node of nodes) {
        if (node.pid === undefined) continue;
        const reply = await httpGet(node.monitorPort, '/jsz').catch(() => undefined);
        if (reply?.status !== 200) continue;
        const leader = (JSON.parse(reply.body) as { meta_cluster?: { leader?: string } }).meta_cluster
          ?.leader;
        if (leader) return leader;
      }
      return undefined;
    },
    async streamLeader(stream) {
      for (const node of nodes) {
        if (node.pid === undefined) continue;
        const reply = await httpGet(node.monitorPort, '/jsz?accounts=true&streams=true').catch(
          () => undefined,
        );
        if (reply?.status !== 200) continue;
        const jsz = JSON.parse(reply.body) as {
          account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[];
        };
        for (const account of jsz.account_details ?? [])
          for (const detail of account.stream_detail ?? [])
            if (detail.name === stream && detail.cluster?.leader) return detail.cluster.leader;
      }
      return undefined;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  try {
    await cluster.waitHealthy(opts.startTimeoutMs ?? 60_000);
    await checkMetaGroup(cluster, opts.logger);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** What the meta leader reports of JetStream's meta group: its size and each other member, current or not. */
interface MetaGroupView {
  leader: string;
  size: number;
  members: Map<string, boolean>;
}

async function metaGroupView(nodes: readonly NatsNodeHandle[]): Promise<MetaGroupView | undefined> {
  for (const node of nodes) {
    if (node.pid === undefined) continue;
    const reply = await httpGet(node.monitorPort, '/jsz').catch(() => undefined);
    if (reply?.status !== 200) continue;
    const meta = (
      JSON.parse(reply.body) as {
        meta_cluster?: {
          leader?: string;
          cluster_size?: number;
          replicas?: { name: string; current: boolean }[];
        };
      }
    ).meta_cluster;
    // Only the leader lists the members (with whether each is current).
    if (meta?.leader !== node.name) continue;
    const members = new Map<string, boolean>([[node.name, true]]);
    for (const replica of meta.replicas ?? []) members.set(replica.name, replica.current);
    return { leader: node.name, size: meta.cluster_size ?? 0, members };
  }
  return undefined;
}

function describe(view: MetaGroupView | undefined): string {
  if (view === undefined) return 'no node reports itself the meta leader';
  const members = [...view.members].map(([name, current]) => `${name}${current ? '' : ' (not current)'}`);
  return `leader ${view.leader}, size ${view.size}, members ${members.join(', ')}`;
}

/**
 * Waits until JetStream's meta group holds every node, each current, as its leader reports it. A node the group
 * left out (see the start above) is restarted, once: it then joins as any restarted node does. A group still
 * incomplete after that throws, with what the leader reported.
 */
async function checkMetaGroup(cluster: NatsClusterHandle, logger: NatsStartOptions['logger']): Promise<void> {
  const complete = (view: MetaGroupView | undefined): boolean =>
    view !== undefined &&
    view.size === cluster.nodes.length &&
    cluster.nodes.every((n) => view.members.get(n.name) === true);
  const waitComplete = async (timeoutMs: number): Promise<MetaGroupView | undefined> => {
    let view: MetaGroupView | undefined;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      view = await metaGroupView(cluster.nodes);
      if (complete(view) || Date.now() >= deadline) return view;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const first = await waitComplete(5_000);
  if (complete(first)) return;
  const outside = cluster.nodes.filter((n) => first?.members.get(n.name) !== true);
  logger?.warn(
    `NATS cluster: JetStream's meta group is incomplete (${describe(first)}); restarting ` +
      outside.map((n) => n.name).join(', '),
  );
  for (const node of outside) await node.restart();
  await cluster.waitHealthy(30_000);
  const second = await waitComplete(15_000);
  if (!complete(second))
    throw new Error(
      `the NATS cluster's JetStream meta group did not take in every node, even after restarting ` +
        `${outside.map((n) => n.name).join(', ')}: ${describe(second)}`,
    );
}
