/**
 * A mermaid label, quoted. Mermaid reads `#name;` as an entity and `<` as HTML, and ends a label
 * at `"`: each is written as an entity code, `#` first so the codes themselves survive; a newline
 * becomes a line break.
 */
export function mermaidLabel(s: string): string {
  const escaped = s
    .replace(/#/g, '#35;')
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;')
    .replace(/`/g, '#96;')
    .replace(/\r?\n/g, '<br/>');
  return `"${escaped}"`;
}

/**
 * Mermaid node ids for `ids`, in order: `n0`, `n1`, … Mermaid ids cannot hold every character an
 * id can (`-` next to `-` reads as an arrow), so nodes get plain names and their ids go in labels.
 */
export function mermaidIds(ids: Iterable<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const id of ids) if (!out.has(id)) out.set(id, `n${out.size}`);
  return out;
}
