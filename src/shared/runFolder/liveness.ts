import { readFileSync } from 'node:fs';

/** Whether the process that a run's `pid` names is still alive, and so may still be writing the run. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process lingers as a zombie until its parent reaps it; it trains nothing any more.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
