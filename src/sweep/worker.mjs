// Worker-thread entry of a sweep run from source. Plain JavaScript, so a bare worker thread can
// load it: it registers tsx's loader in this thread, then loads the TypeScript handler. piscina
// calls the export named runSweepTaskOnWorker with one SweepTask and sends back its reply.
import { register } from 'tsx/esm/api';

register();
export const { runSweepTaskOnWorker } = await import('./task.ts');
