// RS256 authentication (README: WebSocket protocol): only valid RS256 tokens signed by the configured key.
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../gateway/auth';
import { loadGatewayConfig } from '../gateway/config';
import { ConfigError } from '../shared/config';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('RS256 JWT auth over a real socket', () => {
  let system: TestSystem;
  let privateKey: PrivateKey;
  let otherPrivateKey: PrivateKey;
  let publicPem: string;
  let client: TestClient;
  const userId = randomUUID();

  const sign = (claims: Record<string, unknown>, key = privateKey) => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject(String(claims.sub ?? userId))
      .setIssuedAt();
    return jwt.setExpirationTime((claims.exp as number | undefined) ?? '5m').sign(key);
  };
  const authWith = (token: string) => client.request({ op: 'auth', token });

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    otherPrivateKey = (await generateKeyPair('RS256')).privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    system = await startSystem({ JWT_PUBLIC_KEY: publicPem }, { worker: false });
  });
  afterAll(async () => {
    await system.stop();
  });

  beforeEach(async () => {
    client?.close();
    client = await TestClient.connect(system.port);
  });

  it('accepts a valid RS256 token and takes the user id from sub', async () => {
    expect(await authWith(await sign({}))).toMatchObject({ op: 'auth', success: true, userId });
  });

  it('refuses an expired token', async () => {
    const token = await sign({ exp: Math.floor(Date.now() / 1000) - 60 });
    expect(await authWith(token)).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses a token that is not valid yet', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(userId).setNotBefore('10m').setExpirationTime('20m').sign(privateKey);
    expect(await authWith(token)).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses a token signed with another key', async () => {
    expect(await authWith(await sign({}, otherPrivateKey))).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses alg: none', async () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: userId, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    expect(await authWith(token)).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses an HS256 token signed with the public key as the secret', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(publicPem));
    expect(await authWith(token)).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses a token whose signature was tampered with', async () => {
    const [header, , signature] = (await sign({})).split('.');
    const forged = `${header}.${b64url({ sub: randomUUID(), exp: Math.floor(Date.now() / 1000) + 300 })}.${signature}`;
    expect(await authWith(forged)).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses a bare user UUID (the development mode is off)', async () => {
    expect(await authWith(userId)).toMatchObject({ success: false, error: 'Unauthorized' });
  });

  it('refuses a token whose sub is not a user UUID', async () => {
    expect(await authWith(await sign({ sub: 'admin' }))).toMatchObject({ success: false, error: 'Unauthorized' });
  });
});

describe('authenticator configuration', () => {
  it('refuses the dev-placeholder mode when NODE_ENV=production', () => {
    const env = { DATABASE_URL: 'postgres://localhost/x', REDIS_URL: 'redis://localhost', NODE_ENV: 'production' };
    expect(() => loadGatewayConfig(env)).toThrow(ConfigError);
    expect(() => loadGatewayConfig(env)).toThrow(/JWT_PUBLIC_KEY must be an RS256 PEM public key when NODE_ENV=production/);
    expect(loadGatewayConfig({ ...env, NODE_ENV: 'development' }).JWT_PUBLIC_KEY).toBe('dev-placeholder');
  });

  it('refuses a key that is not a PEM public key, naming the variable', async () => {
    await expect(createAuthenticator('not a key')).rejects.toThrow(/JWT_PUBLIC_KEY must be a PEM-encoded RS256 public key/);
  });

  it('accepts a PEM whose newlines came through env as \\n', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const pem = (await exportSPKI(publicKey)).replace(/\n/g, '\\n');
    const authenticate = await createAuthenticator(pem);
    const sub = randomUUID();
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(sub).setExpirationTime('1m').sign(privateKey);
    expect(await authenticate(token)).toMatchObject({ userId: sub });
  });

  it('in development accepts a UUID and refuses anything else', async () => {
    const authenticate = await createAuthenticator('dev-placeholder');
    const id = randomUUID();
    expect(await authenticate(id)).toEqual({ userId: id, expiresAtMs: null });
    expect(await authenticate('robert; drop table')).toBeNull();
  });
});
