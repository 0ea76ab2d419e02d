/** Resolves after `ms` milliseconds (for tests that wait on a process they started). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
