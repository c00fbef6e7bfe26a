import { ProviderThrottledError } from "./errors.ts";

/**
 * A token bucket: `burst` calls at once, then `perSecond` a second. EC2 meters RunInstances per
 * account and region (a burst of 5, then 2 a second); one bucket per account and region keeps a
 * process within that, and ProviderThrottledError (retried by the ASL) covers the processes beside
 * it.
 */
export interface TokenBucketOptions {
  readonly burst: number;
  readonly perSecond: number;
  /** The longest a caller waits for a token before giving up with ProviderThrottledError. */
  readonly maxWaitMs: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export class TokenBucket {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #tokens: number;
  #at: number;

  constructor(options: TokenBucketOptions) {
    this.#burst = options.burst;
    this.#perMs = options.perSecond / 1000;
    this.#maxWaitMs = options.maxWaitMs;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#tokens = options.burst;
    this.#at = this.#now();
  }

  /**
   * Takes one token, waiting for it when the bucket is empty. Tokens are reserved at once, so
   * concurrent callers are spaced in the order they called.
   * @throws ProviderThrottledError when the wait would exceed `maxWaitMs`.
   */
  async take(what: string): Promise<void> {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    const wait = this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) / this.#perMs);
    if (wait > this.#maxWaitMs) {
      throw new ProviderThrottledError(
        `${what}: more launches are queued in this process than the account's rate allows within ${this.#maxWaitMs} ms; retry later`,
      );
    }
    // Reserve now (the count may go negative): the next caller waits behind this one.
    this.#tokens -= 1;
    if (wait > 0) await this.#sleep(wait);
  }
}

/** Buckets by key (account and region), made on first use. */
export class TokenBuckets {
  readonly #options: TokenBucketOptions;
  readonly #buckets = new Map<string, TokenBucket>();
  constructor(options: TokenBucketOptions) {
    this.#options = options;
  }
  for(key: string): TokenBucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.#options);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }
}

/** EC2's RunInstances rate per account and region. */
export const RUN_INSTANCES_RATE = { burst: 5, perSecond: 2 } as const;
