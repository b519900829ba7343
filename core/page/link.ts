/**
 * The `after` cursor of a `Link` header's rel="next" target (RFC 8288), or undefined when the
 * header names no next page. Clients re-send their own request with it rather than fetch the
 * target as given, so a server behind a path prefix or a proxy is reached the same way as before.
 */
export function nextCursor(link: string | readonly string[] | undefined | null): string | undefined {
  for (const header of link === undefined || link === null ? [] : typeof link === 'string' ? [link] : link) {
    for (const [, target, params] of header.matchAll(/<([^>]*)>([^,]*)/g)) {
      const rels = /;\s*rel\s*=\s*"?([^";]*)"?/i.exec(params ?? '')?.[1]?.split(/\s+/) ?? [];
      if (!rels.includes('next')) continue;
      const after = new URL(target!, 'http://knit.invalid').searchParams.get('after');
      if (after) return after;
    }
  }
  return undefined;
}
