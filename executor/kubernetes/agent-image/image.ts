import { VERSION } from '../../../core/version.js';

/**
 * The agent image, as the Pod executor uses it and build.sh / scripts/build-agent-image.sh make
 * it: one name per knit version, so a Pod never runs an agent of another version than its knitd.
 */
export function agentImageName(version: string = VERSION): string {
  return `localhost/knit-agent:${version}`;
}

/** The image's entry point; a Pod runs `[...AGENT_ENTRYPOINT, 'fetch']` and so on. */
export const AGENT_ENTRYPOINT: readonly string[] = Object.freeze(['/usr/local/bin/node', '/knit/agent/main.js']);

/** The agent's commands, named once for the executor's Pod spec and the agent's own dispatch. */
export type AgentCommand = 'fetch' | 'keep' | 'ready' | 'stop';
