// ArcYou realtime's client SDK (README: Client SDK).
export { createChatClient, ChatClient, ChatRoom, type ChatClientOptions, type SendOptions, type SocketConstructor, type SocketLike } from './client';
export { backoffDelay } from './backoff';
export {
  ChatError,
  type ClientEvents,
  type ConnectionState,
  type DeliveredMessage,
  type HistoryPage,
  type Message,
  type MessageSource,
  type MyRoom,
  type RoomEvents,
  type SentMessage,
} from './types';
