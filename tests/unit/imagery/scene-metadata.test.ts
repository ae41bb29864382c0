// What a scene's STAC item says about its product level: Earth Search (and the Planetary
// Computer) give `s2:product_type` as ESA's product type — "S2MSI2A", "S2MSI1C", with no "L" in
// it — which must still read as L2A / L1C. Checked on a real Earth Search item.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverMetadata, fromStacItem } from '../../../edge/imagery/scene-metadata.ts';

const DIR = join(import.meta.dirname, '../../../../shared/data/sentinel2/s2-29RKH-20200219-l2a-100m');
const item = JSON.parse(readFileSync(join(DIR, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8')) as {
  properties: Record<string, unknown>;
};
const withType = (type: unknown) => ({
  ...item,
  properties: { ...item.properties, 's2:product_type': type },
});

describe('the product level of a STAC item', () => {
  it('reads L2A from the real Earth Search item (s2:product_type "S2MSI2A")', () => {
    expect(item.properties['s2:product_type']).toBe('S2MSI2A');
    expect(fromStacItem(item)).toEqual({
      source: 'STAC item',
      id: 'S2A_29RKH_20200219_0_L2A',
      acquired: '2020-02-19T11:34:25.405Z',
      processingBaseline: '02.14',
      offsetApplied: false,
      level: 'L2A',
    });
  });

  it('reads it from the item beside the scene files too', () => {
    expect(discoverMetadata([join(DIR, 'B04.tif'), join(DIR, 'B08.tif')])).toMatchObject({
      level: 'L2A',
      processingBaseline: '02.14',
      source: 'S2A_29RKH_20200219_0_L2A.json',
    });
  });

  it.each([
    ['S2MSI1C', 'L1C'],
    ['S2MSI2A', 'L2A'],
    ['MSIL1C', 'L1C'],
    ['S2MSIL2A', 'L2A'],
    ['L2A', 'L2A'],
    ['S2MSI3X', undefined],
    ['', undefined],
  ])('s2:product_type %j is level %s', (type, level) => {
    expect(fromStacItem(withType(type)).level).toBe(level);
  });

  it('says no level when the product type is not a string', () => {
    expect(fromStacItem(withType(2))).not.toHaveProperty('level');
  });
});
