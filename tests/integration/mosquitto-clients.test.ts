// A third-party device: Debian's mosquitto_pub talking to the gateway's broker. With the right
// credentials its reading is stored and synced; a wrong password or another device's topic is
// refused and nothing is stored.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const run = promisify(execFile);
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

const refusals = (reason: string) => stack.gateway.metrics.value('hatake_gateway_refused_total', { reason });

async function mosquittoPub(user: string, password: string, topic: string, message: string) {
  const port = String(stack.gateway.mqttPort);
  try {
    const r = await run(
      'mosquitto_pub',
      [
        '-h',
        '127.0.0.1',
        '-p',
        port,
        '-V',
        'mqttv311',
        '-u',
        user,
        '-P',
        password,
        '-t',
        topic,
        '-q',
        '1',
        '-m',
        message,
      ],
      {
        timeout: 10_000,
      },
    );
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: err.code ?? -1, stderr: err.stderr ?? '' };
  }
}

describe('a third-party device using mosquitto_pub', () => {
  it('gets its reading stored at the gateway and at the server with the right credentials', async () => {
    const time = new Date(Date.now() - 4000).toISOString();
    const r = await mosquittoPub(
      'soil-1',
      stack.secrets['soil-1']!,
      'hatake/v1/demo-farm/soil-1/up',
      JSON.stringify({ time, values: { soil_vwc: 0.312 } }),
    );
    expect(r).toEqual({ code: 0, stderr: '' });
    const stored = stack.gateway.store.db
      .prepare('SELECT value FROM readings WHERE device = ? AND metric = ?')
      .all('soil-1', 'soil_vwc');
    expect(stored).toEqual([{ value: 0.312 }]);
    await eventually(async () => (await stack.server!.ctx.readings.count('demo-farm', 'soil-1')) === 1);
  });

  it('is refused with "bad user name or password" for a wrong password, and nothing is stored', async () => {
    const before = stack.gateway.store.readingCount();
    const refused = await refusals('bad_login');
    const r = await mosquittoPub(
      'soil-1',
      'not-the-secret',
      'hatake/v1/demo-farm/soil-1/up',
      JSON.stringify({ values: { soil_vwc: 0.2 } }),
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bad user name or password/i);
    expect(await refusals('bad_login')).toBe(refused + 1);
    expect(stack.gateway.store.readingCount()).toBe(before);
  });

  it('is refused for an unknown device', async () => {
    const r = await mosquittoPub(
      'ghost-1',
      'whatever-secret',
      'hatake/v1/demo-farm/ghost-1/up',
      JSON.stringify({ values: { soil_vwc: 0.2 } }),
    );
    expect(r.stderr).toMatch(/bad user name or password/i);
  });

  it("cannot publish to another device's topic: the publish is refused and nothing is stored", async () => {
    const before = stack.gateway.store.readingCount();
    const refused = await refusals('topic');
    await mosquittoPub(
      'soil-1',
      stack.secrets['soil-1']!,
      'hatake/v1/demo-farm/wx-1/up',
      JSON.stringify({ values: { air_temperature: 50 } }),
    );
    await eventually(async () => (await refusals('topic')) === refused + 1);
    expect(stack.gateway.store.readingCount()).toBe(before);
    const wx = stack.gateway.store.db
      .prepare("SELECT COUNT(*) AS n FROM readings WHERE device = 'wx-1'")
      .get() as { n: number };
    expect(wx.n).toBe(0);
  });

  it('cannot publish as its own id on another farm', async () => {
    const refused = await refusals('topic');
    await mosquittoPub(
      'soil-1',
      stack.secrets['soil-1']!,
      'hatake/v1/other-farm/soil-1/up',
      JSON.stringify({ values: { soil_vwc: 0.2 } }),
    );
    await eventually(async () => (await refusals('topic')) === refused + 1);
  });
});
