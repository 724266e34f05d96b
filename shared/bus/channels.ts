// Redis channel names (README: PUBSUB_MODE): one global channel, or one channel per room.
export type PubsubMode = 'global' | 'perconv';

export const GLOBAL_CHANNEL = 'chat:message';
const ROOM_CHANNEL_PREFIX = 'conv:';

export function roomChannel(roomId: string): string {
  return ROOM_CHANNEL_PREFIX + roomId;
}

export function channelFor(mode: PubsubMode, roomId: string): string {
  return mode === 'global' ? GLOBAL_CHANNEL : roomChannel(roomId);
}
