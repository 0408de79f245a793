import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { LogLevel } from '../common/config/types.js';

export interface HttpDeps {
  readonly registry: Registry;
  /** Alive: the event loop answers. */
  readonly healthy: () => boolean;
  /** Ready: connected to ZooKeeper, etcd and Redis (independent of leadership). */
  readonly ready: () => boolean;
  readonly setLogLevel: (level: LogLevel) => void;
  readonly adminToken: string | null;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 4096) throw new Error('body too large');
  }
  return text;
}

function parseLevel(text: string, contentType: string | undefined): string | null {
  if (contentType?.includes('application/json')) {
    try {
      const v = (JSON.parse(text) as { level?: unknown }).level;
      return typeof v === 'string' ? v : null;
    } catch {
      return null;
    }
  }
  return new URLSearchParams(text).get('level');
}

/** Every replica serves this, leader or not (SPEC §8). */
export function createHttpServer(deps: HttpDeps): Server {
  const send = (res: ServerResponse, code: number, text: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(code, { 'content-type': type });
    res.end(text);
  };
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    (async () => {
      switch (route) {
        case 'GET /metrics':
          return send(res, 200, await deps.registry.metrics(), deps.registry.contentType);
        case 'GET /healthz':
          return deps.healthy() ? send(res, 200, 'ok\n') : send(res, 503, 'unhealthy\n');
        case 'GET /readyz':
          return deps.ready() ? send(res, 200, 'ready\n') : send(res, 503, 'not ready\n');
        case 'POST /log': {
          if (deps.adminToken && !tokenMatches(req, deps.adminToken)) return send(res, 401, 'missing or wrong token (Authorization: Bearer <--admin-token>)\n');
          const level = parseLevel(await body(req), req.headers['content-type']);
          if (!level || !LEVELS.includes(level as LogLevel)) return send(res, 400, `level must be one of ${LEVELS.join(', ')}\n`);
          deps.setLogLevel(level as LogLevel);
          return send(res, 200, `log level set to ${level}\n`);
        }
        default:
          return send(res, 404, 'not found\n');
      }
    })().catch((err: unknown) => send(res, 500, `${(err as Error).message}\n`));
  });
}
