import { closeSync, linkSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { ParamError } from './errors.ts';

/** What a lock file holds: who writes the file it guards, and since when. */
export interface LockInfo {
  pid: number;
  hostname: string;
  /** ISO time the holder took the lock. */
  started: string;
}

/** A held lock; `release` is idempotent. */
export interface FileLock {
  readonly path: string;
  release(): void;
}

function readLock(path: string): { text: string; info: LockInfo | null } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (Number.isInteger(o.pid) && (o.pid as number) > 0 && typeof o.hostname === 'string' && typeof o.started === 'string') {
      return { text, info: { pid: o.pid as number, hostname: o.hostname, started: o.started } };
    }
  } catch {
    // Not a lock this code wrote: treated as held (never taken over blindly).
  }
  return { text, info: null };
}

/** True when `pid` is a running process on this host (EPERM: it exists but is not ours). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates `path` holding `text`, or returns false when it exists. The file appears complete or not at all. */
function createExclusive(path: string, text: string): boolean {
  // Written beside it, then hard-linked into place: link fails with EEXIST like O_EXCL does, and a
  // reader never sees an empty lock file.
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    try {
      linkSync(tmp, path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  // File systems without hard links: plain O_CREAT | O_EXCL.
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock `<target>.lock` for writing `target`: a file created exclusively, holding this
 * process's pid, host name and start time. A lock whose pid is not running on this host is stale
 * (its run was killed) and is taken over. Another live holder, or a lock from another host or
 * one that cannot be read, is refused with a one-line ParamError on `param` that names the holder
 * and the lock file (`shownAs` is the target as the user gave it).
 *
 * Release the lock when done; the caller also releases it on exit and signals (see
 * {@link releaseOnExit}). A lock is advisory: only runs that take it are kept apart.
 */
export function acquireLock(target: string, param: string, shownAs = target): FileLock {
  const path = `${target}.lock`;
  const mine: LockInfo = { pid: process.pid, hostname: hostname(), started: new Date().toISOString() };
  const text = `${JSON.stringify(mine)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let created: boolean;
    try {
      created = createExclusive(path, text);
    } catch (e) {
      throw new ParamError(param, `cannot lock results file ${shownAs} (${(e as NodeJS.ErrnoException).code ?? 'cannot write'} on ${shownAs}.lock)`);
    }
    if (created) {
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          // Only our own lock: never one another run has taken over meanwhile.
          const now = readLock(path);
          if (now && now.text === text) rmSync(path, { force: true });
        },
      };
    }
    const held = readLock(path);
    if (held === null) continue; // released between our attempt and the read: try again
    const info = held.info;
    if (info === null) {
      throw new ParamError(param, `results file ${shownAs} is locked by ${shownAs}.lock, which cannot be read; remove it if no run is writing ${shownAs}`);
    }
    const stale = info.hostname === mine.hostname && info.pid !== process.pid && !alive(info.pid);
    if (!stale) {
      const where = info.hostname === mine.hostname ? '' : ` on ${info.hostname}`;
      throw new ParamError(
        param,
        `results file ${shownAs} is being written by another run (pid ${info.pid}${where}, started ${info.started}); wait for it or remove ${shownAs}.lock if that run is gone`,
      );
    }
    // Stale: remove it only if it is still the lock we judged (another run may have taken it over).
    const again = readLock(path);
    if (again && again.text === held.text) {
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new ParamError(param, `cannot take over the stale lock ${shownAs}.lock (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
  }
  throw new ParamError(param, `cannot lock results file ${shownAs}: ${shownAs}.lock keeps changing (another run is starting on it)`);
}

/**
 * Releases `lock` when the process exits (including `process.exit` from a signal handler) and on
 * SIGINT/SIGTERM: the lock is removed, then, when nothing else handles the signal, the signal is
 * raised again so the process ends as it would have. Returns a function that removes these hooks.
 */
export function releaseOnExit(lock: FileLock): () => void {
  const onExit = () => lock.release();
  const onSignal = (signal: NodeJS.Signals) => {
    lock.release();
    remove();
    // Other handlers (the CLI's) run too and decide how to exit; alone, end as the signal would.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const remove = () => {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return remove;
}
