import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { ParamError } from './errors.ts';

/** Largest JSON input (grammar, sweep config, …) read: far above any grammar the tools draw, far below V8's string limit. */
export const MAX_JSON_BYTES = 256 * 1024 * 1024;

/**
 * Reads a whole regular file of at most `maxBytes` bytes. Anything else (a missing file, a
 * directory, a device such as /dev/zero, a FIFO, a file over the bound) is refused with a one-line
 * ParamError on `param` (`invalid --<param> "<path>" (…)`), after reading at most `maxBytes` + 1
 * bytes: a file that grows after the size check is still caught. FIFOs are refused before they
 * are opened, so the read never blocks on a missing writer.
 */
export function readBounded(path: string, maxBytes: number, param: string): Buffer {
  const refuse = (why: string): never => {
    throw new ParamError(param, `invalid --${param} "${path}" (${why})`);
  };
  const code = (e: unknown) => `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}`;
  const check = (st: { isFile(): boolean; size: number }) => {
    if (!st.isFile()) refuse('not a regular file');
    if (st.size > maxBytes) refuse(`${st.size} bytes, more than the ${maxBytes} allowed`);
  };
  let fd: number;
  try {
    check(statSync(path));
    // O_NONBLOCK: should the path turn into a FIFO between stat and open, opening it does not wait.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    if (e instanceof ParamError) throw e;
    return refuse(code(e));
  }
  try {
    check(fstatSync(fd));
    // Read to end of file, but never more than maxBytes + 1 bytes (the file may grow meanwhile).
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      const k = readSync(fd, chunk, 0, chunk.length, null);
      if (k === 0) break;
      chunks.push(chunk.subarray(0, k));
      total += k;
      if (total > maxBytes) refuse(`more than the ${maxBytes} bytes allowed`);
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    if (e instanceof ParamError) throw e;
    return refuse(code(e));
  } finally {
    closeSync(fd);
  }
}
