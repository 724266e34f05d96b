// `npm start`'s server API key when SERVER_API_KEYS is not set: made once, kept in the data
// folder (so curl commands keep working across restarts), readable by its owner only.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEV_KEY_FILE = 'server-api-key';

export function devServerKey(dataDir: string): string {
  const path = join(dataDir, DEV_KEY_FILE);
  try {
    const kept = readFileSync(path, 'utf8').trim();
    if (kept) return kept;
  } catch {
    // not made yet
  }
  const key = `dev_${randomBytes(24).toString('base64url')}`;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  return key;
}
