/**
 * A run status as one of four tones, so every rendering (tree colours, dot and mermaid fills)
 * paints a status alike: finished well, failed, still under way, or out of play.
 */
export type Tone = 'ok' | 'bad' | 'busy' | 'idle';

const TONES: Readonly<Record<string, Tone>> = {
  done: 'ok',
  failed: 'bad',
  waiting: 'busy',
  ready: 'busy',
  starting: 'busy',
  running: 'busy',
  completing: 'busy',
  aborting: 'busy',
};

// Unknown statuses (a newer server's) are idle rather than an error: a drawing should still draw.
export function statusTone(status: string): Tone {
  return TONES[status] ?? 'idle';
}

/** Fill colours per tone, shared by the dot and mermaid renderings. */
export const TONE_FILL: Readonly<Record<Tone, string>> = { ok: '#d4edda', bad: '#f8d7da', busy: '#fff3cd', idle: '#eeeeee' };

const ANSI: Readonly<Record<Tone, string>> = { ok: '32', bad: '31', busy: '33', idle: '90' };

/** `text` in its tone's terminal colour (green, red, yellow, grey) when `color`, else as is. */
export function paint(text: string, tone: Tone, color: boolean): string {
  return color ? `\x1b[${ANSI[tone]}m${text}\x1b[0m` : text;
}
