/**
 * Ctrl-C (SIGINT), or SIGTERM from a batch scheduler, during a run that can be continued: what is
 * finished is already on disk (results are written line by line, training is checkpointed), so say
 * in one line on stderr how to go on, then end as the signal would (exit 130, or 143 for SIGTERM).
 *
 * `label` names the command (`reproduce`), `hint` what to do (`run the same command with --resume
 * to continue`); `before` runs first (stop a progress bar). Returns a function that removes the
 * handlers: call it once the run is over.
 */
export function explainInterrupt(label: string, hint: string, before?: () => void): () => void {
  const stop = (signal: NodeJS.Signals): void => {
    before?.();
    // A progress bar leaves the cursor mid-line on a terminal: start the message on a line of its own.
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}${label}: interrupted (${signal}): ${hint}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
}

/** The usual hint: `run the same command with --resume to continue (finished WHAT are saved in WHERE)`. */
export function resumeHint(saved: string): string {
  return `run the same command with --resume to continue (${saved})`;
}
