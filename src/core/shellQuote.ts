/**
 * Shell-quotes an argument for a POSIX shell only when needed, so a command line can be pasted
 * back (recorded commands) or run by a batch script.
 */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
