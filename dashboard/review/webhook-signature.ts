// The signature a webhook receiver checks: "v1=" + hex HMAC-SHA256 over "{timestamp}.{body}",
// keyed with the webhook's secret. The timestamp (unix seconds, x-hatake-timestamp) is signed
// too, so a receiver can refuse replays older than its window.
import { createHmac, randomBytes } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-hatake-signature';
export const TIMESTAMP_HEADER = 'x-hatake-timestamp';
export const EVENT_HEADER = 'x-hatake-event';
export const DELIVERY_HEADER = 'x-hatake-delivery';

/** The x-hatake-signature value for a body sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A new webhook secret (256 random bits). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}
