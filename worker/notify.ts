import type { Sql } from '../shared/db/client';
import type { Logger } from '../shared/logger';

export const OUTBOX_CHANNEL = 'outbox_new';

/**
 * Calls `wake` whenever a transaction that inserted outbox rows commits (the trigger
 * in sql/0001). postgres.js keeps the LISTEN connection and re-listens after a reconnect.
 */
export async function listenForOutbox(sql: Sql, wake: () => void, logger: Logger): Promise<() => Promise<void>> {
  const { unlisten } = await sql.listen(OUTBOX_CHANNEL, wake, () => {
    logger.debug('listening for outbox notifications');
    wake(); // (re)connected: rows may have arrived while we were not listening
  });
  return unlisten;
}
