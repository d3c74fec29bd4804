import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createTestPki } from '../src/index.js';

describe('createTestPki', () => {
  it('makes a CA and the server and client certificates it signs', () => {
    const pki = createTestPki();
    const ca = pki.ca('ca');
    const server = pki.cert('server', ca, 'server');
    const client = pki.cert('client', ca, 'client');
    const verify = (cert: string, purpose: string): string =>
      execFileSync('openssl', ['verify', '-CAfile', ca.cert, '-purpose', purpose, cert], {
        encoding: 'utf8',
      });
    expect(verify(server.cert, 'sslserver')).toMatch(/: OK/);
    expect(verify(client.cert, 'sslclient')).toMatch(/: OK/);
    expect(() => verify(client.cert, 'sslserver')).toThrow();
    const text = execFileSync('openssl', ['x509', '-in', server.cert, '-noout', '-text'], {
      encoding: 'utf8',
    });
    expect(text).toMatch(/IP Address:127\.0\.0\.1/);
  });
});
