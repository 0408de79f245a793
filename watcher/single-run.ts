/**
 * Runs `fn` one at a time. A request while a run is going queues one more run, after it (the latest
 * argument wins), and gets the promise of the run in progress. A run that fails rejects everyone waiting
 * on it and drops the queued request: its requester was told of the failure and decides whether to retry.
 */
export class SingleRun<A> {
  private running: Promise<void> | null = null;
  private queued: { readonly arg: A } | null = null;

  constructor(private readonly fn: (arg: A) => Promise<void>) {}

  /** The run in progress, if any. */
  get current(): Promise<void> | null {
    return this.running;
  }

  request(arg: A): Promise<void> {
    if (this.running) {
      this.queued = { arg };
      return this.running;
    }
    const run = async (): Promise<void> => {
      try {
        await this.fn(arg);
      } catch (err) {
        this.queued = null;
        throw err;
      } finally {
        this.running = null;
      }
      const next = this.queued;
      this.queued = null;
      if (next) await this.request(next.arg);
    };
    this.running = run();
    return this.running;
  }
}
