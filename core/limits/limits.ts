/**
 * Every bound on how much work one request may ask for, in one place, each with why it is what
 * it is. They are far above what a real machine-learning team writes (a training plan takes two
 * to five inputs, a Data carries a dozen tags) and low enough that the worst request is cheap:
 * matching cost grows with inputs × tags, and the cross product of inputs grows geometrically.
 * The README's "Limits" section lists them; a request over one gets 400 naming the field.
 */
export const LIMITS = {
  /** Each input multiplies the cross product, and adds a join to the matching statement. */
  inputsPerPlan: 16,
  /** Each output is a mount, a Data row per run and an upload; 16 is more than any trainer writes. */
  outputsPerPlan: 16,
  /** Tags ANDed by one selector (a plan input, a find query): one selects a handful of kinds. */
  tagsPerSelector: 32,
  /** Tags one Data may carry (its user tags, after any retag), and that a plan may give an output or the log. */
  tagsPerData: 64,
  /** Annotations are notes for people (owner=, ticket=), not a store. */
  annotationsPerPlan: 64,
  /** Entries of `entrypoint` and of `args` (each): container commands are short; a long list belongs in a file. */
  commandArgs: 256,
  /** Characters of one `entrypoint`/`args` entry. */
  commandArgLength: 4096,
  /** Ids or statuses ANDed/ORed by one runs query (`plan`, `in`, `out`, `status`), each. */
  idsPerQuery: 32,
  /**
   * JSON bodies (plans, tag changes) in bytes. The largest valid plan (16 inputs × 32 tags of
   * 1 KiB) is about 600 KiB; archives stream past this and have KNIT_MAX_DATA_BYTES instead.
   */
  jsonBodyBytes: 1 << 20,
  /**
   * Levels of nesting of a JSON body. A plan is four deep (inputs[0].tags[0]); walking a body
   * nested thousands deep would exhaust the stack before any schema could refuse it.
   */
  jsonDepth: 32,
  /**
   * Runs one plan may create in one matching pass. Above it the plan is marked (its `matchError`)
   * instead of being tried: 100,000 containers is already more than a team would start at once,
   * and one statement inserting millions of rows holds the matcher for minutes.
   */
  runsPerMatch: 100_000,
  /** The longest one plan's run creation may take in a matching pass before it is marked and skipped. */
  matchStatementMs: 120_000,
  /**
   * Nodes (Data and runs) one lineage answer may hold, unless KNIT_LINEAGE_MAX_NODES says
   * otherwise: a 20,000-node graph is a few MB of JSON, more than a screen or dot can show.
   */
  lineageNodes: 20_000,
  /**
   * Generations `knit data diff` walks up from the two Data, and pairs of Data it compares: each
   * generation is one database round trip, and a pair whose producers read the same Data ends
   * there, so real lineages are explained in a few generations and tens of pairs.
   */
  /**
   * Rows one page of a list (Data, runs, plans) holds unless `limit` asks for fewer, and the most
   * it may ask for: a page of 1,000 Data with their tags is about 1 MB of JSON, answered in tens of
   * milliseconds; more is read by following the `rel="next"` Link.
   */
  pageDefault: 500,
  pageMax: 1_000,
  diffDepth: 64,
  diffPairs: 1_000,
} as const;

/** The message of a count over its limit: `at most 16 inputs per plan, got 3000`. */
export function overLimit(max: number, what: string, got: number): string {
  return `at most ${max} ${what}, got ${got}`;
}
