/**
 * One line of an indented tree: `key` names the node it shows, so a node met again (a diamond)
 * is drawn once in full and then as `ref` with "(see above)", never walked twice.
 */
export interface TreeItem {
  key?: string;
  line: string;
  ref?: string;
  children: () => TreeItem[];
}

/**
 * The lines of a tree drawn with box characters under `items`. `seen` is shared across calls, so
 * one drawing's sections refer to each other. Iterative, so a long chain cannot overflow the stack.
 */
export function drawTree(items: readonly TreeItem[], seen: Set<string>): string[] {
  const lines: string[] = [];
  const stack: Array<{ item: TreeItem; prefix: string; last: boolean }> = [];
  const push = (children: readonly TreeItem[], prefix: string) => {
    for (let i = children.length - 1; i >= 0; i--) stack.push({ item: children[i]!, prefix, last: i === children.length - 1 });
  };
  push(items, '');
  for (let top = stack.pop(); top; top = stack.pop()) {
    const { item, prefix, last } = top;
    const branch = `${prefix}${last ? '└─ ' : '├─ '}`;
    if (item.key !== undefined && seen.has(item.key)) {
      lines.push(`${branch}${item.ref ?? item.line} (see above)`);
      continue;
    }
    if (item.key !== undefined) seen.add(item.key);
    lines.push(`${branch}${item.line}`);
    push(item.children(), `${prefix}${last ? '   ' : '│  '}`);
  }
  return lines;
}
