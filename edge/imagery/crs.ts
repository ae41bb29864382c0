// Coordinate reference systems hatake can place pixels in: EPSG codes read from GeoTIFF GeoKeys,
// turned into proj4 definitions. WGS84 (4326), Web Mercator (3857), WGS84 / UTM (326xx north,
// 327xx south, all zones), and the JGD2000 / JGD2011 UTM zones used for Japan (3097–3101,
// 6688–6692). Anything else is refused with a clear error rather than guessed.
import proj4 from 'proj4';
import { HatakeError } from '../../protocol/errors.ts';

export interface Crs {
  epsg: number;
  /** proj4 definition string. */
  def: string;
  /** Degrees (geographic) or metres (projected). */
  geographic: boolean;
}

/** The proj4 definition of an EPSG code, or undefined when hatake does not know it. */
export function epsgDefinition(epsg: number): string | undefined {
  if (epsg === 4326) return '+proj=longlat +datum=WGS84 +no_defs';
  if (epsg === 3857)
    return '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs';
  if (epsg >= 32601 && epsg <= 32660) return `+proj=utm +zone=${epsg - 32600} +datum=WGS84 +units=m +no_defs`;
  if (epsg >= 32701 && epsg <= 32760)
    return `+proj=utm +zone=${epsg - 32700} +south +datum=WGS84 +units=m +no_defs`;
  // JGD2000 / UTM zones 51–55 and JGD2011 / UTM zones 51–55 (GRS80, no datum shift from WGS84
  // at the precision of a 10 m pixel).
  if (epsg >= 3097 && epsg <= 3101) return `+proj=utm +zone=${epsg - 3046} +ellps=GRS80 +units=m +no_defs`;
  if (epsg >= 6688 && epsg <= 6692) return `+proj=utm +zone=${epsg - 6637} +ellps=GRS80 +units=m +no_defs`;
  return undefined;
}

/** A known CRS for an EPSG code; throws HATAKE_E_IMAGERY_CRS naming the file otherwise. */
export function crsOf(epsg: number | undefined, file: string): Crs {
  const def = epsg === undefined ? undefined : epsgDefinition(epsg);
  if (epsg === undefined || def === undefined) {
    throw new HatakeError(
      'HATAKE_E_IMAGERY_CRS',
      epsg === undefined
        ? 'the GeoTIFF names no EPSG code in its GeoKeys (user-defined or missing CRS)'
        : `EPSG:${epsg} is not a CRS hatake knows`,
      {
        place: { file },
        expected:
          'EPSG:4326, EPSG:3857, WGS84 / UTM (EPSG:326xx, 327xx) or JGD UTM (EPSG:3097–3101, 6688–6692)',
      },
    );
  }
  return { epsg, def, geographic: epsg === 4326 };
}

const WGS84 = '+proj=longlat +datum=WGS84 +no_defs';

/** Transforms between WGS84 lon/lat and a CRS. */
export interface Transformer {
  toCrs(lonLat: readonly [number, number]): [number, number];
  toWgs84(xy: readonly [number, number]): [number, number];
}

/** A lon/lat ⇄ CRS transformer. */
export function transformer(crs: Crs): Transformer {
  if (crs.epsg === 4326) {
    return { toCrs: (p) => [p[0], p[1]], toWgs84: (p) => [p[0], p[1]] };
  }
  const conv = proj4(WGS84, crs.def);
  return {
    toCrs: (p) => conv.forward([p[0], p[1]]) as [number, number],
    toWgs84: (p) => conv.inverse([p[0], p[1]]) as [number, number],
  };
}
