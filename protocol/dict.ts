// A record whose keys follow a pattern. TypeBox's Record with a patterned key checks only the keys
// that match it; any other key passes unchecked unless the object forbids additional properties.
// Every patterned record of the protocol is made here, so none can forget that.
import { Type, type ObjectOptions, type TSchema } from '@sinclair/typebox';

export const Dict = <V extends TSchema>(keyPattern: string, value: V, options: ObjectOptions = {}) =>
  Type.Record(Type.String({ pattern: keyPattern }), value, { ...options, additionalProperties: false });
