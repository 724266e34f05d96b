// The OpenAPI document (GET /v1/openapi.json) and the API agree: the same operations, and
// each operation answers, for a good request and for a request without credentials, with a
// status the document lists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyRoutes } from '../gateway/api/history-api';
import { messageRoutes } from '../gateway/api/messages-api';
import { documentedOperations, openApiDocument } from '../gateway/api/openapi';
import { roomRoutes } from '../gateway/api/rooms-api';
import { newUser } from './support/fixtures';
import { startSystem, type TestSystem } from './support/system';

const KEY = 'openapi-test-key';

describe('OpenAPI document', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem({ SERVER_API_KEYS: KEY, API_RL_CAPACITY: '100000' }, { worker: false });
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('is served without credentials', async () => {
    const res = await fetch(`http://127.0.0.1:${system.port}/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
  });

  it('lists exactly the operations the gateway routes', () => {
    const routed = [...roomRoutes(null as never, null as never), ...historyRoutes(null as never), ...messageRoutes(null as never, null as never)].map(
      (r) => `${r.method} /${r.segments.join('/')}`,
    );
    expect(
      documentedOperations()
        .map(([method, path]) => `${method} ${path}`)
        .sort(),
    ).toEqual(routed.sort());
  });

  it('has every operation answer a good request, and one without credentials, with a documented status', async () => {
    const alice = newUser();
    const roomRes = await fetch(`http://127.0.0.1:${system.port}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'doc', members: [{ user_id: alice }] }),
    });
    const roomId = ((await roomRes.json()) as { room: { id: string } }).room.id;
    const bodies: Record<string, unknown> = {
      'POST /v1/rooms': { name: 'another' },
      'PATCH /v1/rooms/:room_id': { name: 'renamed' },
      'PUT /v1/rooms/:room_id/members/:user_id': { role: 'manager' },
      'POST /v1/rooms/:room_id/messages': { user_id: alice, content: { text: 'hi' } },
    };
    const queries: Record<string, string> = { 'GET /v1/rooms/:room_id/messages/search': '?q=hi' };
    // Removing the member last, so the other operations find it.
    const operations = [...documentedOperations().filter(([m]) => m !== 'DELETE'), ...documentedOperations().filter(([m]) => m === 'DELETE')];
    for (const [method, pattern] of operations) {
      const path = pattern.replace(':room_id', roomId).replace(':user_id', alice) + (queries[`${method} ${pattern}`] ?? '');
      const docPath = pattern.replace(/:(\w+)/g, '{$1}') as keyof typeof openApiDocument.paths;
      const operation = (
        openApiDocument.paths[docPath] as Record<string, { security: ReadonlyArray<Record<string, unknown>>; responses: Record<string, unknown> }>
      )[method.toLowerCase()]!;
      const documented = Object.keys(operation.responses).map(Number);
      const token = operation.security.some((s) => 'serverKey' in s) ? KEY : alice;
      const body = bodies[`${method} ${pattern}`];
      for (const authorization of [`Bearer ${token}`, null]) {
        const res = await fetch(`http://127.0.0.1:${system.port}${path}`, {
          method,
          headers: { ...(authorization ? { authorization } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        await res.arrayBuffer();
        expect(documented, `${method} ${pattern} ${authorization ? 'with' : 'without'} credentials answered ${res.status}`).toContain(res.status);
        if (authorization) expect(res.status, `${method} ${pattern}`).toBeLessThan(300);
        else expect(res.status).toBe(401);
      }
    }
  });
});
