import { z } from 'zod';
import { parseDuration } from './duration.js';
import { pathProblem, covers, ZK_SYSTEM_PREFIX } from '../paths.js';
import { maskServer, shownItem } from './mask.js';

/** Field schemas over raw strings; each issue message says what is accepted. */
type Ctx = z.core.$RefinementCtx<string>;
const fail = (ctx: Ctx, message: string) => {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
};

export const list = (raw: string): string[] => raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

/** host:port items; a bare host name or IPv4 address gets `defaultPort` (ZooKeeper's 2181, as zk2etcd 1.x's client did). */
export const hostPortList = (what: string, defaultPort: number) =>
  z.string().transform((raw, ctx) => {
    const items = list(raw);
    if (items.length === 0) return fail(ctx, `is required: a comma-separated list of ${what}`);
    return items.map((given) => {
      const item = /^[A-Za-z0-9_.-]+$/.test(given) ? `${given}:${defaultPort}` : given;
      const port = /^[A-Za-z0-9_.\-\[\]:]+:(\d{1,5})$/.exec(item)?.[1];
      if (port === undefined) return fail(ctx, `"${shownItem(raw, given)}" is not host:port`);
      if (Number(port) < 1 || Number(port) > 65535) return fail(ctx, `"${shownItem(raw, given)}": the port must be 1-65535`);
      return item;
    });
  });

export const etcdEndpoints = z.string().transform((raw, ctx) => {
  const items = list(raw);
  if (items.length === 0) return fail(ctx, 'is required: comma-separated http(s)://host:port or host:port');
  return items.map((item) => {
    const url = /^[a-z]+:\/\//i.test(item) ? item : `http://${item}`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return fail(ctx, `"${shownItem(raw, item)}" is not a URL or host:port`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return fail(ctx, `"${shownItem(raw, item)}" must use http:// or https://`);
    if (parsed.username || parsed.password) return fail(ctx, 'must not carry credentials: use --etcd-username and --etcd-password-file');
    if (!parsed.port) return fail(ctx, `"${shownItem(raw, item)}" needs a port`);
    return `${parsed.protocol}//${parsed.host}`;
  });
});

/** ZooKeeper paths, one problem per bad item. `mirrored`: the prefixes, which may not be ZooKeeper's own subtree. */
export const zkPathList = (allowEmpty: boolean, mirrored = false) =>
  z.string().transform((raw, ctx) => {
    const items = [...new Set(list(raw))];
    if (items.length === 0 && !allowEmpty) return fail(ctx, 'needs at least one path such as /dubbo');
    const problems: string[] = [];
    for (const p of items) {
      const problem = pathProblem(p);
      if (problem) problems.push(problem);
      else if (mirrored && covers(ZK_SYSTEM_PREFIX, p)) problems.push(`${p}: ZooKeeper's own ${ZK_SYSTEM_PREFIX} subtree is never mirrored`);
    }
    if (problems.length === 0) {
      for (const a of items) {
        for (const b of items) {
          if (a !== b && covers(a, b)) problems.push(`${b} is inside ${a}; list each subtree once`);
        }
      }
    }
    for (const problem of problems) fail(ctx, problem);
    return problems.length > 0 ? z.NEVER : items;
  });

export const int = (min: number, max: number) =>
  z.string().transform((raw, ctx) => {
    const t = raw.trim();
    if (!/^\d+$/.test(t) || Number(t) < min || Number(t) > max) return fail(ctx, `must be an integer from ${min} to ${max}`);
    return Number(t);
  });

export const bool = z.string().transform((raw, ctx) => {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 't', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'f', 'no', 'off', ''].includes(v)) return false;
  return fail(ctx, 'must be true or false');
});

export const duration = (maxMs: number, minMs = 0) =>
  z.string().transform((raw, ctx) => {
    const ms = parseDuration(raw);
    const range = minMs > 0 ? `from ${minMs / 1000}s to ${maxMs / 1000}s` : `at most ${maxMs / 1000}s`;
    if (ms === null || ms > maxMs || ms < minMs) return fail(ctx, `must be a duration such as 500ms, 30s, 5m or 1h (${range})`);
    return ms;
  });

export const oneOf = <T extends string>(values: readonly T[]) =>
  z.string().transform((raw, ctx) => {
    const v = raw.trim().toLowerCase() as T;
    if (!values.includes(v)) return fail(ctx, `must be one of ${values.join(', ')}`);
    return v;
  });

export const maxDelete = z.string().transform((raw, ctx) => {
  const t = raw.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) {
    const v = Number(pct[1]);
    if (v > 100) return fail(ctx, 'a percentage must be from 0% to 100%');
    return { kind: 'percent' as const, value: v };
  }
  if (/^\d+$/.test(t)) return { kind: 'count' as const, value: Number(t) };
  return fail(ctx, 'must be a count such as 500 or a percentage such as 50%');
});

export const httpUrl = z.string().transform((raw, ctx) => {
  try {
    const u = new URL(raw.trim());
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail(ctx, 'must be an http:// or https:// URL');
    return u.toString().replace(/\/$/, '');
  } catch {
    return fail(ctx, 'must be an http:// or https:// URL');
  }
});

export const redisServer = z.string().transform((raw, ctx) => {
  const t = raw.trim();
  if (t === '') return fail(ctx, 'is required: host:port or redis://host:port[/db]');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t) && !/^rediss?:\/\//.test(t)) return fail(ctx, `"${maskServer(t)}" must use redis:// or rediss:// (or be host:port)`);
  const url = /^rediss?:\/\//.test(t) ? t : `redis://${t}`;
  try {
    const u = new URL(url);
    if (!u.port && !/^rediss?:\/\/[^/]+$/.test(url)) return fail(ctx, `"${maskServer(t)}" needs a port`);
    if (!u.hostname) return fail(ctx, `"${maskServer(t)}" needs a host`);
    if (u.pathname && u.pathname !== '/' && !/^\/\d{1,2}$/.test(u.pathname)) return fail(ctx, `"${maskServer(t)}": the path must be a DB number`);
    if (u.username || u.password) return fail(ctx, 'must not carry credentials: use --redis-username and --redis-password-file');
    return url;
  } catch {
    return fail(ctx, `"${maskServer(t)}" is not host:port or a redis:// URL`);
  }
});

export const httpAddr = z.string().transform((raw, ctx) => {
  const m = /^(.*):(\d{1,5})$/.exec(raw.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) return fail(ctx, 'must be [host]:port such as :8080 or 127.0.0.1:8080');
  return { host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port };
});

export const instanceName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of letters, digits, _ . -');

/** Longest --fullsync-interval duration (setInterval holds at most ~24.8 days); a cron expression schedules rarer runs. */
const MAX_FULL_SYNC_MS = 24 * 3600_000;

export const FULL_SYNC_ACCEPTS = 'a duration such as 5m, a cron expression such as "*/5 * * * *" or @daily, or 0 to disable';

export const fullSync = z.string().transform((raw, ctx) => {
  const t = raw.trim();
  if (t === '0' || t === 'off') return { kind: 'off' as const };
  const ms = parseDuration(t);
  if (ms === 0) return { kind: 'off' as const };
  if (ms !== null) {
    if (ms < 1000) return fail(ctx, 'must be at least 1s, or 0 to disable');
    if (ms > MAX_FULL_SYNC_MS) return fail(ctx, 'must be at most 24h as a duration; a cron expression such as "0 3 * * 0" schedules rarer runs');
    return { kind: 'interval' as const, ms };
  }
  if (t.split(/\s+/).length >= 5 || t.startsWith('@')) return { kind: 'cron' as const, expression: t };
  return fail(ctx, `must be ${FULL_SYNC_ACCEPTS}`);
});
