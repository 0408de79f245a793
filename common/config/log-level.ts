import type { LogLevel } from './types.js';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * A log level as --log-level, POST /log and `zk2etcd log` accept it: any case; the Go zk2etcd 1.x's `panic`
 * and `fatal` (logrus) mean `error`. Null when it is none of these.
 */
export function parseLogLevel(text: string): LogLevel | null {
  const v = text.trim().toLowerCase();
  const level = v === 'panic' || v === 'fatal' ? 'error' : v;
  return (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : null;
}

export const LOG_LEVELS_HELP = `${LOG_LEVELS.join(', ')} (any case; panic and fatal mean error)`;
