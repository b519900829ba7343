import { DockerEngine } from '../../executor/docker/engine.js';

/**
 * Removes the containers of one test instance (a random KNIT_INSTANCE, never another test's), so
 * that a chaos test that failed half-way leaves nothing behind. Run only after the assertions.
 */
export async function removeInstanceContainers(instance: string): Promise<void> {
  const engine = new DockerEngine();
  for (const c of await engine.list({ 'knit.instance': instance }).catch(() => [])) {
    await engine.stop(c.id, 0).catch(() => {});
    await engine.remove(c.id).catch(() => {});
  }
}
