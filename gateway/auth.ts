// Token → user id. Two modes (README: WebSocket protocol): `dev-placeholder` accepts a user UUID as the
// token (development only); otherwise an RS256 JWT verified with the PEM public key.
import { importSPKI, jwtVerify } from 'jose';
import { ConfigError } from '../shared/config';
import { DEV_PLACEHOLDER_KEY } from './config';

export interface Identity {
  userId: string;
  /** When the token stops being valid (its `exp`), in ms since the epoch; null: never (dev tokens, no `exp`). */
  expiresAtMs: number | null;
}

export type Authenticate = (token: string) => Promise<Identity | null>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `publicKey` is JWT_PUBLIC_KEY; the gateway's config refuses dev-placeholder in production (realKeyInProduction). */
export async function createAuthenticator(publicKey: string): Promise<Authenticate> {
  if (publicKey === DEV_PLACEHOLDER_KEY) {
    return async (token) => (UUID.test(token) ? { userId: token.toLowerCase(), expiresAtMs: null } : null);
  }
  let key: Awaited<ReturnType<typeof importSPKI>>;
  try {
    // Keys passed through env files often carry literal "\n" instead of newlines.
    key = await importSPKI(publicKey.replace(/\\n/g, '\n'), 'RS256');
  } catch {
    throw new ConfigError(
      'Invalid configuration:\n  JWT_PUBLIC_KEY must be a PEM-encoded RS256 public key ("-----BEGIN PUBLIC KEY-----...") or dev-placeholder',
    );
  }
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['RS256'] });
      if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) return null;
      return { userId: payload.sub.toLowerCase(), expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : null };
    } catch {
      return null; // expired, not yet valid, bad signature, wrong algorithm, malformed
    }
  };
}
