import { connect } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';

/**
 * Connects to 127.0.0.1:`port`, writes `request` (if any) and resolves with the first line the server sends
 * back, without its line ending. Enough to read a NATS INFO greeting or a RESP reply. With `tls`, over TLS.
 */
export function readFirstLine(
  port: number,
  request?: string,
  timeoutMs = 2_000,
  tls?: ConnectionOptions,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket =
      tls === undefined
        ? connect({ host: '127.0.0.1', port })
        : connectTls({ host: '127.0.0.1', port, ...tls });
    let received = '';
    const finish = (err: Error | undefined, line?: string): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    socket.setTimeout(timeoutMs, () =>
      finish(new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`)),
    );
    socket.setEncoding('utf8');
    socket.once('error', (err: Error) => finish(err));
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      if (request !== undefined) socket.write(request);
    });
    socket.on('data', (text: string) => {
      received += text;
      const end = received.indexOf('\n');
      if (end >= 0) finish(undefined, received.slice(0, end).replace(/\r$/, ''));
    });
    socket.once('end', () => finish(new Error(`127.0.0.1:${port} closed the connection before a full line`)));
  });
}
