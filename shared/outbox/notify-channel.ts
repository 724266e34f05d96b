/** The NOTIFY channel outbox workers LISTEN on: a wake-up, no payload. */
export const OUTBOX_CHANNEL = 'outbox_new';
