import { describe, expect, it } from 'vitest';
import { matchRoute, route } from './router';

const routes = [
  route('GET', '/v1/rooms/:room_id', 'get'),
  route('PATCH', '/v1/rooms/:room_id', 'patch'),
  route('PUT', '/v1/rooms/:room_id/members/:user_id', 'put'),
  route('POST', '/v1/rooms', 'create'),
];

describe('API routes', () => {
  it('matches method and path, and hands over the decoded parameters', () => {
    expect(matchRoute(routes, 'GET', '/v1/rooms/abc')).toEqual({ handler: 'get', params: { room_id: 'abc' } });
    expect(matchRoute(routes, 'PUT', '/v1/rooms/r%201/members/u')).toEqual({ handler: 'put', params: { room_id: 'r 1', user_id: 'u' } });
    expect(matchRoute(routes, 'POST', '/v1/rooms/')).toEqual({ handler: 'create', params: {} });
  });

  it('tells a path served for other methods only from one that does not exist', () => {
    expect(matchRoute(routes, 'DELETE', '/v1/rooms/abc')).toBe('method_not_allowed');
    expect(matchRoute(routes, 'GET', '/v1/rooms/abc/nothing')).toBeNull();
    expect(matchRoute(routes, 'GET', '/v1/room/abc')).toBeNull();
  });

  it('does not match a parameter that is not valid percent-encoding', () => {
    expect(matchRoute(routes, 'GET', '/v1/rooms/%E0%A4%A')).toBeNull();
  });
});
