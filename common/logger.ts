import pino from 'pino';
import type { LogLevel } from './config/types.js';

export type Logger = pino.Logger;

/** JSON lines. One-shot commands log to stderr so stdout carries only the report. */
export function createLogger(level: LogLevel, destination: 'stdout' | 'stderr' = 'stderr'): Logger {
  return pino(
    {
      level,
      base: { app: 'zk2etcd' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', '*.password', 'token', '*.token', 'auth', '*.auth'], censor: '[redacted]' },
    },
    pino.destination({ fd: destination === 'stdout' ? 1 : 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
