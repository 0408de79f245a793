import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of a throwaway PKI made with openssl: one CA, a server certificate and a client certificate. */
export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  /** The CA and the client certificate in OpenSSL's TRUSTED CERTIFICATE form, as `openssl x509 -addtrust` writes them. */
  readonly caTrustedCert: string;
  readonly clientTrustedCert: string;
  /** SAN IP:127.0.0.1 and DNS:localhost; serverAuth (and clientAuth, for etcd's own health checks). */
  readonly serverCert: string;
  readonly serverKey: string;
  /** CN = the given client name; clientAuth. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** File contents, for clients configured in-process (etcd3, ioredis, https). */
  read(file: string): Buffer;
  cleanup(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

/** A key pair signed by the CA in `dir`, with the given extensions. */
function issue(dir: string, name: string, subject: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-out', `${name}.crt`, '-extfile', `${name}.ext`]);
}

/**
 * Generates a fresh CA plus server and client certificates in a new temp dir (EC P-256 keys, valid
 * two days). `label` distinguishes CAs when a test needs a second, untrusted one.
 */
export function generatePki(label = 'zk2etcd-test', clientName = 'zk2etcd-client'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-pki-'));
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = v3_ca',
      'prompt = no',
      '[dn]',
      `CN = ${label} CA`,
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-sha256', '-config', 'ca.cnf']);
  issue(
    dir,
    'server',
    `/CN=localhost`,
    'basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n',
  );
  issue(dir, 'client', `/CN=${clientName}`, 'basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth\n');
  openssl(dir, ['x509', '-in', 'ca.crt', '-addtrust', 'serverAuth', '-out', 'ca-trusted.crt']);
  openssl(dir, ['x509', '-in', 'client.crt', '-addtrust', 'clientAuth', '-out', 'client-trusted.crt']);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    caTrustedCert: join(dir, 'ca-trusted.crt'),
    clientTrustedCert: join(dir, 'client-trusted.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    read: (file) => readFileSync(file),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
