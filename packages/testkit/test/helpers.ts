import { connect } from 'node:net';

/** Resolves true if something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** True while a process with this pid exists (zombies included). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes `request` to 127.0.0.1:port and collects what comes back until `isComplete` says the reply is whole.
 * Enough of a client for RESP and the NATS text protocol in tests, without a client library.
 */
export function exchange(
  port: number,
  request: string,
  isComplete: (received: string) => boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error(`incomplete reply: ${JSON.stringify(received)}`));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(request));
    socket.on('data', (text: string) => {
      received += text;
      if (isComplete(received)) {
        socket.destroy();
        resolve(received);
      }
    });
  });
}

/** A RESP command, e.g. `resp('SET', 'k', 'v')`. */
export function resp(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** Sends one RESP command and returns the reply line, or the value of a bulk string (`null` for nil). */
export async function redisCall(port: number, ...args: string[]): Promise<string | null> {
  const reply = await exchange(port, resp(...args), (r) => {
    if (!r.includes('\r\n')) return false;
    if (!r.startsWith('$') || r.startsWith('$-1')) return true;
    return r.split('\r\n').length >= 3;
  });
  if (reply.startsWith('$-1')) return null;
  if (reply.startsWith('$')) return reply.split('\r\n')[1]!;
  return reply.split('\r\n')[0]!;
}

/**
 * One NATS request/reply over the raw text protocol (INFO, CONNECT, SUB, PUB, then wait for MSG).
 * Resolves with the reply's payload.
 */
export async function natsRequest(port: number, subject: string, payload: string): Promise<string> {
  const inbox = `_INBOX.testkit${Math.random().toString(36).slice(2)}`;
  const request =
    'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n' +
    `SUB ${inbox} 1\r\n` +
    `PUB ${subject} ${inbox} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`;
  const received = await exchange(port, request, (r) => /MSG \S+ 1 +(?:\S+ +)?\d+\r\n.*\r\n/s.test(r));
  // MSG <subject> <sid> [reply-to] <bytes>: the reply-to may be absent (or empty: two spaces).
  const match = /MSG \S+ 1 +(?:\S+ +)?(\d+)\r\n/.exec(received)!;
  const start = match.index + match[0].length;
  return received.slice(start, start + Number(match[1]));
}
