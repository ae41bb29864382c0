// JSON pointers (RFC 6901) built from outside names, and the review audit's zone paths.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { pointerOf, pointerTokens, zoneRateOfPath, zoneRatePath } from '../../protocol/pointer.ts';
import { changesJa } from '../../dashboard/review/decisions-csv.ts';

describe('pointerOf and pointerTokens', () => {
  it('escape and read back the RFC 6901 examples', () => {
    expect(pointerOf('a/b')).toBe('/a~1b');
    expect(pointerOf('m~n')).toBe('/m~0n');
    expect(pointerOf('~1')).toBe('/~01');
    expect(pointerOf('values', 'soil/vwc', 3)).toBe('/values/soil~1vwc/3');
    expect(pointerOf()).toBe('');
    expect(pointerTokens('')).toEqual([]);
    expect(pointerTokens('/')).toEqual(['']);
    expect(pointerTokens('/~01')).toEqual(['~1']);
    expect(pointerTokens('/a~1b/m~0n')).toEqual(['a/b', 'm~n']);
  });

  it('round-trip any tokens, whatever they hold', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 6 }), (tokens) => {
        expect(pointerTokens(pointerOf(...tokens))).toEqual(tokens);
      }),
    );
  });

  it('write what TypeBox writes for a key, so our pointers and the schema errors agree', () => {
    fc.assert(
      // (A Record's key pattern is `^(.*)$`, which no line break matches: such keys are not errors.)
      fc.property(
        fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => !/[\n\r\u2028\u2029]/.test(k)),
        (key) => {
          const [error] = [
            ...Value.Errors(Type.Record(Type.String(), Type.Number()), Object.fromEntries([[key, 'x']])),
          ];
          expect(error!.path).toBe(pointerOf(key));
        },
      ),
    );
  });
});

describe('the audit path of a zone rate', () => {
  it('names one zone whatever its id holds, and only zone rates', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 100 }),
        fc.constantFrom('kgNHa', 'productKgHa'),
        (id, rate) => {
          expect(zoneRateOfPath(zoneRatePath(id, rate))).toEqual({ zone: id, rate });
        },
      ),
    );
    expect(zoneRatePath('north/a~1', 'kgNHa')).toBe('/zones/north~1a~01/kgNHa');
    for (const other of [
      '/status',
      '/policy/maxKgNHa',
      '/zones/z1',
      '/zones/z1/economics',
      '/zone/z1/kgNHa',
      '',
    ])
      expect(zoneRateOfPath(other), other).toBeUndefined();
  });

  it('reads an entry written before ids were escaped as the zone it named', () => {
    expect(zoneRateOfPath('/zones/north/a/kgNHa')).toEqual({ zone: 'north/a', rate: 'kgNHa' });
  });

  it('is what the CSV of decisions reads: the zone number, not a broken path', () => {
    const zones = { 'north/a~1': 1, north: 2 };
    expect(
      changesJa(
        [
          { path: zoneRatePath('north/a~1', 'kgNHa'), from: 10.5, to: 19.95, requested: 20 },
          { path: zoneRatePath('north/a~1', 'productKgHa'), from: 50, to: 95 },
        ],
        zones,
      ),
    ).toBe('ゾーン1 1.05→1.995 kg/10a（入力 2.0 kg/10a）');
  });
});
