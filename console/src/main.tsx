import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { onUnauthorized } from './api.js';
import { useRoute, type Route } from './routes.js';
import { Link } from './ui.js';
import { DataDetailView, DataView } from './views/DataView.js';
import { DataLineageView, PlanGraphView } from './views/LineageView.js';
import { PlanDetailView, PlansView } from './views/PlansView.js';
import { RunDetailView, RunsView } from './views/RunsView.js';
import { TokenPrompt } from './views/TokenPrompt.js';
import './style.css';

function View({ route }: { route: Route }) {
  switch (route.view) {
    case 'data':
      return <DataView tags={route.tags} />;
    case 'data-detail':
      return <DataDetailView id={route.id} />;
    case 'runs':
      return <RunsView />;
    case 'run':
      return <RunDetailView id={route.id} />;
    case 'plans':
      return <PlansView />;
    case 'plan':
      return <PlanDetailView id={route.id} />;
    case 'lineage-data':
      return <DataLineageView id={route.id} />;
    case 'lineage-plan':
      return <PlanGraphView id={route.id} />;
  }
}

function App() {
  const route = useRoute();
  const [needsToken, setNeedsToken] = useState(false);
  // Bumped when a token is saved, so the open view loads again with it.
  const [generation, setGeneration] = useState(0);
  useEffect(() => onUnauthorized(() => setNeedsToken(true)), []);
  return (
    <>
      <header>
        <h1>knit</h1>
        <nav>
          <Link to="/data">Data</Link>
          <Link to="/runs">Runs</Link>
          <Link to="/plans">Plans</Link>
        </nav>
      </header>
      <main>
        {needsToken && (
          <TokenPrompt
            onSaved={() => {
              setNeedsToken(false);
              setGeneration((g) => g + 1);
            }}
          />
        )}
        <View key={`${generation}:${location.pathname}${location.search}`} route={route} />
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
