import { useState } from 'react';
import { download, getJson, getList } from '../api.js';
import { navigate } from '../routes.js';
import type { DataDetail } from '../types.js';
import { formatSize, Link, MoreButton, short, Status, Tags, useLoad, usePagedLoad } from '../ui.js';

/** Data found by tags (`k:v`, all of them must match), oldest first, a page at a time. */
export function DataView({ tags }: { tags: string[] }) {
  const [text, setText] = useState(tags.join(' '));
  const { state, showMore } = usePagedLoad((pages, signal) => getList<DataDetail>('data', { tag: tags }, pages, signal), [tags.join('\n')]);
  return (
    <section>
      <h2>Data</h2>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const qs = new URLSearchParams(text.split(/[\s,]+/).filter(Boolean).map((t) => ['tag', t]));
          navigate(`/data${qs.size ? `?${qs}` : ''}`);
        }}
      >
        <input aria-label="tags" data-testid="data-tags" placeholder="tags: key:value key2:value2" value={text} onChange={(e) => setText(e.target.value)} />
        <button type="submit">Search</button>
      </form>
      <Status state={state}>
        {({ items: data, more }) => (
          <>
            <table data-testid="data-table">
              <thead>
                <tr>
                  <th>id</th>
                  <th>tags</th>
                  <th>timestamp</th>
                  <th>size</th>
                  <th>produced by</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {data.map((d) => (
                  <tr key={d.id} data-testid={`data-${d.id}`}>
                    <td>
                      <Link to={`/data/${d.id}`}>{short(d.id)}</Link>
                    </td>
                    <td>
                      <Tags tags={d.tags.filter((t) => !t.startsWith('knit#id:') && !t.startsWith('knit#timestamp:'))} />
                    </td>
                    <td>{d.createdAt}</td>
                    <td>{formatSize(d.size)}</td>
                    <td>{d.origin.type === 'run' ? <Link to={`/runs/${d.origin.runId}`}>run {short(d.origin.runId)}</Link> : 'upload'}</td>
                    <td>
                      <DownloadButton id={d.id} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <MoreButton more={more} onMore={showMore} />
          </>
        )}
      </Status>
      {state.value?.items.length === 0 && <p className="muted">no Data has all these tags</p>}
    </section>
  );
}

export function DownloadButton({ id }: { id: string }) {
  const [error, setError] = useState<string>();
  return (
    <>
      <button type="button" data-testid={`download-${id}`} onClick={() => download(id).catch((err: Error) => setError(err.message))}>
        download
      </button>
      {error && <span className="error">{error}</span>}
    </>
  );
}

export function DataDetailView({ id }: { id: string }) {
  const state = useLoad((signal) => getJson<DataDetail>(`data/${encodeURIComponent(id)}`, {}, signal), [id]);
  return (
    <section>
      <Status state={state}>
        {(d) => (
          <div data-testid="data-detail">
            <h2>Data {d.id}</h2>
            <dl>
              <dt>tags</dt>
              <dd>
                <Tags tags={d.tags} />
              </dd>
              <dt>timestamp</dt>
              <dd>{d.createdAt}</dd>
              <dt>size</dt>
              <dd>{formatSize(d.size)}</dd>
              <dt>digest</dt>
              <dd>{d.digest ?? '—'}</dd>
              <dt>produced by</dt>
              <dd>{d.origin.type === 'run' ? <Link to={`/runs/${d.origin.runId}`}>{`run ${d.origin.runId} (${d.origin.output})`}</Link> : 'upload'}</dd>
            </dl>
            <p>
              <DownloadButton id={d.id} /> <Link to={`/lineage/data/${d.id}`} testId="lineage-link">lineage</Link>
            </p>
          </div>
        )}
      </Status>
    </section>
  );
}
