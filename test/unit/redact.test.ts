import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import winston from 'winston';
import { describe, expect, it } from 'vitest';
import { redact, redactString } from '../../src/util/redact.ts';
import { createLogger, rootLogger } from '../../src/util/logger.ts';

const accountKey = randomBytes(64).toString('base64'); // 88 chars, like a real storage key
const sig = 'sp7%2BK3n9Yq0vUQ2%2FmZtHc8y4xq1oYw5Rk%3D';
const sasUrl = `https://cacheeus01.blob.core.windows.net/segments/vm1/000001?sv=2024-08-04&sr=b&sp=r&se=2026-11-26T00%3A00%3A00Z&sig=${sig}`;
const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJlLWJ5dGVz';
const connectionString = `DefaultEndpointsProtocol=https;AccountName=cacheeus01;AccountKey=${accountKey};EndpointSuffix=core.windows.net`;

describe('redactString', () => {
  it('removes a SAS signature but keeps the rest of the URL', () => {
    const out = redactString(`copying from ${sasUrl} now`);
    expect(out).not.toContain(sig);
    expect(out).toContain('sig=[REDACTED]');
    expect(out).toContain('https://cacheeus01.blob.core.windows.net/segments/vm1/000001?sv=2024-08-04');
  });

  it('removes account keys from connection strings', () => {
    const out = redactString(connectionString);
    expect(out).not.toContain(accountKey);
    expect(out).toContain('AccountName=cacheeus01');
  });

  it('removes bearer tokens and bare JWTs', () => {
    expect(redactString(`Authorization: Bearer ${jwt}`)).toBe('Authorization: Bearer [REDACTED]');
    expect(redactString(`token ${jwt} expired`)).toBe('token [REDACTED] expired');
  });

  it('removes a bare account key', () => {
    expect(redactString(`key is ${accountKey}.`)).toBe('key is [REDACTED].');
  });

  it('leaves ordinary text alone', () => {
    const text = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1 signature ok';
    expect(redactString(text)).toBe(text);
  });
});

describe('redact (objects)', () => {
  it('redacts fields named like secrets and strings nested anywhere, through cycles', () => {
    const input: Record<string, unknown> = {
      accessSAS: sasUrl,
      headers: { authorization: `Bearer ${jwt}`, 'x-ms-version': '2024-08-04' },
      nested: [{ url: sasUrl }, { connectionString }],
      clientSecret: 'Q~8Q8~abcdefghijklmnopqrstuvwxyz0123456',
    };
    input.self = input;
    const out = redact(input);
    const text = JSON.stringify({ ...out, self: undefined });
    for (const secret of [sig, jwt, accountKey, 'Q~8Q8~abcdefghijklmnopqrstuvwxyz0123456']) expect(text).not.toContain(secret);
    expect((out.headers as Record<string, string>)['x-ms-version']).toBe('2024-08-04');
    expect(out.self).toBe(out);
  });

  it('redacts error messages', () => {
    const out = redact({ err: new Error(`GET ${sasUrl} failed`) });
    expect(JSON.stringify(out)).not.toContain(sig);
  });
});

describe('logger', () => {
  it('never writes a secret, in the message or in fields', async () => {
    const sink = new PassThrough();
    const chunks: string[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c.toString()));
    const transport = new winston.transports.Stream({ stream: sink });
    rootLogger.add(transport);
    try {
      const log = createLogger('test');
      log.info(`granted ${sasUrl}`, { connectionString, token: jwt, error: new Error(`failed with key ${accountKey}`) });
      log.warn('retrying', { headers: { Authorization: `SharedKey cacheeus01:${accountKey}` } });
    } finally {
      rootLogger.remove(transport);
    }
    const written = chunks.join('');
    expect(written).toContain('granted https://cacheeus01.blob.core.windows.net');
    expect(written).toContain('"component":"test"');
    for (const secret of [sig, jwt, accountKey]) expect(written).not.toContain(secret);
  });
});
