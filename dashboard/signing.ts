// The server's ed25519 signing key: made on first start, kept 0600 in the data directory. Every
// downlink document is signed with it — its whole envelope: farm, kind, id, version, withdrawal
// and body (protocol/downlink.ts) — and gateways verify with the public key they got when they
// were registered, so a model, automation or withdrawal changed on the way is refused on the farm.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../firmware-config/provision.ts';

export interface SigningKey {
  privateKey: KeyObject;
  publicKeyPem: string;
  /** Signs a text (a downlink document's envelope, downlinkSigningText); base64. Deterministic. */
  sign(text: string): string;
}

export function loadOrCreateSigningKey(dataDir: string): SigningKey {
  const file = join(dataDir, 'signing-key.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(file, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  }
  const privateKey = createPrivateKey(readFileSync(file));
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return {
    privateKey,
    publicKeyPem,
    sign: (text) => sign(null, Buffer.from(text), privateKey).toString('base64'),
  };
}
