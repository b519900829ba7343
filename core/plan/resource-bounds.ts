import { availableParallelism, totalmem } from 'node:os';
import { parseQuantity } from './quantity.js';

/**
 * What a plan may ask of `resources`, so that a value no executor can apply is refused when the
 * plan is applied (400 naming the field), not found out by a run that retries for minutes.
 */

/** Docker's NanoCPUs granularity: a CFS quota below 1% of a core is refused by the kernel. */
export const MIN_CPU = 0.01;
/** Docker's smallest memory limit (6 MiB); below it the engine refuses the container. */
export const MIN_MEMORY = 6 * 2 ** 20;

/** The most one run may ask for: a deployment's largest execution host (KNIT_MAX_CPU, KNIT_MAX_MEMORY). */
export interface ResourceBounds {
  /** Cores. */
  maxCpu: number;
  /** Bytes. */
  maxMemory: number;
}

/** This machine's cores and memory: the bounds where the API runs beside the containers (`knit up`). */
export function hostResourceBounds(): ResourceBounds {
  return { maxCpu: availableParallelism(), maxMemory: totalmem() };
}

const GPU_NAMES = new Set(['gpu', 'nvidia.com/gpu']);

/**
 * Why a resource value cannot be applied whatever the host, or undefined when it can: a
 * malformed quantity, a CPU share finer than Docker applies, memory under Docker's minimum, a
 * fraction of a GPU.
 */
export function resourceValueProblem(name: string, raw: string): string | undefined {
  const value = parseQuantity(raw);
  if (value === undefined) return `must be a quantity such as 1, 0.5, 500m, 512Mi or 2Gi, got ${JSON.stringify(raw)}`;
  if (name === 'cpu' && value < MIN_CPU) return `must be at least ${MIN_CPU} (10m), the finest CPU share Docker applies, got ${JSON.stringify(raw)}`;
  if (name === 'memory' && value < MIN_MEMORY) return `must be at least 6Mi, the smallest memory limit Docker applies, got ${JSON.stringify(raw)}`;
  if (GPU_NAMES.has(name) && !Number.isInteger(value)) return `must be a whole number of GPUs, got ${JSON.stringify(raw)}`;
  return undefined;
}

/** Why a (well-formed) resource value is more than this deployment allows, or undefined. */
export function resourceBoundProblem(name: string, raw: string, bounds: ResourceBounds): string | undefined {
  const value = parseQuantity(raw);
  if (value === undefined) return undefined;
  if (name === 'cpu' && value > bounds.maxCpu) return `${JSON.stringify(raw)} is more than the ${bounds.maxCpu} cores a run may have here (KNIT_MAX_CPU)`;
  if (name === 'memory' && value > bounds.maxMemory) return `${JSON.stringify(raw)} is more than the ${bounds.maxMemory} bytes a run may have here (KNIT_MAX_MEMORY)`;
  return undefined;
}
