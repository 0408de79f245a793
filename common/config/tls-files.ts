import { createPrivateKey, X509Certificate } from 'node:crypto';

export interface TlsFileSet {
  readonly ca: { readonly path: string; readonly bytes: Buffer } | null;
  readonly cert: { readonly path: string; readonly bytes: Buffer } | null;
  readonly key: { readonly path: string; readonly bytes: Buffer } | null;
}

/** OpenSSL's `TRUSTED CERTIFICATE` form (a certificate with trust settings) counts: Node's TLS takes it. */
const holdsCertificate = (bytes: Buffer): boolean => {
  if (!bytes.includes('-----BEGIN CERTIFICATE-----') && !bytes.includes('-----BEGIN TRUSTED CERTIFICATE-----')) return false;
  try {
    new X509Certificate(bytes);
    return true;
  } catch {
    return false;
  }
};

/**
 * What is wrong with the contents of the etcd TLS files (read already), one line each; `origin(flag)` says
 * where a setting came from. Checked up front so that a Secret mounted under swapped keys is a usage error
 * naming the flag, not OpenSSL's "no start line" at the first connection.
 */
export function tlsFileProblems(files: TlsFileSet, origin: (flag: string) => string): string[] {
  const problems: string[] = [];
  if (files.ca && !holdsCertificate(files.ca.bytes)) {
    problems.push(`--etcd-cacert: ${files.ca.path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); it must be the CA bundle${origin('etcd-cacert')}`);
  }
  if (files.cert && !holdsCertificate(files.cert.bytes)) {
    problems.push(`--etcd-cert: ${files.cert.path} holds no PEM certificate; it must be the client certificate, and --etcd-key its private key${origin('etcd-cert')}`);
  } else if (files.cert && files.key) {
    // checkPrivateKey compares the key with the certificate's; TLS itself would take an RSA certificate
    // and an EC key as two halves of different pairs, and then send no client certificate at all.
    let why: string | null;
    try {
      why = new X509Certificate(files.cert.bytes).checkPrivateKey(createPrivateKey(files.key.bytes)) ? null : "the key is not the certificate's";
    } catch (err) {
      why = (err as Error).message;
    }
    if (why !== null) {
      problems.push(`--etcd-cert and --etcd-key: ${files.cert.path} and ${files.key.path} are not a certificate and its private key (${why})${origin('etcd-cert')}${origin('etcd-key')}`);
    }
  }
  return problems;
}
