import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KnitError } from '../../core/errors/knit-error.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One local stack per KNIT_HOME: the embedded database may only have one owner. A lock left by
 * a process that no longer exists is taken over.
 */
export function acquireStackLock(home: string): () => void {
  mkdirSync(home, { recursive: true });
  const path = join(home, 'up.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new KnitError('conflict', `knit is already up for ${home} (pid ${pid}); stop it with Ctrl-C there, or use another KNIT_HOME`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new KnitError('conflict', `could not take the lock ${path}`);
}
