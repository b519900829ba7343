import { useEffect, useState } from 'react';
import { getList } from '../api.js';
import { RunStatus, type RunDetail } from '../types.js';
import { Link, MoreButton, short, Status, usePagedLoad } from '../ui.js';
import { useRunEvents } from '../run-events.js';

// The list has no event stream of its own (a run's page follows GET /api/runs/:id/events), so
// statuses in the list are read again this often.
const LIST_POLL_MS = 1500;

export function RunTable({ runs }: { runs: RunDetail[] }) {
  return (
    <table data-testid="runs-table">
      <thead>
        <tr>
          <th>id</th>
          <th>plan</th>
          <th>status</th>
          <th>created</th>
          <th>finished</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.id} data-testid={`run-${r.id}`}>
            <td>
              <Link to={`/runs/${r.id}`}>{short(r.id)}</Link>
            </td>
            <td>
              <Link to={`/plans/${r.plan.id}`}>{`${short(r.plan.id)} ${r.plan.image}`}</Link>
            </td>
            <td className={`status ${r.status}`} data-testid="run-status">
              {r.status}
            </td>
            <td>{r.createdAt}</td>
            <td>{r.finishedAt ?? '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunsView() {
  const [plan, setPlan] = useState('');
  const [status, setStatus] = useState('');
  const query = { plan: plan.trim() || undefined, status: status || undefined };
  const { state, showMore } = usePagedLoad((pages, signal) => getList<RunDetail>('runs', query, pages, signal), [query.plan, query.status], LIST_POLL_MS);
  return (
    <section>
      <h2>Runs</h2>
      <div className="filters">
        <input aria-label="plan" data-testid="runs-plan" placeholder="plan id" value={plan} onChange={(e) => setPlan(e.target.value)} />
        <select aria-label="status" data-testid="runs-status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">any status</option>
          {RunStatus.options.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </div>
      <Status state={state}>
        {({ items, more }) => (
          <>
            <RunTable runs={items} />
            <MoreButton more={more} onMore={showMore} />
          </>
        )}
      </Status>
    </section>
  );
}

/** A run, its status and its log live: both pushed by the API's event stream, none polled. */
export function RunDetailView({ id }: { id: string }) {
  const { run, log, following } = useRunEvents(id);
  return (
    <section>
      <Status state={run}>
        {(r) => (
          <div data-testid="run-detail">
            <h2>Run {r.id}</h2>
            <dl>
              <dt>status</dt>
              <dd className={`status ${r.status}`} data-testid="run-status">
                {r.status}
                {r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}
              </dd>
              {r.message && (
                <>
                  <dt>message</dt>
                  <dd>{r.message}</dd>
                </>
              )}
              <dt>plan</dt>
              <dd>
                <Link to={`/plans/${r.plan.id}`}>{`${r.plan.id} (${r.plan.image})`}</Link>
              </dd>
              <dt>attempt</dt>
              <dd>{r.attempt}</dd>
              <dt>started / finished</dt>
              <dd>{`${r.startedAt ?? '—'} / ${r.finishedAt ?? '—'}`}</dd>
              <dt>inputs</dt>
              <dd>
                {r.inputs.map((i) => (
                  <div key={i.path}>
                    {i.path} ← <Link to={`/data/${i.dataId}`}>{short(i.dataId)}</Link>
                  </div>
                ))}
              </dd>
              <dt>outputs</dt>
              <dd>
                {r.outputs.map((o) => (
                  <div key={o.path}>
                    {o.path} →{' '}
                    {o.dataId ? (
                      <>
                        <Link to={`/data/${o.dataId}`}>{short(o.dataId)}</Link> (<Link to={`/lineage/data/${o.dataId}`} testId={`output-lineage-${o.path}`}>lineage</Link>)
                      </>
                    ) : (
                      '—'
                    )}
                  </div>
                ))}
              </dd>
            </dl>
          </div>
        )}
      </Status>
      <h3>Log</h3>
      <p className="muted" data-testid="log-state">
        {following === 'following' ? 'following…' : following === 'ended' ? 'end of log' : `log: ${following}`}
      </p>
      <pre className="log" data-testid="run-log">
        {log}
      </pre>
    </section>
  );
}
