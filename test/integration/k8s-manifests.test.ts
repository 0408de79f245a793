import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../common/config/load.js';
import { FLAGS } from '../../common/config/flags.js';
import type { Command, Config } from '../../common/config/types.js';
import { generatePki } from '../helpers/tls.js';

/**
 * Issue #5: every kustomization under k8s/ renders with `kubectl kustomize`, and the rendered objects
 * keep the deployment invariants; the Dockerfile is checked statically (no Docker engine here).
 */

type Obj = Record<string, any>;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const SECRET_FLAGS = FLAGS.filter((f) => f.secret).map((f) => f.name);
const SECRETISH = /PASSWORD|TOKEN|SECRET|AUTH|CREDENTIAL|_KEY$/i;

function kustomizations(dir: string): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name === 'kustomization.yaml') ? [dir] : [];
  return [...here, ...entries.filter((e) => e.isDirectory()).flatMap((e) => kustomizations(join(dir, e.name)))];
}

async function render(dir: string): Promise<Obj[]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(e.code === 'ENOENT' ? 'kubectl is not installed (needed to render k8s/)' : `kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
  return parseAllDocuments(stdout).map((doc) => {
    assert.deepEqual(doc.errors, [], `YAML from ${dir}`);
    return doc.toJS() as Obj;
  });
}

/** The pod spec of a Deployment, Job or CronJob. */
function podSpec(o: Obj): Obj | undefined {
  if (o.kind === 'Deployment' || o.kind === 'Job') return o.spec.template.spec;
  if (o.kind === 'CronJob') return o.spec.jobTemplate.spec.template.spec;
  return undefined;
}
function podLabels(o: Obj): Obj {
  return (o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template).metadata.labels;
}
const selects = (selector: Obj, labels: Obj) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const containersOf = (spec: Obj): Obj[] => [...(spec.initContainers ?? []), ...spec.containers];

const pki = generatePki('k8s-manifests');
after(() => pki.cleanup());
const PEM: Record<string, Buffer> = { 'ca.crt': pki.read(pki.caCert), 'tls.crt': pki.read(pki.clientCert), 'tls.key': pki.read(pki.clientKey) };

/** Runs the real config loader on a container's args and env, as the image's entry point would. */
function containerConfig(c: Obj, spec: Obj, configMaps: Map<string, Obj>): Config {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const cm = configMaps.get(from.configMapRef?.name);
    assert.ok(cm, `ConfigMap ${from.configMapRef?.name} is not rendered anywhere under k8s/`);
    Object.assign(env, cm.data);
  }
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = String(e.value);
  // Files exist only where a Secret volume is mounted (and, with items, only those keys).
  const secretFiles = (c.volumeMounts ?? []).flatMap((m: Obj) => {
    const vol = (spec.volumes as Obj[]).find((v) => v.name === m.name);
    if (!vol?.secret) return [];
    const items: Obj[] | undefined = vol.secret.items;
    return items ? items.map((i) => `${m.mountPath}/${i.path}`) : [`${m.mountPath}/`];
  });
  const readFile = (path: string): Buffer => {
    // A kubernetes.io/tls Secret's keys hold PEM files, which the loader checks.
    if (secretFiles.some((f: string) => (f.endsWith('/') ? path.startsWith(f) : path === f))) return PEM[path.slice(path.lastIndexOf('/') + 1)] ?? Buffer.from('from-a-mounted-secret');
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  };
  const [command, ...argv] = c.args as string[];
  return loadConfig({ command: command as Command, argv, env, readFile });
}

describe('k8s/ kustomizations', () => {
  const dirs = kustomizations(join(ROOT, 'k8s')).map((d) => relative(ROOT, d));
  const rendered = new Map<string, Obj[]>();
  const configMaps = new Map<string, Obj>();
  const all = () => [...rendered.entries()].flatMap(([dir, objs]) => objs.map((o) => ({ dir, o })));
  const pods = () => all().flatMap(({ dir, o }) => (podSpec(o) ? [{ dir, o, spec: podSpec(o) as Obj }] : []));

  before(async () => {
    for (const dir of dirs) rendered.set(dir, await render(join(ROOT, dir)));
    for (const { o } of all()) if (o.kind === 'ConfigMap') configMaps.set(o.metadata.name, o);
  });

  test('the base, its parts, the sharded overlay and the fix and diff Jobs render, in a restricted namespace', () => {
    for (const d of ['k8s/base', 'k8s/base/common', 'k8s/overlays/sharded', 'k8s/jobs/fix', 'k8s/jobs/diff']) assert.ok(rendered.has(d), `${d} has no kustomization.yaml`);
    for (const [d, objs] of rendered) {
      for (const o of objs) {
        if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'zk2etcd', `${d}: ${o.kind}/${o.metadata.name} namespace`);
        else assert.equal(o.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted', `${d}: Namespace enforces the restricted profile`);
      }
    }
  });

  test('every container image is pinned to the package version', () => {
    for (const { dir, o, spec } of pods()) {
      for (const c of containersOf(spec)) {
        const tag = /^[^@]+:([\w][\w.-]*)(@sha256:[0-9a-f]{64})?$/.exec(c.image)?.[1];
        assert.equal(tag, VERSION, `${dir}: ${o.kind}/${o.metadata.name} image ${c.image} should be tagged ${VERSION}`);
      }
    }
  });

  test('every pod meets the restricted profile, on the pod and on each container', () => {
    assert.ok(pods().length >= 6);
    for (const { dir, o, spec } of pods()) {
      const where = `${dir}: ${o.kind}/${o.metadata.name}`;
      const psc = spec.securityContext ?? {};
      assert.equal(psc.runAsNonRoot, true, `${where}: pod runAsNonRoot`);
      assert.ok(Number.isInteger(psc.runAsUser) && psc.runAsUser > 0, `${where}: pod runAsUser numeric, not root`);
      assert.equal(psc.seccompProfile?.type, 'RuntimeDefault', `${where}: pod seccompProfile`);
      assert.ok(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC, `${where}: no host namespaces`);
      for (const c of containersOf(spec)) {
        const sc = c.securityContext ?? {};
        assert.equal(sc.runAsNonRoot, true, `${where}/${c.name}: runAsNonRoot`);
        assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `${where}/${c.name}: runAsUser`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${where}/${c.name}: readOnlyRootFilesystem`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${where}/${c.name}: allowPrivilegeEscalation`);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}/${c.name}: capabilities drop ALL`);
        assert.equal(sc.capabilities?.add, undefined, `${where}/${c.name}: no added capabilities`);
        assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', `${where}/${c.name}: seccompProfile`);
        assert.notEqual(sc.privileged, true, `${where}/${c.name}: not privileged`);
      }
    }
  });

  test('watchers: 2 replicas, Kubernetes leader election, probes, resources, PDB, Service, ServiceMonitor', () => {
    const deployments = all().filter(({ o }) => o.kind === 'Deployment');
    assert.ok(deployments.length >= 3);
    for (const { dir, o } of deployments) {
      const objs = rendered.get(dir) as Obj[];
      const where = `${dir}: Deployment/${o.metadata.name}`;
      const spec = o.spec.template.spec as Obj;
      const c = spec.containers[0] as Obj;
      assert.equal(o.spec.replicas, 2, `${where}: replicas`);
      assert.ok(selects(o.spec.selector.matchLabels, podLabels(o)), `${where}: selector matches its pods`);
      const config = containerConfig(c, spec, configMaps);
      assert.equal(config.command, 'sync', `${where}: runs sync`);
      assert.equal(config.leaderElect, 'kubernetes', `${where}: --leader-elect`);
      assert.equal(config.httpAddr.port, 8080, `${where}: --http-addr`);
      const port = (p: unknown) => (typeof p === 'number' ? p : (c.ports as Obj[]).find((x) => x.name === p)?.containerPort);
      assert.deepEqual([c.livenessProbe?.httpGet?.path, port(c.livenessProbe?.httpGet?.port)], ['/healthz', 8080], `${where}: liveness`);
      assert.deepEqual([c.readinessProbe?.httpGet?.path, port(c.readinessProbe?.httpGet?.port)], ['/readyz', 8080], `${where}: readiness`);
      assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, `${where}: resources`);
      assert.ok(spec.terminationGracePeriodSeconds > 20, `${where}: grace period covers the 20 s shutdown`);

      const labels = podLabels(o);
      const pdbs = objs.filter((x) => x.kind === 'PodDisruptionBudget' && selects(x.spec.selector.matchLabels, labels));
      assert.equal(pdbs.length, 1, `${where}: one PodDisruptionBudget`);
      const services = objs.filter((x) => x.kind === 'Service' && selects(x.spec.selector, labels));
      assert.equal(services.length, 1, `${where}: one Service`);
      const svc = services[0] as Obj;
      const svcPort = (svc.spec.ports as Obj[]).find((p) => port(p.targetPort) === 8080);
      assert.ok(svcPort?.name, `${where}: the Service exposes port 8080 by name`);
      const monitors = objs.filter((x) => x.kind === 'ServiceMonitor' && selects(x.spec.selector.matchLabels, svc.metadata.labels));
      assert.equal(monitors.length, 1, `${where}: one ServiceMonitor`);
      const sm = monitors[0] as Obj;
      assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
      assert.deepEqual([sm.spec.endpoints[0].port, sm.spec.endpoints[0].path], [svcPort.name, '/metrics'], `${where}: ServiceMonitor endpoint`);
      // Each ServiceMonitor and PDB selects one watcher only (the shards' must not overlap).
      for (const x of [...pdbs, ...monitors]) {
        const sel = x.kind === 'ServiceMonitor' ? (s: Obj) => selects(x.spec.selector.matchLabels, s.metadata.labels) : (s: Obj) => selects(x.spec.selector.matchLabels, podLabels(s));
        const pool = x.kind === 'ServiceMonitor' ? objs.filter((s) => s.kind === 'Service') : objs.filter((s) => s.kind === 'Deployment');
        assert.equal(pool.filter(sel).length, 1, `${dir}: ${x.kind}/${x.metadata.name} selects one`);
      }
    }
  });

  test('RBAC: exactly get, create and update on leases, for the watchers\' own leases', () => {
    assert.ok(all().some(({ o }) => o.kind === 'Role'));
    for (const { dir, o } of all()) {
      assert.ok(!['ClusterRole', 'ClusterRoleBinding'].includes(o.kind), `${dir}: no cluster-wide RBAC`);
      if (o.kind !== 'Role') continue;
      const verbs = new Set<string>();
      for (const rule of o.rules as Obj[]) {
        assert.deepEqual([rule.apiGroups, rule.resources], [['coordination.k8s.io'], ['leases']], `${dir}: Role rules cover leases only`);
        for (const v of rule.verbs) verbs.add(v);
        if (rule.verbs.includes('create')) assert.equal(rule.resourceNames, undefined, `${dir}: create cannot be limited by name`);
      }
      assert.deepEqual([...verbs].sort(), ['create', 'get', 'update'], `${dir}: Role verbs`);
      const objs = rendered.get(dir) as Obj[];
      const named = (o.rules as Obj[]).filter((r) => r.verbs.includes('get'));
      for (const d of objs.filter((x) => x.kind === 'Deployment')) {
        const lease = containerConfig(d.spec.template.spec.containers[0], d.spec.template.spec, configMaps).leaseName;
        assert.ok(named.every((r) => !r.resourceNames || r.resourceNames.includes(lease)), `${dir}: the Role allows the lease ${lease}`);
      }
      const binding = objs.find((x) => x.kind === 'RoleBinding' && x.roleRef.name === o.metadata.name) as Obj;
      assert.deepEqual(binding.subjects.map((s: Obj) => [s.kind, s.name, s.namespace]), [['ServiceAccount', 'zk2etcd', o.metadata.namespace]]);
      for (const d of objs.filter((x) => x.kind === 'Deployment')) assert.equal(d.spec.template.spec.serviceAccountName, 'zk2etcd');
    }
  });

  test('CronJob: reconcile with Forbid, deadlines, retries, TTL, no token, metrics to the Pushgateway', () => {
    const cronJobs = all().filter(({ o }) => o.kind === 'CronJob');
    assert.ok(cronJobs.length >= 3);
    for (const { dir, o } of cronJobs) {
      const where = `${dir}: CronJob/${o.metadata.name}`;
      const job = o.spec.jobTemplate.spec as Obj;
      const spec = podSpec(o) as Obj;
      assert.equal(o.spec.concurrencyPolicy, 'Forbid', where);
      assert.ok(o.spec.startingDeadlineSeconds > 0, `${where}: startingDeadlineSeconds`);
      assert.equal(o.spec.schedule.split(/\s+/).length, 5, `${where}: schedule`);
      assert.ok(Number.isInteger(job.backoffLimit), `${where}: backoffLimit`);
      assert.ok(job.activeDeadlineSeconds > 0, `${where}: activeDeadlineSeconds`);
      // A run still going when the next is due makes Forbid skip that one: the deadline ends it first.
      const every = /^\*\/(\d+) \* \* \* \*$/.exec(o.spec.schedule)?.[1];
      assert.ok(every !== undefined, `${where}: the schedule "${o.spec.schedule}" is */N minutes (this check reads N)`);
      assert.ok(job.activeDeadlineSeconds < Number(every) * 60, `${where}: activeDeadlineSeconds ${job.activeDeadlineSeconds} is not below the ${every}-minute schedule`);
      assert.ok(job.ttlSecondsAfterFinished > 0, `${where}: ttlSecondsAfterFinished`);
      assert.equal(spec.automountServiceAccountToken, false, `${where}: automountServiceAccountToken`);
      assert.equal(spec.restartPolicy, 'Never', where);
      const config = containerConfig(spec.containers[0], spec, configMaps);
      assert.equal(config.command, 'reconcile', where);
      assert.match(config.pushgatewayUrl ?? '', /^https?:\/\//, `${where}: ZK2ETCD_PUSHGATEWAY_URL`);
    }
  });

  test('one-shot Jobs: a manual fix and a diff variant, no token, bounded', () => {
    const jobs = all().filter(({ o }) => o.kind === 'Job');
    const commands = new Set<string>();
    for (const { dir, o } of jobs) {
      const where = `${dir}: Job/${o.metadata.name}`;
      const spec = o.spec.template.spec as Obj;
      assert.equal(spec.automountServiceAccountToken, false, where);
      assert.ok(Number.isInteger(o.spec.backoffLimit) && o.spec.activeDeadlineSeconds > 0 && o.spec.ttlSecondsAfterFinished > 0, `${where}: bounded`);
      commands.add(containerConfig(spec.containers[0], spec, configMaps).command);
    }
    assert.deepEqual([...commands].sort(), ['diff', 'fix']);
    for (const { o } of all()) if (o.kind === 'ServiceAccount' && o.metadata.name === 'zk2etcd-oneshot') assert.equal(o.automountServiceAccountToken, false);
  });

  test('secrets are never in the repo, in args or in env values: only mounted files', () => {
    for (const { dir, o } of all()) {
      assert.notEqual(o.kind, 'Secret', `${dir}: Secrets are referenced by name, never committed`);
      const text = JSON.stringify(o);
      assert.doesNotMatch(text, /-----BEGIN|:\/\/[^/"\s:@]+:[^/"\s@]+@/, `${dir}: ${o.kind}/${o.metadata.name} holds key material or URL credentials`);
      if (o.kind === 'ConfigMap') {
        for (const [k, v] of Object.entries(o.data as Obj)) {
          if (SECRETISH.test(k.replace(/_FILE$/, ''))) assert.match(String(v), /^\//, `${dir}: ConfigMap ${k} must be a file path`);
          if (SECRETISH.test(k) && !/(_FILE|_ETCD_KEY)$/.test(k)) assert.fail(`${dir}: ConfigMap holds ${k}; use ${k}_FILE`);
        }
      }
    }
    for (const { dir, o, spec } of pods()) {
      for (const c of containersOf(spec)) {
        const where = `${dir}: ${o.kind}/${o.metadata.name}/${c.name}`;
        for (const arg of [...(c.command ?? []), ...(c.args ?? [])] as string[]) {
          const flag = /^--?([\w-]+)/.exec(arg)?.[1];
          assert.ok(!flag || !SECRET_FLAGS.includes(flag), `${where}: ${flag} in args (use --${flag}-file)`);
          if (/password|token|secret|auth/i.test(arg)) assert.match(arg, /^--[\w-]+-file=\//, `${where}: argument ${arg}`);
        }
        for (const e of c.env ?? []) {
          assert.equal(e.valueFrom?.secretKeyRef, undefined, `${where}: env ${e.name} from a Secret (mount it as a file)`);
          if (SECRETISH.test(e.name)) assert.ok(e.name.endsWith('_FILE') && String(e.value).startsWith('/'), `${where}: env ${e.name}`);
        }
        for (const f of c.envFrom ?? []) assert.equal(f.secretRef, undefined, `${where}: envFrom a Secret`);
        // The loader reads every secret and TLS file from a mounted Secret, or fails.
        const config = containerConfig(c, spec, configMaps);
        assert.ok(config.redis.password && config.etcd.tls?.ca && config.etcd.tls.cert && config.etcd.tls.key, `${where}: Redis password and etcd TLS from files`);
      }
    }
  });

  test('sharded overlay: two watchers with different leases, instances and prefixes, one CronJob each', () => {
    const objs = rendered.get('k8s/overlays/sharded') as Obj[];
    const shard = (o: Obj) => {
      const spec = podSpec(o) as Obj;
      const c = containerConfig(spec.containers[0], spec, configMaps);
      return { lease: c.leaseName, instance: c.instance, prefixes: c.zookeeper.prefixes.join(',') };
    };
    const watchers = objs.filter((o) => o.kind === 'Deployment').map(shard);
    assert.equal(watchers.length, 2);
    const [a, b] = watchers as [ReturnType<typeof shard>, ReturnType<typeof shard>];
    assert.notEqual(a.lease, b.lease, '--lease-name');
    assert.notEqual(a.instance, b.instance, '--instance');
    assert.deepEqual([a.prefixes, b.prefixes].sort(), ['/dubbo', '/services']);
    const reconciles = objs.filter((o) => o.kind === 'CronJob').map((o) => {
      const { instance, prefixes } = shard(o);
      return { instance, prefixes };
    });
    assert.deepEqual(
      reconciles.sort((x, y) => x.prefixes.localeCompare(y.prefixes)),
      watchers.map(({ instance, prefixes }) => ({ instance, prefixes })).sort((x, y) => x.prefixes.localeCompare(y.prefixes)),
    );
  });
});

describe('Dockerfile (checked statically: no Docker engine on these machines)', () => {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: { from: string; lines: string[] }[] = [];
  for (const l of lines) {
    if (/^FROM\s/i.test(l)) stages.push({ from: l, lines: [] });
    else stages.at(-1)?.lines.push(l);
  }

  test('multi-stage: node:20-bookworm builds (npm ci, build, prune), node:20-bookworm-slim runs', () => {
    assert.equal(stages.length, 2);
    const [build, run] = stages as [(typeof stages)[0], (typeof stages)[0]];
    assert.match(build.from, /^FROM node:20-bookworm AS build$/i);
    const buildRuns = build.lines.filter((l) => l.startsWith('RUN')).join('\n');
    for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) assert.ok(buildRuns.includes(step), step);
    assert.match(run.from, /^FROM node:20-bookworm-slim$/i);
    for (const what of ['package.json', 'node_modules', 'dist']) {
      assert.ok(run.lines.some((l) => new RegExp(`^COPY --from=build /app/${what} `).test(l)), `runtime copies ${what}`);
    }
    // The code cache the build writes for the CLI bundle holds only at the path it was made at.
    const workdir = (stage: (typeof stages)[0]) => stage.lines.filter((l) => l.startsWith('WORKDIR')).at(-1);
    assert.equal(workdir(build), 'WORKDIR /app');
    assert.equal(workdir(run), 'WORKDIR /app');
    assert.equal(run.lines.filter((l) => l.startsWith('ENTRYPOINT')).at(-1), 'ENTRYPOINT ["node", "/app/dist/cli/zk2etcd.js"]');
  });

  test('runs as the numeric non-root user the manifests require', () => {
    const user = (stages.at(-1)?.lines ?? []).filter((l) => l.startsWith('USER')).at(-1);
    const m = /^USER (\d+)(?::(\d+))?$/.exec(user ?? '');
    assert.ok(m, `numeric USER, got ${user}`);
    assert.notEqual(Number(m[1]), 0);
    const deployment = readFileSync(join(ROOT, 'k8s/base/watcher/deployment.yaml'), 'utf8');
    assert.ok(deployment.includes(`runAsUser: ${m[1]}`), 'the image user matches runAsUser');
  });

  test('no secrets in the image or its build context', () => {
    for (const l of lines) {
      assert.doesNotMatch(l, /^(ENV|ARG|LABEL)\s.*(PASSWORD|TOKEN|SECRET|CREDENTIAL|_KEY\b)/i, l);
      assert.doesNotMatch(l, /^ADD\s+https?:/i, `no remote ADD: ${l}`);
      assert.doesNotMatch(l, /^COPY\s+(\.|\.\/)\s/, `no whole-context COPY: ${l}`);
      assert.doesNotMatch(l, /^(COPY|ADD)\s.*(\.npmrc|\.env\b|\.pem\b)/, l);
    }
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    assert.equal(ignore.find((l) => l && !l.startsWith('#')), '*', '.dockerignore starts by excluding everything');
    for (const allowed of ignore.filter((l) => l.startsWith('!'))) {
      assert.ok(!/^!(\.git|node_modules|dist|test|k8s|deploy|\.env)/.test(allowed), `.dockerignore lets in ${allowed}`);
    }
  });

  test('the build stage copies every script the build runs (package.json\'s build, and the scripts it starts)', () => {
    const copied = new Set((stages[0]?.lines ?? []).filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1)));
    const scriptsIn = (text: string) => [...text.matchAll(/scripts\/[\w-]+\.mjs/g)].map((m) => m[0]);
    const build = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.build ?? '';
    const seen = new Set<string>();
    const pending = scriptsIn(build);
    assert.ok(pending.length > 0, build);
    while (pending.length > 0) {
      const script = pending.pop() as string;
      if (seen.has(script)) continue;
      seen.add(script);
      assert.ok(copied.has(script), `the build runs ${script}: the build stage must COPY it`);
      pending.push(...scriptsIn(readFileSync(join(ROOT, script), 'utf8')));
    }
    assert.ok(seen.has('scripts/code-cache.mjs'), [...seen].join(', '));
  });

  test('every file the build stage copies from the context is let in by .dockerignore', () => {
    const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const admitted = (src: string) => allowed.some((a) => a === src || (a.endsWith('/') && (src === a.slice(0, -1) || src.startsWith(a))));
    const copies = (stages[0]?.lines ?? []).filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l));
    assert.ok(copies.length > 0);
    for (const l of copies) {
      const sources = l.split(/\s+/).slice(1, -1);
      for (const src of sources) {
        assert.ok(admitted(src.replace(/^\.\//, '')), `${src} (${l}) is not in the build context: add !${src} to .dockerignore`);
        assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
      }
    }
  });
});
