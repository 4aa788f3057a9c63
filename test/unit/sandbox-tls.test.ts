import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureSandboxCa, issueServerCert } from '../../sandbox/src/tls.ts';

const dirs: string[] = [];
async function tmpDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-tls-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

describe('sandbox CA', () => {
  it('creates the CA once and reuses it', async () => {
    const dir = await tmpDir();
    const a = await ensureSandboxCa(dir);
    const b = await ensureSandboxCa(dir);
    expect(b.caCertPem).toBe(a.caCertPem);
    expect(await fs.readFile(a.caCertPath, 'utf8')).toBe(a.caCertPem);
    expect(a.caCertPem).not.toContain('PRIVATE KEY');
  });

  it('agrees on one CA when several creators race on a fresh dir', async () => {
    const dir = await tmpDir();
    // Different path spellings bypass the in-process memo, exercising the on-disk rename protocol.
    const cas = await Promise.all([ensureSandboxCa(dir), ensureSandboxCa(`${dir}/`), ensureSandboxCa(`${dir}/.`)]);
    expect(new Set(cas.map((c) => c.caCertPem)).size).toBe(1);
  });

  it('issues server certs a client trusting only the CA accepts for 127.0.0.1 and localhost', async () => {
    const ca = await ensureSandboxCa(await tmpDir());
    const { certPem, keyPem } = issueServerCert(ca, ['127.0.0.1', 'localhost']);
    const server = https.createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const body = await new Promise<string>((resolve, reject) => {
          https
            .get({ host: '127.0.0.1', port, ca: ca.caCertPem, ...(host === 'localhost' ? { servername: host } : {}) }, (res) => {
              let s = '';
              res.on('data', (c: Buffer) => (s += c.toString()));
              res.on('end', () => resolve(s));
            })
            .on('error', reject);
        });
        expect(body).toBe('ok');
      }
      // And a client without the CA refuses it.
      await expect(
        new Promise((resolve, reject) => https.get({ host: '127.0.0.1', port }, resolve).on('error', reject)),
      ).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    } finally {
      server.close();
    }
  });
});
