/** Ids are shown by their first 8 characters, longer where two ids in one drawing share those. */
export const SHORT_ID_LENGTH = 8;

/**
 * The shortest prefix of each id, at least SHORT_ID_LENGTH long, that no other id in `ids`
 * starts with: short ids that still name one node each (and that every id-taking command accepts).
 */
export function shortIds(ids: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(ids)].sort();
  const common = (a: string | undefined, b: string) => {
    if (a === undefined) return 0;
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    return i;
  };
  const out = new Map<string, string>();
  sorted.forEach((id, i) => {
    // Sorted, an id shares its longest prefix with a neighbour: one past that tells it apart.
    const len = Math.max(SHORT_ID_LENGTH, common(sorted[i - 1], id) + 1, common(sorted[i + 1], id) + 1);
    out.set(id, id.slice(0, len));
  });
  return out;
}
