import { dataIdsWithPrefix } from '../../core/data/db.js';
import type { Queryable } from '../../core/db/pool.js';
import { badRequest, KnitError, notFound } from '../../core/errors/knit-error.js';
import { planIdsWithPrefix } from '../../core/plan/db.js';
import { runIdsWithPrefix } from '../../core/run/store.js';
import { isUuid } from '../../core/tags/tag.js';
import { ID_PREFIX_MIN, idPrefix, type IdPrefix } from '../../core/validation/id-prefix.js';

/** What an id names; each is looked up by the module that owns its table. */
export type IdKind = 'run' | 'data' | 'plan';

const OWNER: Record<IdKind, (q: Queryable, p: IdPrefix, limit: number) => Promise<string[]>> = {
  run: runIdsWithPrefix,
  data: dataIdsWithPrefix,
  plan: planIdsWithPrefix,
};

const NAME: Record<IdKind, string> = { run: 'run', data: 'Data', plan: 'plan' };

/** How many matches an ambiguous prefix lists; one more is fetched, to say there are more. */
export const AMBIGUOUS_LISTED = 10;

/** The full id a route's `:id` path parameter stands for (resolveId). */
export function resolveIdParam(q: Queryable, kind: IdKind, params: unknown): Promise<string> {
  return resolveId(q, kind, (params as { id?: string }).id);
}

/**
 * The full id that `raw` stands for: a UUID as it is (whether it exists is the caller's
 * lookup), or the one id starting with a prefix of at least ID_PREFIX_MIN hex characters. A
 * prefix matching several is a 400 listing them; one matching none, the usual 404.
 */
export async function resolveId(q: Queryable, kind: IdKind, raw: string | undefined, field = 'id'): Promise<string> {
  const text = raw ?? '';
  if (isUuid(text)) return text;
  const prefix = idPrefix(text);
  if (!prefix) throw badRequest(field, `${JSON.stringify(text)} is not a ${NAME[kind]} id (a UUID, or a unique prefix of at least ${ID_PREFIX_MIN} hex characters)`);
  const ids = await OWNER[kind](q, prefix, AMBIGUOUS_LISTED + 1);
  if (ids.length === 0) throw notFound(kind, text, field);
  if (ids.length === 1) return ids[0]!;
  const listed = ids.slice(0, AMBIGUOUS_LISTED);
  const more = ids.length > AMBIGUOUS_LISTED ? ', and more' : '';
  throw new KnitError('bad_request', `${field}: ${JSON.stringify(text)} is ambiguous: it starts ${NAME[kind]} ids ${listed.join(', ')}${more}; give more characters`, {
    field,
    details: { matches: listed },
  });
}
