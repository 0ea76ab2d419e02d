/**
 * Browser stand-in for the one `node:os` function the library reads (src/core/resources.ts:
 * half the machine's memory caps a request). The page sizes its own work, so a nominal 8 GiB
 * (a 4 GiB limit, the library's default cap) is enough.
 */
export function totalmem(): number {
  return 8 * 2 ** 30;
}
