/**
 * A mermaid flowchart as written by knit, read back line by line: there is no mermaid CLI here,
 * so structure is checked instead. Throws on any line that is not a class, a node or an edge.
 */
export interface ParsedFlowchart {
  classes: Set<string>;
  nodes: Map<string, { shape: 'box' | 'stadium' | 'circle'; label: string; cls: string }>;
  edges: Array<{ from: string; to: string; label: string }>;
}

// A quoted label: anything but a raw quote (quotes are written as #quot;).
const LABEL = '"([^"]*)"';
const CLASS = /^ {2}classDef (\w+) [\w#:,.\- ]+$/;
const NODE = new RegExp(`^ {2}(n\\d+)(?:\\[${LABEL}\\]|\\(\\[${LABEL}\\]\\)|\\(\\(${LABEL}\\)\\)):::(\\w+)$`);
const EDGE = new RegExp(`^ {2}(n\\d+) -->\\|${LABEL}\\| (n\\d+)$`);

export function parseFlowchart(text: string): ParsedFlowchart {
  const lines = text.split('\n');
  if (lines[0] !== 'flowchart LR') throw new Error(`the first line is ${JSON.stringify(lines[0])}, not "flowchart LR"`);
  if (lines.at(-1) !== '') throw new Error('the text does not end with a newline');
  const out: ParsedFlowchart = { classes: new Set(), nodes: new Map(), edges: [] };
  for (const line of lines.slice(1, -1)) {
    let m: RegExpExecArray | null;
    if ((m = CLASS.exec(line))) out.classes.add(m[1]!);
    else if ((m = NODE.exec(line))) {
      if (out.nodes.has(m[1]!)) throw new Error(`node ${m[1]} is defined twice`);
      const shape = m[2] !== undefined ? 'box' : m[3] !== undefined ? 'stadium' : 'circle';
      out.nodes.set(m[1]!, { shape, label: (m[2] ?? m[3] ?? m[4])!, cls: m[5]! });
    } else if ((m = EDGE.exec(line))) out.edges.push({ from: m[1]!, label: m[2]!, to: m[3]! });
    else throw new Error(`not a mermaid class, node or edge line: ${JSON.stringify(line)}`);
  }
  for (const [id, n] of out.nodes) if (!out.classes.has(n.cls)) throw new Error(`node ${id} uses class ${n.cls}, which is not defined`);
  for (const e of out.edges) if (!out.nodes.has(e.from) || !out.nodes.has(e.to)) throw new Error(`edge ${e.from} -> ${e.to} names an undefined node`);
  return out;
}
