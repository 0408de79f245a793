import { createRequire } from 'node:module';
import type { Document, Node as YamlNode } from 'yaml';
import { FLAG_BY_NAME } from './flags.js';

// Loaded only when a config file is given: every one-shot run pays for what it imports.
const requireLazily = createRequire(import.meta.url);
const yaml = (): typeof import('yaml') => requireLazily('yaml') as typeof import('yaml');

/**
 * A plain scalar's text as written: YAML's core schema would turn `instance: 07001234` into 7001234 and a
 * token `0x1F` into 31, values that then differ from the same text given as a flag or in the environment.
 * A null (`~`, `null`, nothing) is the empty string, as before; quoted scalars are their string.
 */
function scalarText(node: YamlNode | null | undefined): string | null {
  const { isScalar } = yaml();
  if (node === null || node === undefined) return '';
  if (!isScalar(node)) return null;
  if (node.value === null) return '';
  return node.type === 'PLAIN' && typeof node.source === 'string' ? node.source : String(node.value);
}

/** An alias (`*anchor`) as the node it names; any other node as is. */
function deref(node: YamlNode | null | undefined, doc: Document.Parsed): YamlNode | null {
  if (node === null || node === undefined) return null;
  return yaml().isAlias(node) ? ((node.resolve(doc) as YamlNode | undefined) ?? null) : node;
}

/** The config file's values by flag name, as text (`--config`: YAML or JSON, keys are flag names, lists allowed). */
export function readConfigFile(path: string | undefined, readFile: (p: string) => Buffer, problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (!path) return out;
  const { parseDocument, isMap, isSeq, isScalar } = yaml();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(readFile(path).toString('utf8'));
  } catch (err) {
    problems.push(`--config: cannot read ${path}: ${(err as Error).message.split('\n')[0]}`);
    return out;
  }
  const [error] = doc.errors;
  if (error) {
    problems.push(`--config: cannot read ${path}: ${error.message.split('\n')[0]}`);
    return out;
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return out;
  if (!isMap(root)) {
    problems.push(`--config: ${path} must hold a mapping of flag names to values`);
    return out;
  }
  for (const pair of root.items) {
    const key = scalarText(deref(pair.key as YamlNode, doc)) ?? String(pair.key);
    const def = FLAG_BY_NAME.get(key);
    const value = deref(pair.value as YamlNode | null, doc);
    if (!def || def.notInFile) {
      problems.push(`--config: ${path}: unknown key "${key}" (keys are flag names such as zookeeper-servers)`);
    } else if (isSeq(value)) {
      const items = value.items.map((item) => scalarText(deref(item as YamlNode, doc)));
      if (items.some((t) => t === null)) problems.push(`--config: ${path}: key "${key}" must be a scalar or a list of scalars`);
      else out.set(key, items.join(','));
    } else {
      const text = scalarText(value);
      if (text === null) problems.push(`--config: ${path}: key "${key}" must be a scalar or a list`);
      else out.set(key, text);
    }
  }
  return out;
}
