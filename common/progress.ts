import type { Logger } from './logger.js';

export interface Progress {
  update(phase: string, count: number): void;
  done(): void;
}

/** A live line on a TTY (stderr), otherwise a log line at most every `intervalMs`. */
export function createProgress(logger: Logger, tty: boolean, intervalMs = 5000): Progress {
  let last = Date.now();
  let shown = false;
  return {
    update(phase, count) {
      const now = Date.now();
      if (tty) {
        if (now - last < 100) return;
        process.stderr.write(`\r\x1b[K${phase}: ${count.toLocaleString('en-US')}`);
        shown = true;
      } else {
        if (now - last < intervalMs) return;
        logger.info({ phase, count }, 'progress');
      }
      last = now;
    },
    done() {
      if (tty && shown) process.stderr.write('\r\x1b[K');
    },
  };
}

export const noProgress: Progress = { update() {}, done() {} };
