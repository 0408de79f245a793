import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';

// Closes every descriptor above stdio, then execs the command (same pid, so signals reach it).
const CLOSE_INHERITED = 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$@"';

/**
 * `spawn`, except the child inherits no descriptor besides its stdio.
 *
 * Why tests need it: the `zookeeper` addon's C client opens its sockets without close-on-exec, so every
 * child spawned while a test-side ZooKeeper session is open (a private server restarted, a watcher, a CLI
 * run) inherits that session's socket. When the ZooKeeper server then goes away, the client closes its
 * descriptor, but the socket lives on in the child, so its epoll registration in the test process cannot
 * be removed any more (EPOLL_CTL_DEL on a closed descriptor fails) and reports end-of-file forever under
 * that descriptor number. The client's reconnect socket gets the same number; the addon's poll callback
 * keeps receiving the stale event, finds nothing to read and restarts its poll, which drops the new
 * socket's own "connected" event. The client spins, never sends its handshake, times out attempt after
 * attempt and its session expires: the test's ZooKeeper client "cannot reconnect" after a server restart.
 */
export function spawnClean(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn('/bin/bash', ['-c', CLOSE_INHERITED, 'spawn-clean', command, ...args], options);
}
