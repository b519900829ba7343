import { get, getJson, getList } from '../api.js';
import type { PlanDetail, RunDetail } from '../types.js';
import { Link, MoreButton, short, Status, useLoad, usePagedLoad } from '../ui.js';
import { RunTable } from './RunsView.js';

export function PlansView() {
  const { state, showMore } = usePagedLoad((pages, signal) => getList<PlanDetail>('plans', {}, pages, signal), []);
  return (
    <section>
      <h2>Plans</h2>
      <Status state={state}>
        {({ items: plans, more }) => (
          <>
            <table data-testid="plans-table">
              <thead>
                <tr>
                  <th>id</th>
                  <th>image</th>
                  <th>active</th>
                  <th>inputs</th>
                  <th>outputs</th>
                </tr>
              </thead>
              <tbody>
                {plans.map((p) => (
                  <tr key={p.id} data-testid={`plan-${p.id}`}>
                    <td>
                      <Link to={`/plans/${p.id}`}>{short(p.id)}</Link>
                    </td>
                    <td>{p.image}</td>
                    <td>{p.active ? 'yes' : 'no'}</td>
                    <td>{p.inputs.map((i) => `${i.path} ← [${i.tags.join(', ')}]`).join('; ')}</td>
                    <td>{p.outputs.map((o) => `${o.path} → [${o.tags.join(', ')}]`).join('; ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <MoreButton more={more} onMore={showMore} />
          </>
        )}
      </Status>
    </section>
  );
}

export function PlanDetailView({ id }: { id: string }) {
  const path = `plans/${encodeURIComponent(id)}`;
  const plan = useLoad((signal) => getJson<PlanDetail>(path, {}, signal), [id]);
  const yaml = useLoad(async (signal) => (await get(path, { format: 'yaml' }, signal)).text(), [id]);
  const planId = plan.value?.id;
  // By the full id, once known: the path may hold a prefix, which the runs query does not take.
  const { state: runs, showMore: moreRuns } = usePagedLoad(
    (pages, signal) => (planId ? getList<RunDetail>('runs', { plan: planId }, pages, signal) : Promise.resolve({ items: [], more: false })),
    [planId],
    1500,
    () => planId !== undefined,
  );
  return (
    <section>
      <Status state={plan}>
        {(p) => (
          <div data-testid="plan-detail">
            <h2>Plan {p.id}</h2>
            <p>
              <span className={p.active ? 'status done' : 'status deactivated'} data-testid="plan-active">
                {p.active ? 'active' : 'inactive'}
              </span>{' '}
              applied {p.createdAt} · <Link to={`/lineage/plan/${p.id}`}>plan graph</Link>
            </p>
            {p.matchError && <p className="error">matching failed: {p.matchError.message}</p>}
          </div>
        )}
      </Status>
      <h3>Plan file</h3>
      <Status state={yaml}>{(text) => <pre data-testid="plan-yaml">{text}</pre>}</Status>
      <h3>Runs</h3>
      {plan.value && (
        <Status state={runs}>
          {({ items, more }) => (
            <>
              <RunTable runs={items} />
              <MoreButton more={more} onMore={moreRuns} />
            </>
          )}
        </Status>
      )}
    </section>
  );
}
