/**
 * A unique prefix of a UUID, as the CLI accepts for a Run, Data or Plan id. It is turned into the
 * range of UUIDs that start with it, so the lookup walks the primary key's index instead of
 * scanning the table (PostgreSQL orders uuids by their bytes, which is the order of their hex).
 */

/** Shorter prefixes would match too much to be worth typing. */
export const ID_PREFIX_MIN = 4;

export interface IdPrefix {
  /** The prefix as given, lowercase, without dashes. */
  readonly hex: string;
  /** The smallest and the largest UUID starting with it. */
  readonly lo: string;
  readonly hi: string;
}

const asUuid = (hex32: string) => `${hex32.slice(0, 8)}-${hex32.slice(8, 12)}-${hex32.slice(12, 16)}-${hex32.slice(16, 20)}-${hex32.slice(20)}`;

/** The prefix `raw` stands for (dashes where a UUID has them are allowed), or undefined if it is none. */
export function idPrefix(raw: string): IdPrefix | undefined {
  const hex = raw.toLowerCase().replaceAll('-', '');
  if (!/^[0-9a-f]+$/.test(hex) || hex.length < ID_PREFIX_MIN || hex.length > 32) return undefined;
  return { hex, lo: asUuid(hex.padEnd(32, '0')), hi: asUuid(hex.padEnd(32, 'f')) };
}
