// The gateway's own pages when its database fails to read (a dying SD card answers SQLite with an
// I/O error): /healthz keeps its documented answer (503 with the problems), /metrics still
// answers and counts it, and the farmer's page says what is wrong in their language instead of a
// JSON error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { englishOutsideLangEn } from '../helpers/page-language.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let base: string;
let restore: () => void;
beforeAll(async () => {
  stack = await startStack({ server: false });
  base = `http://127.0.0.1:${stack.gateway.httpPort}`;
  // The store's reads fail as SQLite fails on a card that returns read errors.
  const db = stack.gateway.store.db;
  const prepare = db.prepare.bind(db);
  db.prepare = (() => {
    throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
  }) as typeof db.prepare;
  restore = () => {
    db.prepare = prepare;
  };
});
afterAll(async () => {
  restore();
  await stack.close();
});

describe('the status page and /healthz while the store fails', () => {
  it('/healthz answers 503 with the problem, in its usual form', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 'degraded',
      problems: [expect.stringContaining('disk I/O error')],
    });
  });

  it('the page says so in Japanese, with the raw error marked English, and keeps refreshing', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain('<html lang="ja">');
    expect(html).toContain('データベース（SDカード）');
    expect(html).toContain('<small lang="en">disk I/O error</small>');
    expect(html).toContain('<meta http-equiv="refresh"');
    expect(englishOutsideLangEn(html)).toEqual([]);
  });

  it('/metrics still answers, and counts the unreadable status as a health problem', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^hatake_gateway_health_problems\{code="status_unreadable"\} 1$/m);
  });

  it('and in English on request', async () => {
    const html = await (await fetch(`${base}/?lang=en`)).text();
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('the SD card');
  });
});
