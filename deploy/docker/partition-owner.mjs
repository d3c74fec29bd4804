/**
 * Starts a partition-owning service (enrich, state, writer) as instance `i` of `n` of its StatefulSet, then runs
 * it: `node deploy/partition-owner.mjs apps/writer/dist/main.js`.
 *
 * - `i` (INSTANCE_INDEX) is the ordinal at the end of POD_NAME (the downward API's metadata.name). That works on
 *   every Kubernetes version, unlike the `apps.kubernetes.io/pod-index` label (beta from 1.28).
 * - `n` (INSTANCE_COUNT) depends on INSTANCE_COUNT_SOURCE:
 *   - `env` (default): INSTANCE_COUNT as the chart rendered it (the StatefulSet's replicas). The service is
 *     imported in this process, so Node stays PID 1 and receives SIGTERM itself.
 *   - `statefulset`: the StatefulSet's `.spec.replicas`, read from the Kubernetes API and polled while running,
 *     because HPA and KEDA change replicas without touching the pod template. The service runs as a child; when
 *     the count changes it is drained (SIGTERM) and started again with the new count. Every start first waits
 *     INSTANCE_FENCE_MS (default: poll interval + drain time + 5 s), so instances still running with the old count
 *     have noticed the change and drained before this one takes their partitions: no partition has two owners,
 *     as long as every instance reaches the API. Needs `get` on its StatefulSet (the chart's Role).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const env = process.env;
const main = process.argv[2];

function log(level, msg, fields = {}) {
  process.stdout.write(
    `${JSON.stringify({ level, time: Date.now(), service: 'partition-owner', msg, ...fields })}\n`,
  );
}

function fatal(msg) {
  log('error', msg);
  process.exit(2);
}

const podName = env.POD_NAME ?? env.HOSTNAME ?? '';
const ordinal = /-(\d+)$/.exec(podName)?.[1];
if (!main) fatal('usage: node partition-owner.mjs <service main.js>');
if (ordinal === undefined) fatal(`POD_NAME '${podName}' does not end with a StatefulSet ordinal`);
const childEnv = { ...env, INSTANCE_INDEX: ordinal };
const mainPath = path.resolve(main);

/** Reads `.spec.replicas` of the StatefulSet from the API server (service account token, re-read each time). */
function readReplicas() {
  const namespace = env.POD_NAMESPACE ?? readFileSync(`${SA_DIR}/namespace`, 'utf8').trim();
  const name = env.STATEFULSET_NAME ?? podName.replace(/-\d+$/, '');
  const base = env.K8S_API_URL ?? `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT}`;
  const url = new URL(`/apis/apps/v1/namespaces/${namespace}/statefulsets/${name}`, base);
  const token = readFileSync(env.K8S_TOKEN_FILE ?? `${SA_DIR}/token`, 'utf8').trim();
  const secure = url.protocol === 'https:';
  const options = {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    timeout: 5000,
  };
  if (secure) options.ca = readFileSync(env.K8S_CA_FILE ?? `${SA_DIR}/ca.crt`);
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200)
          return reject(new Error(`GET ${url.pathname}: HTTP ${res.statusCode} ${body.slice(0, 200)}`));
        const replicas = JSON.parse(body).spec?.replicas ?? 1;
        resolve(replicas);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: timed out`)));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers the probes while the service is not running; resolves to a function that frees the port. */
async function holdProbes() {
  const address = env.HTTP_ADDRESS ?? '0.0.0.0:9464';
  const split = address.lastIndexOf(':');
  const server = http.createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : 503;
    res.end(req.url === '/healthz' ? 'waiting for partition ownership\n' : 'not serving\n');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(split + 1)), address.slice(0, split), resolve);
  });
  return () => new Promise((resolve) => server.close(() => resolve()));
}

async function superviseWithLiveCount() {
  const pollMs = Number(env.INSTANCE_COUNT_POLL_MS ?? 5000);
  const drainMs = Number(env.SHUTDOWN_TIMEOUT_MS ?? 25000);
  const fenceMs = Number(env.INSTANCE_FENCE_MS ?? pollMs + drainMs + 5000);
  let child;
  let count;
  let stopping = false;

  const stopChild = () =>
    new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      const hardStop = setTimeout(() => child.kill('SIGKILL'), drainMs + 5000);
      child.once('exit', () => {
        clearTimeout(hardStop);
        resolve();
      });
      child.kill('SIGTERM');
    });

  process.on('SIGTERM', () => {
    stopping = true;
    log('info', 'SIGTERM: draining the service');
    void stopChild().then(() => process.exit(0));
  });
  process.on('SIGINT', () => process.kill(process.pid, 'SIGTERM'));

  let releaseProbes;
  const start = async (n) => {
    count = n;
    releaseProbes ??= await holdProbes().catch((err) => {
      log('warn', 'cannot answer probes while waiting', { error: String(err) });
      return undefined;
    });
    log('info', 'waiting for instances with another count to drain', { instanceCount: n, fenceMs });
    await sleep(fenceMs);
    if (stopping || count !== n) return;
    if (Number(ordinal) >= n) {
      log('info', 'this instance is beyond the replica count: idle until removed', {
        instanceIndex: ordinal,
        instanceCount: n,
      });
      return;
    }
    const release = releaseProbes;
    releaseProbes = undefined;
    await release?.();
    log('info', 'starting the service', { instanceIndex: ordinal, instanceCount: n });
    const current = spawn(process.execPath, [mainPath], {
      env: { ...childEnv, INSTANCE_COUNT: String(n) },
      stdio: 'inherit',
    });
    child = current;
    current.on('exit', (code, signal) => {
      if (stopping || child !== current || current.restarting) return;
      log('error', 'the service exited', { code, signal });
      process.exit(code ?? 1);
    });
  };

  for (;;) {
    try {
      count = await readReplicas();
      break;
    } catch (err) {
      log('warn', 'cannot read the replica count yet', { error: String(err) });
      await sleep(pollMs);
    }
  }
  void start(count);
  while (!stopping) {
    await sleep(pollMs);
    let replicas;
    try {
      replicas = await readReplicas();
    } catch (err) {
      log('warn', 'cannot read the replica count; keeping the current one', {
        error: String(err),
        instanceCount: count,
      });
      continue;
    }
    if (replicas === count || stopping) continue;
    log('info', 'replica count changed: draining to re-partition', { from: count, to: replicas });
    if (child) child.restarting = true;
    await stopChild();
    child = undefined;
    void start(replicas);
  }
}

if ((env.INSTANCE_COUNT_SOURCE ?? 'env') === 'env') {
  Object.assign(process.env, childEnv);
  await import(pathToFileURL(mainPath).href);
} else if (env.INSTANCE_COUNT_SOURCE === 'statefulset') {
  await superviseWithLiveCount();
} else {
  fatal(`INSTANCE_COUNT_SOURCE must be 'env' or 'statefulset', got '${env.INSTANCE_COUNT_SOURCE}'`);
}
