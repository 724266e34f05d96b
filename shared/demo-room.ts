// The demo room and users that `npm start` seeds and the demo page offers. Fixed ids,
// so a seeded database, the printed instructions and the page always agree. In
// dev-placeholder auth mode a user's id is also their token.

export interface DemoUser {
  id: string;
  name: string;
}

export const DEMO_ROOM = {
  id: 'de000000-0000-4000-8000-000000000001',
  name: 'Demo room',
  description: 'Seeded by npm start for trying the chat',
} as const;

export const DEMO_USERS: readonly DemoUser[] = [
  { id: 'a11ce000-0000-4000-8000-000000000001', name: 'Alice' },
  { id: 'b0b00000-0000-4000-8000-000000000002', name: 'Bob' },
  { id: 'ca201000-0000-4000-8000-000000000003', name: 'Carol' },
];
