// Parent ↔ load-client process messages (over the fork IPC channel).
import type { OurClient, System } from './wire';

export interface SocketSpec {
  userId: string;
  roomId: string;
}

/** One source of messages in a phase. */
export interface WriterSpec {
  writer: number;
  roomId: string;
  /** Index (in this client's sockets) of a subscriber of the room: the sender (full path) or the writer's own receipt probe (fan-out-only). */
  socketIndex: number;
  /** full: send over the socket through the whole path; publish: publish the serialised event straight into Redis. */
  via: 'full' | 'publish';
  /** Fixed offered rate (messages/s) or, when null, saturation: keep `window` messages in flight. */
  rate: number | null;
  window: number;
  /** publish: the room's last seq before the phase; the writer's messages take the next ones (as the send path would). */
  seqAfter: number;
}

export interface PhaseSpec {
  id: string;
  /** Epoch ms. Writers start at sendStartMs; measurement covers [measureStartMs, measureEndMs). */
  sendStartMs: number;
  measureStartMs: number;
  measureEndMs: number;
  /** How long after the end to keep listening for late deliveries. */
  drainMs: number;
  writers: WriterSpec[];
}

export type ToClient =
  | {
      type: 'connect';
      system: System;
      ourClient: OurClient;
      port: number;
      redisUrl: string;
      pubsubMode: 'global' | 'perconv';
      sockets: SocketSpec[];
      concurrency: number;
      localAddress?: string;
    }
  | { type: 'phase'; phase: PhaseSpec }
  | { type: 'close' };

export interface PhaseReport {
  type: 'report';
  phaseId: string;
  /** Compressed base64 HdrHistogram of e2e latency in microseconds (messages intended inside the window). */
  histogram: string;
  /** Live events received inside the measurement window (by receipt time). */
  deliveredInWindow: number;
  /** Messages this client's writers meant to send inside the window. */
  sentInWindow: number;
  sentTotal: number;
  /** publish phases: messages published per room (the scenario moves the room's last_seq past them). */
  publishedByRoom: Record<string, number>;
  sendErrors: number;
  closedSockets: number;
}

export type FromClient = { type: 'connected'; count: number; failed: number; firstError: string | null } | PhaseReport | { type: 'error'; message: string };
