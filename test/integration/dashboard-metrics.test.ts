import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ownershipHashKey } from '../../common/ownership/redis-store.js';
import { freshName, runCli, servers, testEtcd, testRedis, testZk } from '../helpers/services.js';
import type { TestZk } from '../helpers/services.js';
import { startWatcher, waitForLog } from '../helpers/watcher-process.js';
import type { WatcherProcess } from '../helpers/watcher-process.js';

/**
 * Issue #5: the Grafana dashboard and the Prometheus alert rules use only metrics that the real
 * processes expose: the watcher's GET /metrics and a one-shot reconcile's push to the Pushgateway.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DASHBOARD = join(ROOT, 'deploy/grafana/zk2etcd.json');
const ALERTS = join(ROOT, 'deploy/prometheus/alerts.yaml');

/** PromQL words that look like metric names but are not. */
const NOT_METRICS = new Set([
  'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan',
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
]);

/** Metric names a PromQL expression selects (Grafana's label_values(expr, label) included). */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/^\s*label_values\((.*),\s*\w+\s*\)\s*$/s, '$1')
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1') // label lists
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\$\{?\w+\}?/g, ''); // Grafana variables
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] === undefined && !NOT_METRICS.has((m[1] as string).toLowerCase())) names.add(m[1] as string);
  }
  return [...names];
}

/** name -> type, from the `# TYPE` lines of a Prometheus text exposition; `onlyWith` keeps families with a sample carrying it. */
function exposition(text: string, onlyWith?: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1] as string, m[2] as string);
  if (onlyWith === undefined) return types;
  const kept = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.includes(onlyWith)) continue;
    const sample = /^([A-Za-z_:][\w:]*)/.exec(line)?.[1] ?? '';
    const family = [sample, sample.replace(/_(bucket|sum|count)$/, '')].find((n) => types.has(n));
    if (family) kept.set(family, types.get(family) as string);
  }
  return kept;
}

/** Every PromQL expression in the dashboard (panel targets and templating queries). */
function dashboardExprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const v of node) dashboardExprs(v, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof v === 'string' && v !== 'prometheus') out.push(v);
      else dashboardExprs(v, out);
    }
  }
  return out;
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (): Rule[] => (parse(readFileSync(ALERTS, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe('dashboard and alert rules match the metrics of the real processes', () => {
  const name = freshName('dash');
  const root = `/${name}`;
  const group = `${servers.pushgateway}/metrics/job/zk2etcd/instance/${name}/command/reconcile`;
  const etcd = testEtcd();
  const redis = testRedis();
  const exposed = new Map<string, string>();
  let zk: TestZk;
  let watcher: WatcherProcess | undefined;

  before(async () => {
    zk = await testZk();
    await zk.create(root, Buffer.from('r'));
    await zk.create(`${root}/a`, Buffer.from('a'));
    watcher = await startWatcher([`--zookeeper-prefix=${root}`, '--leader-elect=none', '--fullsync-interval=0', `--instance=${name}`]);
    await waitForLog(watcher, 'full reconcile done');
    for (const [k, v] of exposition(await (await fetch(`${watcher.url}/metrics`)).text())) exposed.set(k, v);
    await watcher.stop();

    const r = await runCli(['reconcile', `--zookeeper-prefix=${root}`, `--instance=${name}`, `--pushgateway-url=${servers.pushgateway}`]);
    assert.equal(r.code, 0, r.stderr);
    const pushed = exposition(await (await fetch(`${servers.pushgateway}/metrics`)).text(), `instance="${name}"`);
    assert.equal(pushed.get('zk2etcd_last_success_timestamp_seconds'), 'gauge', 'the reconcile pushed its last-success gauge');
    for (const [k, v] of pushed) exposed.set(k, v);
  });

  after(async () => {
    await watcher?.stop();
    await zk?.removeTree(root);
    zk?.close();
    await etcd.delete().prefix(root);
    await redis.del(ownershipHashKey(name));
    await fetch(group, { method: 'DELETE' }).catch(() => {});
    await fetch(`${group}/result/success`, { method: 'DELETE' }).catch(() => {});
    etcd.close();
    redis.disconnect();
  });

  const check = (where: string, expr: string) => {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `${where}: no metric in ${expr}`);
    for (const n of names) {
      const base = n.replace(/_(bucket|sum|count)$/, '');
      const ok = exposed.has(n) || (base !== n && ['histogram', 'summary'].includes(exposed.get(base) ?? ''));
      assert.ok(ok, `${where}: ${n} is not exposed by zk2etcd (${expr})`);
      if (n.endsWith('_bucket')) assert.equal(exposed.get(base), 'histogram', `${where}: ${n}`);
    }
    if (expr.includes('histogram_quantile')) assert.match(expr, /_bucket\{/, `${where}: histogram_quantile over *_bucket`);
  };

  test('the metric-name parser finds metrics, not functions, labels or keywords', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{x="y"}[5m]))) > 1 or absent(b{c=""}) unless sum(c_total) == 0 and time() - d > 1e3'),
      ['a_bucket', 'b', 'c_total', 'd'],
    );
    assert.deepEqual(metricNames('label_values(zk2etcd_leader{namespace="$namespace"}, job)'), ['zk2etcd_leader']);
  });

  test('every metric in the Grafana dashboard exists', () => {
    const exprs = dashboardExprs(JSON.parse(readFileSync(DASHBOARD, 'utf8')));
    assert.ok(exprs.length >= 20);
    for (const e of exprs) check('dashboard', e);
    const all = exprs.join('\n');
    // The Go tool's panels, and ours.
    for (const m of [
      'zk2etcd_etcd_op_total', 'zk2etcd_zk_op_total', 'zk2etcd_fixed_total', 'zk2etcd_applied_total', 'zk2etcd_differences', 'zk2etcd_sync_lag_seconds_bucket',
      'zk2etcd_leader', 'zk2etcd_last_success_timestamp_seconds', 'zk2etcd_conflicts_total', 'zk2etcd_ownership_errors_total',
    ]) assert.ok(all.includes(m), `dashboard shows ${m}`);
    for (const h of ['zk2etcd_etcd_op_duration_seconds_bucket', 'zk2etcd_zk_op_duration_seconds_bucket']) {
      for (const q of ['0.95', '0.99']) assert.ok(exprs.some((e) => e.includes(`histogram_quantile(${q}`) && e.includes(h)), `p${q.slice(2)} of ${h}`);
    }
    assert.ok(exprs.some((e) => /status!="success"/.test(e) && e.includes('zk2etcd_etcd_op_total')), 'etcd failures');
  });

  test('every metric in the alert rules exists; each alert has a severity, a summary and a runbook', () => {
    const docs = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const anchors = new Set([...docs.matchAll(/^#+ (.+)$/gm)].map((m) => (m[1] as string).trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    const all = rules();
    for (const r of all) {
      check(`alert ${r.alert}`, r.expr);
      assert.match(r.labels?.severity ?? '', /^(critical|warning)$/, `${r.alert}: severity`);
      assert.ok(r.annotations?.summary, `${r.alert}: summary`);
      const anchor = /^docs\/operations\.md#(.+)$/.exec(r.annotations?.runbook_url ?? '')?.[1];
      assert.equal(anchor, r.alert.toLowerCase(), `${r.alert}: runbook_url`);
      assert.ok(anchors.has(anchor as string), `${r.alert}: docs/operations.md has no "${r.alert}" heading`);
    }
    const expr = (m: string) => all.filter((r) => r.expr.includes(m)).map((r) => r.expr.replace(/\s+/g, ' '));
    assert.ok(expr('zk2etcd_last_success_timestamp_seconds').some((e) => /time\(\) - .* > 1800/.test(e)), 'no reconcile success for 30 min');
    assert.ok(expr('zk2etcd_differences').length > 0, 'differences persisting');
    assert.ok(expr('zk2etcd_leader').some((e) => /sum by \([^)]*\) \(zk2etcd_leader\{[^}]*\}\) == 0/.test(e)), 'no leader');
    assert.ok(expr('zk2etcd_sync_lag_seconds_bucket').length > 0, 'sync lag');
    assert.ok(expr('zk2etcd_ownership_errors_total').some((e) => /increase\(|rate\(/.test(e)), 'ownership store errors increasing');
  });

  // promtool comes from Debian's prometheus package, which scripts/services.sh installs.
  test('promtool accepts the rules and their unit tests pass', async () => {
    const run = promisify(execFile);
    await run('promtool', ['check', 'rules', ALERTS]);
    await run('promtool', ['test', 'rules', join(ROOT, 'deploy/prometheus/alerts.test.yaml')]);
  });
});
