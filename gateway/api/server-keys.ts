import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The server API's keys (SERVER_API_KEYS, comma-separated, so that a new key can be added
 * before the old one is removed). A presented key is compared with every configured one in
 * constant time (digests of equal length), so neither its content nor its length leaks.
 */
export function createServerKeys(list: string): { enabled: boolean; check(presented: string): boolean } {
  const digest = (key: string) => createHash('sha256').update(key).digest();
  const keys = list
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map(digest);
  return {
    enabled: keys.length > 0,
    check(presented) {
      const candidate = digest(presented);
      let found = false;
      for (const key of keys) found = timingSafeEqual(key, candidate) || found;
      return found;
    },
  };
}
