/** Parses sizes like `512`, `100MB`, `1.5GiB` into bytes. Returns undefined when malformed. */
export function parseBytes(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$/i.exec(raw);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase().replace(/b$/, '');
  const pow = ['', 'k', 'm', 'g', 't', 'p'];
  const binary = unit.endsWith('i');
  const idx = pow.indexOf(binary ? unit.slice(0, -1) : unit);
  if (idx < 0) return undefined;
  return Math.round(n * (binary ? 1024 : 1000) ** idx);
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses durations like `90s`, `1h30m`, `2d` into milliseconds. Returns undefined when malformed. */
export function parseDuration(raw: string): number | undefined {
  const s = raw.trim();
  if (s === '') return undefined;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0);
    consumed = re.lastIndex;
  }
  return consumed === s.length ? total : undefined;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
