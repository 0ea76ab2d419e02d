// Worker-thread entry of a sweep. Plain JavaScript, so a bare worker thread can load it: it
// registers tsx's loader in this thread, then loads the TypeScript handler. piscina calls the
// default export with one SweepTask and sends back its CellStats.
import { register } from 'tsx/esm/api';

register();
const { runSweepTask } = await import('./task.ts');
export default runSweepTask;
