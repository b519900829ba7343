/**
 * A lone `-` argument (stdin or stdout, as in `plan apply -` and `data pull ID -`). yargs drops
 * a bare `-`, so main() passes it on as this stand-in, which handlers recognise.
 */
export const STDIO_ARG = '\u0000stdio';

export function isStdio(arg: string | undefined): boolean {
  return arg === STDIO_ARG || arg === '-';
}
