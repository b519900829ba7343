import { useState } from 'react';
import { saveToken } from '../api.js';

/** Shown when the API answered 401: the token is kept in localStorage and sent on every call. */
export function TokenPrompt({ onSaved }: { onSaved: () => void }) {
  const [token, setToken] = useState('');
  return (
    <form
      className="token-prompt"
      data-testid="token-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        saveToken(token.trim());
        onSaved();
      }}
    >
      <p>This knit needs a token (KNIT_TOKEN). It is kept in this browser and sent as a bearer token.</p>
      <input type="password" aria-label="token" data-testid="token-input" value={token} onChange={(e) => setToken(e.target.value)} autoFocus />
      <button type="submit" disabled={token.trim() === ''}>
        Use token
      </button>
    </form>
  );
}
