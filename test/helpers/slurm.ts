import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * A single-node Slurm cluster of this machine, started for a test file: its own munge key and
 * socket, slurm.conf, state, spool, logs and pid files in a temp folder, and ports that are free,
 * so it touches nothing of the system's (no /etc/slurm, no /run/munge). Client commands (sbatch,
 * squeue, scancel) find it through SLURM_CONF in `env`.
 */
export interface SlurmCluster {
  dir: string;
  /** The environment to run Slurm clients (and hierdiff, which runs them) with. */
  env: NodeJS.ProcessEnv;
  stop(): void;
}

const SLURM_COMMANDS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo', 'scontrol'];

function which(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function run(command: string, args: string[], env?: NodeJS.ProcessEnv): void {
  const r = spawnSync(command, args, { encoding: 'utf8', env, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${String(r.status ?? r.error)}): ${r.stderr}`);
}

function killByPidFile(path: string): void {
  if (!existsSync(path)) return;
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  // Wait for it to go, so the next cluster (or the temp folder's removal) does not race it.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    spawnSync('sleep', ['0.1']);
  }
}

/**
 * Why a Slurm cluster cannot be started here, or null when it can: the daemons run as root
 * (SlurmUser=root), and the Debian packages slurmctld, slurmd, slurm-client and munge must be
 * installed (.ci/run installs them).
 */
export function slurmUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (the single-node Slurm runs its daemons as root)';
  const missing = SLURM_COMMANDS.filter((d) => !which(d));
  if (missing.length > 0) return `${missing.join(', ')} not installed (apt-get install slurmctld slurmd slurm-client munge)`;
  return null;
}

/** Starts the cluster and waits until its node is idle; throws with the daemons' logs when it does not come up. */
export async function startSlurm(): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hierdiff-slurm-'));
  // munged checks that the folders on its socket's path are searchable by all.
  chmodSync(dir, 0o755);
  for (const sub of ['munge', 'state', 'spool', 'log']) mkdirSync(join(dir, sub));
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(128), { mode: 0o400 });
  const socket = join(dir, 'munge', 'munge.sock');
  const pidFiles = [join(dir, 'slurmd.pid'), join(dir, 'slurmctld.pid'), join(dir, 'munge', 'munged.pid')];
  const stop = () => {
    for (const f of pidFiles) killByPidFile(f);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('munged', ['--force', `--key-file=${key}`, `--socket=${socket}`, `--pid-file=${pidFiles[2]}`, `--seed-file=${join(dir, 'munge', 'seed')}`, `--log-file=${join(dir, 'log', 'munged.log')}`]);
    const host = hostname().split('.')[0];
    const conf = join(dir, 'slurm.conf');
    writeFileSync(
      conf,
      [
        'ClusterName=hierdiff-test',
        `SlurmctldHost=${host}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'ReturnToService=2',
        'MpiDefault=none',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        `SlurmctldPort=${await freePort()}`,
        `SlurmdPort=${await freePort()}`,
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${pidFiles[1]}`,
        `SlurmdPidFile=${pidFiles[0]}`,
        `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
        `NodeName=${host} CPUs=${availableParallelism()} RealMemory=1000 State=UNKNOWN`,
        `PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    const env = { ...process.env, SLURM_CONF: conf };
    run('slurmctld', ['-f', conf], env);
    run('slurmd', ['-f', conf], env);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = spawnSync('sinfo', ['--noheader', '--format', '%t'], { encoding: 'utf8', env }).stdout?.trim();
      if (state === 'idle') break;
      if (Date.now() > deadline) {
        const log = (name: string) => (existsSync(join(dir, 'log', name)) ? readFileSync(join(dir, 'log', name), 'utf8').slice(-2000) : '');
        throw new Error(`the test Slurm node did not become idle (sinfo: "${state ?? ''}")\n${log('slurmctld.log')}\n${log('slurmd.log')}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return { dir, env, stop };
  } catch (e) {
    stop();
    throw e;
  }
}
