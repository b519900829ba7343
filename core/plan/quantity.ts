/**
 * Resource quantities in Kubernetes notation, so one plan reads the same on Docker and on a
 * cluster: `2`, `0.5`, `500m` (millicores), `512Mi`, `1Gi`, `1G`, `1e9`.
 */
const SUFFIX: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

const QUANTITY = /^(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/;

/** The quantity's value in base units (cores, bytes, devices), or undefined when malformed. */
export function parseQuantity(raw: string): number | undefined {
  const m = QUANTITY.exec(raw.trim());
  if (!m) return undefined;
  const value = Number(m[1]) * SUFFIX[m[2] ?? '']!;
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

export function isQuantity(raw: string): boolean {
  return parseQuantity(raw) !== undefined;
}
