import type { z } from 'zod';
import { KnitError } from '../errors/knit-error.js';

/** Renders a zod issue path the way users write it: `inputs[1].path`. */
export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

/**
 * Validates `input` against `schema`. On failure throws a 400 KnitError whose field is the path
 * of the first problem, so every caller (API, CLI, plan loader) names the field the same way.
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0];
  const field = first ? fieldOf(root, first) : root || '(root)';
  const message = first ? messageOf(first) : 'invalid';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return throwBadRequest(field, message + more, issues.slice(0, 20).map((i) => ({ field: fieldOf(root, i), message: messageOf(i) })));
}

// An unknown key is named as the field itself, so `?colour=red` answers `field: "colour"`.
function fieldOf(root: string, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) return formatPath(root, [...issue.path, issue.keys[0]]);
  return formatPath(root, issue.path);
}

function messageOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `is not a known parameter or field${issue.keys.length > 1 ? ` (nor ${issue.keys.slice(1).map((k) => JSON.stringify(k)).join(', ')})` : ''}`;
  return issue.message;
}

function throwBadRequest(field: string, message: string, problems: Array<{ field: string; message: string }>): never {
  throw new KnitError('bad_request', `${field}: ${message}`, { field, details: { problems } });
}
