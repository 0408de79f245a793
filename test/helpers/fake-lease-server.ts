import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { leaseApiFromKubeConfig, type LeaseApi } from '../../common/leader/kubernetes-lease.js';
import { MICRO_TIME_PATTERN } from '../../common/leader/lease-record.js';

/**
 * A small, faithful stand-in for the coordination.k8s.io/v1 Lease endpoints of an API server:
 * resourceVersion preconditions (409), AlreadyExists (409), NotFound (404), and MicroTime validation
 * (422 unless exactly six fractional digits), answered with Status objects like the real one.
 */

export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  /** The bearer token: each test client gets its own, so faults can target one replica. */
  readonly token: string;
  /** The raw request body, as it went over the wire. */
  readonly body: string;
}

export interface LoggedRequest extends FakeRequest {
  readonly status: number;
  /** Date.now() when answered. */
  readonly at: number;
}

/** `status`: answer with that error; `hang`: never answer (until the server closes). */
export type Fault = { readonly status: number } | { readonly hang: true };
/** Return a fault, or undefined to serve normally; may await to delay or hold requests. */
export type Interceptor = (req: FakeRequest) => Fault | undefined | Promise<Fault | undefined>;

type Json = Record<string, unknown>;
const BASE = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/?]+))?\/?(?:\?.*)?$/;

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  422: 'Invalid',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export class FakeLeaseServer {
  /** Every request answered (hung ones are not), oldest first. */
  readonly requests: LoggedRequest[] = [];
  private readonly leases = new Map<string, Json>();
  private revision = 100;
  private interceptor: Interceptor | undefined;
  private readonly dirs: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeLeaseServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeLeaseServer(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  /** A kubeconfig file pointing at this server (for a `zk2etcd sync` child process's KUBECONFIG); removed on close. */
  kubeconfig(token = 'watcher-token'): string {
    const dir = mkdtempSync(join(tmpdir(), 'zk2etcd-kube-'));
    this.dirs.push(dir);
    const path = join(dir, 'config');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: fake, cluster: {server: "${this.url}", insecure-skip-tls-verify: true}}]`,
        `users: [{name: watcher, user: {token: ${token}}}]`,
        'contexts: [{name: fake, context: {cluster: fake, user: watcher}}]',
        'current-context: fake',
      ].join('\n'),
    );
    return path;
  }

  /** A client-node CoordinationV1Api for this server, authenticating with `token`. */
  client(token: string): LeaseApi {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: token, token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: token }],
      currentContext: 'fake',
    });
    return leaseApiFromKubeConfig(kc);
  }

  setInterceptor(interceptor: Interceptor | undefined): void {
    this.interceptor = interceptor;
  }

  /** The stored Lease as the API would return it, or undefined. */
  lease(namespace: string, name: string): Json | undefined {
    const stored = this.leases.get(`${namespace}/${name}`);
    return stored === undefined ? undefined : structuredClone(stored);
  }

  spec(namespace: string, name: string): Json | undefined {
    return this.lease(namespace, name)?.spec as Json | undefined;
  }

  /** Stores a Lease directly (as if another client wrote it), bumping the resourceVersion. */
  seed(namespace: string, name: string, spec: Json): Json {
    return this.store(namespace, name, { metadata: { name, namespace }, spec }, undefined);
  }

  async close(): Promise<void> {
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private store(namespace: string, name: string, body: Json, previous: Json | undefined): Json {
    const prevMeta = (previous?.metadata ?? {}) as Json;
    const meta = (body.metadata ?? {}) as Json;
    const stored: Json = {
      kind: 'Lease',
      apiVersion: 'coordination.k8s.io/v1',
      metadata: {
        ...meta,
        name,
        namespace,
        uid: prevMeta.uid ?? randomUUID(),
        resourceVersion: String(++this.revision),
        creationTimestamp: prevMeta.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
      spec: body.spec ?? {},
    };
    this.leases.set(`${namespace}/${name}`, stored);
    return structuredClone(stored);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const auth = req.headers.authorization ?? '';
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      token: auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '',
      body: Buffer.concat(chunks).toString('utf8'),
    };
    const fault = await this.interceptor?.(request);
    if (fault !== undefined && 'hang' in fault) return; // closeAllConnections ends it
    const [status, payload] = fault !== undefined ? failure(fault.status, 'injected fault') : this.serve(request);
    this.requests.push({ ...request, status, at: Date.now() });
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(payload));
  }

  private serve(req: FakeRequest): [number, Json] {
    if (req.token === '') return failure(401, 'Unauthorized');
    const match = BASE.exec(req.path);
    if (match === null) return failure(404, 'the server could not find the requested resource');
    const namespace = decodeURIComponent(match[1]!);
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const key = `${namespace}/${name}`;
    const notFound = () => failure(404, `leases.coordination.k8s.io "${name}" not found`, name);

    if (req.method === 'GET' && name !== undefined) {
      const stored = this.leases.get(key);
      return stored === undefined ? notFound() : [200, structuredClone(stored)];
    }
    if (req.method !== 'POST' && req.method !== 'PUT') return failure(405, `method ${req.method} not allowed`);

    let body: Json;
    try {
      body = JSON.parse(req.body) as Json;
    } catch {
      return failure(400, 'the request body is not valid JSON');
    }
    const meta = (body.metadata ?? {}) as Json;
    const bodyName = typeof meta.name === 'string' ? meta.name : undefined;
    if (body.kind !== 'Lease' || body.apiVersion !== 'coordination.k8s.io/v1') {
      return failure(400, `expected kind Lease, apiVersion coordination.k8s.io/v1`);
    }
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      return failure(400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    const invalid = invalidTimes(body.spec);
    if (invalid !== undefined) return failure(422, invalid, bodyName);

    if (req.method === 'POST') {
      if (name !== undefined) return failure(405, 'POST to a named lease is not allowed');
      if (bodyName === undefined) return failure(422, 'metadata.name: Required value');
      if (this.leases.has(`${namespace}/${bodyName}`)) {
        return failure(409, `leases.coordination.k8s.io "${bodyName}" already exists`, bodyName, 'AlreadyExists');
      }
      return [201, this.store(namespace, bodyName, body, undefined)];
    }
    if (name === undefined) return failure(405, 'PUT needs a lease name');
    if (bodyName !== name) return failure(400, 'the name of the object does not match the name on the URL');
    const stored = this.leases.get(key);
    if (stored === undefined) return notFound();
    if (typeof meta.resourceVersion !== 'string' || meta.resourceVersion === '') {
      return failure(422, 'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update', name);
    }
    if (meta.resourceVersion !== (stored.metadata as Json).resourceVersion) {
      return failure(
        409,
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; ` +
          'please apply your changes to the latest version and try again',
        name,
      );
    }
    return [200, this.store(namespace, name, body, stored)];
  }
}

function invalidTimes(spec: unknown): string | undefined {
  if (spec === undefined || spec === null) return undefined;
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const value = (spec as Json)[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !MICRO_TIME_PATTERN.test(value)) {
      return `spec.${field}: Invalid value: ${JSON.stringify(value)}: must be a MicroTime (RFC 3339, six fractional digits)`;
    }
  }
  return undefined;
}

function failure(code: number, message: string, name?: string, reason?: string): [number, Json] {
  return [
    code,
    {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: reason ?? REASONS[code] ?? 'Unknown',
      details: name === undefined ? undefined : { name, group: 'coordination.k8s.io', kind: 'leases' },
      code,
    },
  ];
}
