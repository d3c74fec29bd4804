/** One Redis command over a fresh connection, its whole reply parsed (RESP2): enough for INFO and SENTINEL. */
import { connect } from 'node:net';

export type RespValue = string | number | null | RespValue[] | Error;

/** Parses one reply at `at`; `undefined` when `text` does not hold all of it yet. */
function parse(text: string, at: number): { value: RespValue; next: number } | undefined {
  const end = text.indexOf('\r\n', at);
  if (end < 0) return undefined;
  const type = text[at];
  const line = text.slice(at + 1, end);
  if (type === '+') return { value: line, next: end + 2 };
  if (type === '-') return { value: new Error(line), next: end + 2 };
  if (type === ':') return { value: Number(line), next: end + 2 };
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return { value: null, next: end + 2 };
    // Byte length: the replies read here are ASCII.
    if (text.length < end + 2 + length + 2) return undefined;
    return { value: text.slice(end + 2, end + 2 + length), next: end + 2 + length + 2 };
  }
  if (type === '*') {
    const count = Number(line);
    if (count < 0) return { value: null, next: end + 2 };
    const items: RespValue[] = [];
    let next = end + 2;
    for (let i = 0; i < count; i++) {
      const item = parse(text, next);
      if (item === undefined) return undefined;
      items.push(item.value);
      next = item.next;
    }
    return { value: items, next };
  }
  throw new Error(`unexpected RESP reply: ${JSON.stringify(text.slice(at, end))}`);
}

/** Sends `args` to the Redis (or Sentinel) on 127.0.0.1:`port` and resolves with its parsed reply. */
export function redisRequest(port: number, args: readonly string[], timeoutMs = 2_000): Promise<RespValue> {
  const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (err: Error | undefined, value?: RespValue): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () =>
      finish(new Error(`no full reply from 127.0.0.1:${port} within ${timeoutMs} ms`)),
    );
    socket.once('error', (err: Error) => finish(err));
    socket.once('connect', () => socket.write(`*${args.length}\r\n${encoded}`));
    socket.on('data', (text: string) => {
      received += text;
      try {
        const reply = parse(received, 0);
        if (reply !== undefined) finish(undefined, reply.value);
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}
