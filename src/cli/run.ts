// The command-line entry: runs `hierdiff` with this process's arguments. bin/hierdiff.js loads it
// (compiled, dist/cli/run.js, in the installed package; through tsx in a checkout).
import { main } from './main.ts';

// `hierdiff ... | head` closes stdout early: that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
await main(process.argv);
