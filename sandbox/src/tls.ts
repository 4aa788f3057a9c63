// Sandbox certificate authority: one self-made CA per sandbox state dir, and server certificates for the
// local HTTPS endpoints (ARM emulator, Azurite, managed-disk front). Bearer tokens require TLS, so every
// sandbox endpoint is HTTPS and clients trust this CA:
//   - child processes: NODE_EXTRA_CA_CERTS=<caCertPath>
//   - in-process (Node 24): trustSandboxCa(ca), i.e.
//     tls.setDefaultCACertificates([...tls.getCACertificates('default'), ca.caCertPem])
//
// X.509 library choice: node-forge. Node has no API to *create* certificates, and the contract wants
// issueServerCert() to be synchronous (it is called while wiring up servers); node-forge is the widely
// used, dependency-free, synchronous X.509/ASN.1 implementation (the WebCrypto-based @peculiar/x509 is
// async-only). Keys are generated with Node's native crypto (fast) and handed to forge as PEM, so forge
// only builds and signs the certificate. RSA-2048 / SHA-256: accepted by every TLS client.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import forge from 'node-forge';

export interface SandboxCa {
  /** PEM file holding only the CA certificate (for NODE_EXTRA_CA_CERTS, az cli, curl --cacert). */
  caCertPath: string;
  caKeyPem: string;
  caCertPem: string;
}

export interface ServerCert {
  certPem: string;
  keyPem: string;
}

const CA_SUBDIR = 'sandbox-ca';
const CA_CERT_FILE = 'ca.crt';
const CA_KEY_FILE = 'ca.key';

const inFlight = new Map<string, Promise<SandboxCa>>();

function generateRsaKeyPem(): string {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function randomSerial(): string {
  // Positive 16-byte serial (leading nibble < 8 keeps the DER INTEGER positive).
  const bytes = crypto.randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

function createCaPem(): { caCertPem: string; caKeyPem: string } {
  const caKeyPem = generateRsaKeyPem();
  const key = forge.pki.privateKeyFromPem(caKeyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + 10 * 365 * 24 * 60 * 60 * 1000);
  const subject = [
    { name: 'commonName', value: `site-recovery sandbox CA ${crypto.randomBytes(4).toString('hex')}` },
    { name: 'organizationName', value: 'site-recovery-operator sandbox' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { caCertPem: forge.pki.certificateToPem(cert), caKeyPem };
}

async function readCa(caDir: string): Promise<SandboxCa | undefined> {
  const caCertPath = path.join(caDir, CA_CERT_FILE);
  try {
    const [caCertPem, caKeyPem] = await Promise.all([
      fs.readFile(caCertPath, 'utf8'),
      fs.readFile(path.join(caDir, CA_KEY_FILE), 'utf8'),
    ]);
    return { caCertPath, caCertPem, caKeyPem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function ensureCaUncached(dir: string): Promise<SandboxCa> {
  const caDir = path.join(path.resolve(dir), CA_SUBDIR);
  const existing = await readCa(caDir);
  if (existing) return existing;
  await fs.mkdir(path.dirname(caDir), { recursive: true });
  // Write key and certificate into a private temp dir, then rename the whole dir into place: rename of a
  // directory onto an existing non-empty one fails, so concurrent creators (several processes starting
  // against one state dir) agree on a single CA and never see a key that does not match the certificate.
  const tmp = await fs.mkdtemp(path.join(path.dirname(caDir), `.${CA_SUBDIR}-`));
  const { caCertPem, caKeyPem } = createCaPem();
  await fs.writeFile(path.join(tmp, CA_KEY_FILE), caKeyPem, { mode: 0o600 });
  await fs.writeFile(path.join(tmp, CA_CERT_FILE), caCertPem, { mode: 0o644 });
  try {
    await fs.rename(tmp, caDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    await fs.rm(tmp, { recursive: true, force: true });
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  const ca = await readCa(caDir);
  if (!ca) throw new Error(`sandbox CA missing in ${caDir} after creation`);
  return ca;
}

/** Creates (once; reused when present) the sandbox CA under `dir` (`<dir>/sandbox-ca/ca.crt|ca.key`). */
export function ensureSandboxCa(dir: string): Promise<SandboxCa> {
  const key = path.resolve(dir);
  let p = inFlight.get(key);
  if (!p) {
    p = ensureCaUncached(key);
    inFlight.set(key, p);
    p.catch(() => inFlight.delete(key));
  }
  return p;
}

/**
 * Issues a server certificate signed by the sandbox CA. IP literals become IP SANs, everything else DNS
 * SANs; `localhost` and `127.0.0.1` are always included. Valid for one year.
 */
export function issueServerCert(ca: Pick<SandboxCa, 'caCertPem' | 'caKeyPem'>, hostnames: string[]): ServerCert {
  const caCert = forge.pki.certificateFromPem(ca.caCertPem);
  const caKey = forge.pki.privateKeyFromPem(ca.caKeyPem);
  const keyPem = generateRsaKeyPem();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const names = [...new Set([...hostnames, 'localhost', '127.0.0.1'])];
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + 365 * 24 * 60 * 60 * 1000);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((n) => (net.isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** Makes this process's TLS clients (https, fetch, Azure SDK) trust the sandbox CA (Node 24 API). */
export function trustSandboxCa(ca: Pick<SandboxCa, 'caCertPem'>): void {
  const current = tls.getCACertificates('default');
  if (current.includes(ca.caCertPem)) return;
  tls.setDefaultCACertificates([...current, ca.caCertPem]);
}
