import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './cleanup.js';
import { MissingBinaryError } from './errors.js';

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  cert: string;
  key: string;
}

/** Certificates for TLS tests, made by openssl in a temp dir (removed when the test process exits). */
export interface TestPki {
  dir: string;
  /** Makes a CA (self-signed). */
  ca(name: string): CertFiles;
  /** Makes a certificate signed by `ca`: for a server on 127.0.0.1 / localhost, or for a client. */
  cert(name: string, ca: CertFiles, usage: 'server' | 'client'): CertFiles;
}

export function createTestPki(): TestPki {
  const dir = makeTempDir('throughline-pki-');
  const openssl = (args: string[]): void => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new MissingBinaryError('openssl', 'apt-get install openssl', []);
      throw new Error(
        `openssl ${args.join(' ')} failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`,
      );
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const files = (name: string): CertFiles => ({
    cert: path.join(dir, `${name}.crt`),
    key: path.join(dir, `${name}.key`),
  });
  return {
    dir,
    ca(name) {
      openssl([
        'req',
        '-x509',
        ...ec,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
      ]);
      return files(name);
    },
    cert(name, ca, usage) {
      openssl(['req', ...ec, '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
      writeFileSync(
        path.join(dir, `${name}.ext`),
        usage === 'server'
          ? 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
          : 'extendedKeyUsage=clientAuth\n',
      );
      openssl([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.crt`,
      ]);
      return files(name);
    },
  };
}
