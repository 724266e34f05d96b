/**
 * Per-connection token bucket: holds up to `capacity` tokens and refills continuously
 * at `capacity` tokens per `refillMs`. Each op takes one token; no token, no op.
 */
export interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

export function createTokenBucket(capacity: number, now: number): TokenBucket {
  return { tokens: capacity, updatedAt: now };
}

export function takeToken(bucket: TokenBucket, capacity: number, refillMs: number, now: number): boolean {
  const elapsed = Math.max(0, now - bucket.updatedAt);
  bucket.tokens = Math.min(capacity, bucket.tokens + (elapsed * capacity) / refillMs);
  bucket.updatedAt = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}
