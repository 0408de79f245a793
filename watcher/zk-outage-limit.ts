/**
 * How long a leader may go without a ZooKeeper connection. A leader cut off from ZooKeeper syncs nothing,
 * while a standby may reach it; past the limit `onExpire` runs and the watcher steps down. `down()` starts
 * the clock (unless it runs already), `up()` stops it.
 */
export class ZkOutageLimit {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** Read at each outage's start: it may change between sessions. */
    private readonly limitMs: () => number,
    private readonly onExpire: (downForMs: number) => void,
  ) {}

  down(): void {
    if (this.timer) return;
    const since = Date.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onExpire(Date.now() - since);
    }, this.limitMs());
  }

  up(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
