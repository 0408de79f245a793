interface Waiter {
  readonly exclusive: boolean;
  readonly grant: () => void;
}

/**
 * A shared/exclusive lock over async sections: the change queue's flushes hold it shared (many at once),
 * a full reconcile's writes hold it exclusive. Waiters are served in call order, and a shared request
 * queues behind any exclusive holder or waiter, so a steady stream of flushes cannot starve a reconcile.
 */
export class SharedExclusiveLock {
  private sharedHolders = 0;
  private exclusiveHeld = false;
  private readonly waiters: Waiter[] = [];

  /** Runs `fn` alongside other shared holders, never alongside an exclusive one. */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn);
  }

  /** Runs `fn` alone: after every shared holder in flight has finished. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn);
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.waiters.length > 0 || !this.take(exclusive)) await new Promise<void>((grant) => this.waiters.push({ exclusive, grant }));
    try {
      return await fn();
    } finally {
      if (exclusive) this.exclusiveHeld = false;
      else this.sharedHolders--;
      this.grantWaiters();
    }
  }

  private take(exclusive: boolean): boolean {
    if (this.exclusiveHeld || (exclusive && this.sharedHolders > 0)) return false;
    if (exclusive) this.exclusiveHeld = true;
    else this.sharedHolders++;
    return true;
  }

  /** Grants from the front: a run of shared waiters together, or one exclusive waiter. */
  private grantWaiters(): void {
    for (let next = this.waiters[0]; next !== undefined && this.take(next.exclusive); next = this.waiters[0]) {
      this.waiters.shift();
      next.grant();
    }
  }
}
