import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import { LOG_LEVELS_HELP, parseLogLevel } from '../common/config/log-level.js';
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

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  // The scheme is case-insensitive (RFC 9110 §11.1).
  const given = Buffer.from(/^bearer /i.test(header) ? header.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

const MAX_BODY = 4096;

class BodyTooLargeError extends Error {}

async function body(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY) throw new BodyTooLargeError(`body over ${MAX_BODY} bytes`);
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
          const given = parseLevel(await body(req), req.headers['content-type']);
          const level = given === null ? null : parseLogLevel(given);
          if (!level) return send(res, 400, `level must be one of ${LOG_LEVELS_HELP}\n`);
          deps.setLogLevel(level);
          return send(res, 200, `log level set to ${level}\n`);
        }
        default:
          return send(res, 404, 'not found\n');
      }
    })().catch((err: unknown) => send(res, err instanceof BodyTooLargeError ? 413 : 500, `${(err as Error).message}\n`));
  });
}
