import { z } from 'zod';

/**
 * The ways a graph (a lineage, the plan graph) is printed: `tree` for people, `dot` for Graphviz,
 * `mermaid` for Markdown that renders it (GitHub, GitLab), `json` for programs.
 */
export const GraphFormat = z.enum(['tree', 'dot', 'mermaid', 'json']);
export type GraphFormat = z.infer<typeof GraphFormat>;

/** Whether a text rendering colours run statuses: `auto` means on a terminal, unless NO_COLOR is set. */
export const ColorMode = z.enum(['auto', 'always', 'never']);
export type ColorMode = z.infer<typeof ColorMode>;
