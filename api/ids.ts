import { badRequest } from '../core/errors/knit-error.js';
import { isUuid } from '../core/tags/tag.js';

/** The `:id` route parameter, which must be a UUID: a clear 400 naming it otherwise. */
export function idParam(params: unknown, what: string): string {
  const id = (params as { id: string }).id;
  if (!isUuid(id)) throw badRequest('id', `${JSON.stringify(id)} is not a ${what} id (a UUID)`);
  return id;
}
