import { spawn, spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A single-node Slurm cluster for tests, provisioned on Debian or Ubuntu as root without systemd: Debian's
 * Slurm packages, munge, and slurmctld + slurmd configured in a folder of their own. Written for Slurm
 * 22.05 (Debian 12).
 */
export interface SlurmCluster {
  /** Environment for commands that talk to this cluster: process.env plus SLURM_CONF (and PATH as needed). */
  env: NodeJS.ProcessEnv;
  /** The partition jobs go to ('debug'). */
  partition: string;
  /** Folder holding slurm.conf, state, spool and daemon logs; the tail of these logs helps when a test fails. */
  dir: string;
  /** Last lines of slurmctld.log and slurmd.log, for a failing test's message. */
  logTail(lines?: number): string;
  /** Stops only the daemons this harness started (by pid from their pid files, checking /proc/<pid>/comm), removes nothing else. */
  stop(): Promise<void>;
}

const slurmPackages = ['slurmctld', 'slurmd', 'slurm-client', 'munge'];
const accountingPackages = ['slurmdbd', 'mariadb-server-core', 'mariadb-client-core'];
const partition = 'debug';
const clusterName = 'synthpair';
const pollIntervalMs = 250;
// Generous, so that a slow or busy machine waits longer instead of failing.
const startTimeoutMs = 60_000;
const stopTimeoutMs = 30_000;
const mungedPidFile = '/run/munge/munged.pid';
const mariadbSocketFolder = '/run/mysqld';

/** A daemon of the cluster: the name /proc/<pid>/comm gives it, and its pid file in the cluster's folder. */
interface Daemon {
  comm: string;
  pidFile: string;
}

/** Why the cluster cannot be provisioned here; provisionSlurm turns it into { skip }. */
class CannotProvision extends Error {}

/**
 * Starts the cluster, or resolves with { skip: reason } when it cannot be provisioned here (not root, not
 * Debian/Ubuntu with apt, packages not installable, daemons fail to come up: the reason says which and
 * includes the log tail).
 */
export async function provisionSlurm(
  options: { dir?: string; accounting?: boolean } = {},
): Promise<SlurmCluster | { skip: string }> {
  const unsupported = unsupportedHost();
  if (unsupported) return { skip: unsupported };
  const accounting = options.accounting ?? false;
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'slurm-cluster-'));
  mkdirSync(dir, { recursive: true });
  const env = clusterEnvironment(path.join(dir, 'slurm.conf'));
  const munge = { startedPid: undefined as number | undefined };
  const stop = async () => {
    await stopCluster(dir, env);
    await stopMunged(dir, munge.startedPid);
  };
  try {
    installMissingPackages(accounting ? [...slurmPackages, ...accountingPackages] : slurmPackages, env);
    const host = await resolvableShortHostname(env);
    // A cluster left running in this folder by an aborted run holds the ports the new one needs.
    await stopCluster(dir, env);
    assertNoForeignDaemons(dir);
    munge.startedPid = await ensureMunge(dir, env);
    writeConfiguration(dir, host, accounting);
    if (accounting) await startAccounting(dir, env);
    await startSlurm(dir, env);
  } catch (error) {
    await stop();
    if (error instanceof CannotProvision) return { skip: error.message };
    throw error;
  }
  return { env, partition, dir, logTail: (lines = 20) => logTail(dir, lines), stop };
}

/**
 * Slurm's commands read SLURM_* and SBATCH_* variables as defaults; ones inherited from an outer
 * allocation (SLURM_JOB_ID, SBATCH_PARTITION, ...) would steer them away from this cluster. The daemons
 * live in /usr/sbin, which a non-login PATH may lack.
 */
function clusterEnvironment(slurmConf: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^(SLURM|SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SACCT|SCANCEL|SCONTROL)_/.test(name),
    ),
  );
  const folders = (env['PATH'] ?? '').split(path.delimiter).filter(Boolean);
  for (const folder of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!folders.includes(folder)) folders.push(folder);
  }
  return { ...env, PATH: folders.join(path.delimiter), SLURM_CONF: slurmConf };
}

function run(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number },
): { ok: boolean; output: string } {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: options.env,
    input: options.input ?? '',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = [result.error?.message, result.stdout, result.stderr].filter(Boolean).join('\n').trim();
  return { ok: result.status === 0, output };
}

function lastLines(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Why this host cannot run the cluster at all, checked before anything is written or started. */
function unsupportedHost(): string | undefined {
  const uid = process.getuid?.();
  if (uid !== 0) return `not root (uid ${uid}): the daemons and apt-get need root`;
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const family = /^ID(_LIKE)?=.*\b(debian|ubuntu)\b/m.test(osRelease);
  if (!family || !existsSync('/usr/bin/apt-get') || !existsSync('/usr/bin/dpkg-query')) {
    return 'not Debian or Ubuntu with apt-get: the cluster is built from Debian packages';
  }
  return undefined;
}

/** dpkg-query, not `dpkg -s`: the latter also succeeds for a removed package whose config files remain. */
function isInstalled(debianPackage: string, env: NodeJS.ProcessEnv): boolean {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format field, not a template
  const status = run('dpkg-query', ['-W', '-f=${Status}', debianPackage], { env });
  return status.ok && status.output.endsWith('install ok installed');
}

function installMissingPackages(packages: readonly string[], env: NodeJS.ProcessEnv): void {
  const missing = packages.filter((debianPackage) => !isInstalled(debianPackage, env));
  if (missing.length === 0) return;
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  // Waits for a dpkg lock another install holds instead of failing at once.
  const install = () =>
    run(
      'apt-get',
      ['install', '-y', '-q', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=300', ...missing],
      { env: aptEnv, timeoutMs: 900_000 },
    );
  let attempt = install();
  if (!attempt.ok) {
    // Package lists may be missing or stale (a fresh image, a superseded version).
    const update = run('apt-get', ['update', '-q', '-o', 'DPkg::Lock::Timeout=300'], {
      env: aptEnv,
      timeoutMs: 600_000,
    });
    if (!update.ok) {
      throw new CannotProvision(`apt-get update failed:\n${lastLines(update.output, 15)}`);
    }
    attempt = install();
  }
  if (!attempt.ok) {
    throw new CannotProvision(
      `apt-get could not install ${missing.join(' ')}:\n${lastLines(attempt.output, 15)}`,
    );
  }
}

/** Slurm names the node `hostname -s` and looks that name up; a name that does not resolve stops slurmd. */
async function resolvableShortHostname(env: NodeJS.ProcessEnv): Promise<string> {
  const result = run('hostname', ['-s'], { env });
  const host = result.output;
  if (!result.ok || host === '') throw new CannotProvision(`hostname -s failed: ${result.output}`);
  try {
    await lookup(host);
  } catch (error) {
    throw new CannotProvision(
      `the host name ${host} does not resolve (${(error as Error).message}); add it to /etc/hosts`,
    );
  }
  return host;
}

function daemonsIn(dir: string): Daemon[] {
  // Stop order: the node before the controller, the controller before its database.
  return ['slurmd', 'slurmctld', 'slurmdbd', 'mariadbd'].map((comm) => ({
    comm,
    pidFile: path.join(dir, `${comm}.pid`),
  }));
}

function daemon(dir: string, comm: string): Daemon {
  return daemonsIn(dir).find((candidate) => candidate.comm === comm)!;
}

/** Alive and still the named program: a pid file may outlive its daemon, and the pid go to another process. */
function isRunning(pid: number, comm: string): boolean {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return false;
    // A killed daemon stays a zombie where pid 1 does not reap; it holds no ports and does no work.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function pidFrom(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function runningPid({ comm, pidFile }: Daemon): number | undefined {
  const pid = pidFrom(pidFile);
  return pid !== undefined && isRunning(pid, comm) ? pid : undefined;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollIntervalMs);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function stopProcess(pid: number, comm: string): Promise<void> {
  signal(pid, 'SIGTERM');
  if (await waitUntil(() => !isRunning(pid, comm), stopTimeoutMs)) return;
  signal(pid, 'SIGKILL');
  await waitUntil(() => !isRunning(pid, comm), stopTimeoutMs);
}

/**
 * Cancels the cluster's jobs first: a job's slurmstepd and its processes outlive slurmd, and would run on
 * unseen and confuse the next slurmd that finds their sockets in the spool folder.
 */
async function stopCluster(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const queueEmpty = () => {
    const jobs = run('squeue', ['-h', '-o', '%i'], { env });
    return !jobs.ok || jobs.output === '';
  };
  if (runningPid(daemon(dir, 'slurmctld')) !== undefined && !queueEmpty()) {
    run('scancel', [`--partition=${partition}`], { env });
    await waitUntil(queueEmpty, stopTimeoutMs);
  }
  for (const each of daemonsIn(dir)) {
    const pid = runningPid(each);
    if (pid !== undefined) await stopProcess(pid, each.comm);
  }
}

function pidsOf(comm: string): number[] {
  return readdirSync('/proc')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && isRunning(pid, comm));
}

/** A Slurm daemon that is not this folder's listens on the ports this cluster needs. */
function assertNoForeignDaemons(dir: string): void {
  for (const comm of ['slurmctld', 'slurmd', 'slurmdbd']) {
    const [pid] = pidsOf(comm);
    if (pid !== undefined) {
      throw new CannotProvision(
        `a ${comm} (pid ${pid}) that ${dir} did not start is running; its ports would clash with this cluster's`,
      );
    }
  }
}

function mungeWorks(env: NodeJS.ProcessEnv): boolean {
  const credential = run('munge', ['-n'], { env });
  return credential.ok && run('unmunge', [], { env, input: credential.output }).ok;
}

/** Where the pid of the munged this harness started is kept, so that a run after an aborted one owns it. */
function mungedMarker(dir: string): string {
  return path.join(dir, 'munged-started-here.pid');
}

/** Reuses a working munged, or starts one; resolves with the pid of the munged this harness owns, if any. */
async function ensureMunge(dir: string, env: NodeJS.ProcessEnv): Promise<number | undefined> {
  if (mungeWorks(env)) return runningPid({ comm: 'munged', pidFile: mungedMarker(dir) });
  mkdirSync('/run/munge', { recursive: true });
  const chown = run('chown', ['munge:munge', '/run/munge'], { env });
  if (!chown.ok) throw new CannotProvision(`cannot give /run/munge to the munge user: ${chown.output}`);
  const key = '/etc/munge/munge.key';
  if (!existsSync(key) || readFileSync(key).length === 0) {
    const created = run('runuser', ['-u', 'munge', '--', 'mungekey', '-c'], { env });
    if (!created.ok) throw new CannotProvision(`mungekey -c failed: ${created.output}`);
  }
  const started = run('runuser', ['-u', 'munge', '--', 'munged'], { env });
  if (!started.ok) throw new CannotProvision(`munged did not start: ${started.output}`);
  const works = await waitUntil(() => mungeWorks(env), startTimeoutMs);
  const pid = runningPid({ comm: 'munged', pidFile: mungedPidFile });
  if (pid !== undefined) writeFileSync(mungedMarker(dir), `${pid}\n`);
  if (!works) {
    await stopMunged(dir, pid);
    throw new CannotProvision('munged started, but `munge -n | unmunge` still fails');
  }
  return pid;
}

async function stopMunged(dir: string, pid: number | undefined): Promise<void> {
  if (pid === undefined || !isRunning(pid, 'munged')) return;
  await stopProcess(pid, 'munged');
  rmSync(mungedMarker(dir), { force: true });
}

function memoryMiB(): number {
  const total = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  const totalMiB = total ? Math.floor(Number(total[1]) / 1024) : Math.floor(os.totalmem() / 2 ** 20);
  // slurmd drains a node that reports less memory than configured; the margin keeps it clear of that.
  return Math.max(1, totalMiB - 1024);
}

function writeConfiguration(dir: string, host: string, accounting: boolean): void {
  for (const folder of ['state', 'spool', 'nocgroup']) mkdirSync(path.join(dir, folder), { recursive: true });
  const slurmConf = [
    `ClusterName=${clusterName}`,
    `SlurmctldHost=${host}`,
    'SlurmUser=root',
    'AuthType=auth/munge',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    // Tracking by parent pid and no task plugin: neither needs cgroups, which this kind of host may lack.
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    `AccountingStorageType=accounting_storage/${accounting ? 'slurmdbd' : 'none'}`,
    'MpiDefault=none',
    'MailProg=/bin/true',
    // SIGTERM to SIGKILL: short, so that cancelling and requeueing take seconds in tests.
    'KillWait=5',
    // Finished jobs stay visible to `scontrol show job` for a minute, then stop filling the job table.
    'MinJobAge=60',
    // Arrays as large as a study may submit; every started task, and each finished one for MinJobAge,
    // holds a job record of its own, hence the job count above the array size.
    'MaxArraySize=100001',
    'MaxJobCount=200000',
    // A requeued job waits cred_expire + 1 s before it may start again (120 s by default); 5 s is the least
    // Slurm accepts, and a credential used seconds after it was made on the same host needs little more.
    'AuthInfo=cred_expire=10',
    // Scheduling passes every second instead of every 30-60 s: a job that became eligible (a requeued one,
    // the next tasks of an array) starts within a second rather than after the next pass.
    'SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1',
    'JobRequeue=1',
    // A node that misses heartbeats on a loaded machine rejoins by itself once it answers again.
    'SlurmdTimeout=60',
    'ReturnToService=2',
    `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
    `StateSaveLocation=${path.join(dir, 'state')}`,
    `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
    `SlurmctldLogFile=${path.join(dir, 'slurmctld.log')}`,
    `SlurmdLogFile=${path.join(dir, 'slurmd.log')}`,
    `NodeName=${host} CPUs=${os.availableParallelism()} RealMemory=${memoryMiB()} State=UNKNOWN`,
    `PartitionName=${partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP`,
  ];
  writeFileSync(path.join(dir, 'slurm.conf'), `${slurmConf.join('\n')}\n`);
  // slurmd 22.05 initialises a cgroup plugin even with the settings above; v1 pinned to an empty folder
  // needs no cgroup file system at all.
  writeFileSync(
    path.join(dir, 'cgroup.conf'),
    `CgroupPlugin=cgroup/v1\nCgroupMountpoint=${path.join(dir, 'nocgroup')}\n`,
  );
  // Each start's logs alone, so that a tail shows this start's errors and not an earlier run's.
  for (const name of ['slurmctld', 'slurmd', 'slurmdbd', 'mariadbd']) {
    rmSync(path.join(dir, `${name}.log`), { force: true });
  }
}

function logTail(dir: string, lines: number): string {
  return ['slurmctld', 'slurmd', 'slurmdbd', 'mariadbd']
    .map((name) => path.join(dir, `${name}.log`))
    .filter((file) => existsSync(file))
    .map((file) => `==> ${file} <==\n${lastLines(readFileSync(file, 'utf8'), lines)}`)
    .join('\n');
}

/**
 * A daemon that has exited again, so that waiting longer for it is pointless. It may die before it writes
 * its pid file (a port in use), so this looks for the program itself: with no foreign daemons running (see
 * assertNoForeignDaemons), any is this cluster's.
 */
function exitedDaemon(comms: readonly string[]): string | undefined {
  return comms.find((comm) => pidsOf(comm).length === 0);
}

/** Runs a daemon that forks into the background, with no stale pid file to mistake for its own. */
function startDaemon(dir: string, env: NodeJS.ProcessEnv, comm: string, args: readonly string[] = []): void {
  rmSync(daemon(dir, comm).pidFile, { force: true });
  const started = run(comm, args, { env });
  if (!started.ok) {
    throw new CannotProvision(`${comm} did not start: ${started.output}\n${logTail(dir, 20)}`);
  }
}

async function startSlurm(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  // -c: a clean start that ignores the jobs and node states an earlier run saved in this folder.
  startDaemon(dir, env, 'slurmctld', ['-c']);
  startDaemon(dir, env, 'slurmd');
  let nodeState = '';
  await waitUntil(() => {
    nodeState = run('sinfo', ['-h', '-o', '%t'], { env }).output;
    return nodeState === 'idle' || exitedDaemon(['slurmctld', 'slurmd']) !== undefined;
  }, startTimeoutMs);
  if (nodeState === 'idle') return;
  const exited = exitedDaemon(['slurmctld', 'slurmd']);
  throw new CannotProvision(
    `${exited ? `${exited} exited during start-up` : `the node was not idle after ${startTimeoutMs / 1000} s`} ` +
      `(sinfo: ${nodeState || 'nothing'}):\n${logTail(dir, 20)}`,
  );
}

function mariadbAnswers(env: NodeJS.ProcessEnv): boolean {
  return run('mariadb', ['--no-defaults', '-uroot', '-e', 'select 1'], { env }).ok;
}

/** MariaDB in the cluster's folder, on Debian's default socket where slurmdbd's MySQL client looks. */
async function startMariadb(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  if (mariadbAnswers(env)) {
    throw new CannotProvision(`a MariaDB that ${dir} did not start answers on ${mariadbSocketFolder}`);
  }
  mkdirSync(mariadbSocketFolder, { recursive: true });
  const dataDir = path.join(dir, 'mariadb');
  if (!existsSync(path.join(dataDir, 'mysql'))) {
    const installed = run(
      'mariadb-install-db',
      ['--no-defaults', '--user=root', `--datadir=${dataDir}`, '--skip-test-db'],
      { env, timeoutMs: 300_000 },
    );
    if (!installed.ok)
      throw new CannotProvision(`mariadb-install-db failed:\n${lastLines(installed.output, 15)}`);
  }
  const { pidFile } = daemon(dir, 'mariadbd');
  rmSync(pidFile, { force: true });
  // mariadbd stays in the foreground; detached, it outlives this process like the other daemons.
  const server = spawn(
    'mariadbd',
    [
      '--no-defaults',
      '--user=root',
      `--datadir=${dataDir}`,
      '--skip-networking',
      `--socket=${path.join(mariadbSocketFolder, 'mysqld.sock')}`,
      `--pid-file=${pidFile}`,
      `--log-error=${path.join(dir, 'mariadbd.log')}`,
    ],
    { env, detached: true, stdio: 'ignore' },
  );
  let exited = false;
  server.on('exit', () => {
    exited = true;
  });
  server.unref();
  await waitUntil(() => exited || mariadbAnswers(env), startTimeoutMs);
  if (!mariadbAnswers(env)) {
    throw new CannotProvision(
      `MariaDB did not come up${exited ? ' (mariadbd exited)' : ''}:\n${logTail(dir, 20)}`,
    );
  }
}

async function startAccounting(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  await startMariadb(dir, env);
  const slurmdbdConf = path.join(dir, 'slurmdbd.conf');
  const settings = [
    'AuthType=auth/munge',
    'DbdHost=localhost',
    'SlurmUser=root',
    'StorageType=accounting_storage/mysql',
    'StorageHost=localhost',
    'StorageUser=root',
    `PidFile=${daemon(dir, 'slurmdbd').pidFile}`,
    `LogFile=${path.join(dir, 'slurmdbd.log')}`,
  ];
  writeFileSync(slurmdbdConf, `${settings.join('\n')}\n`);
  // slurmdbd refuses a configuration others can read: it may hold the database password.
  chmodSync(slurmdbdConf, 0o600);
  startDaemon(dir, env, 'slurmdbd');
  const listClusters = () => run('sacctmgr', ['-n', '-P', 'list', 'cluster', 'format=cluster'], { env });
  const answered = await waitUntil(
    () => listClusters().ok || exitedDaemon(['slurmdbd']) !== undefined,
    startTimeoutMs,
  );
  const clusters = listClusters();
  if (!answered || !clusters.ok) {
    throw new CannotProvision(`slurmdbd did not answer sacctmgr: ${clusters.output}\n${logTail(dir, 20)}`);
  }
  // slurmctld registers with slurmdbd only as a cluster the database already knows.
  if (!clusters.output.split('\n').includes(clusterName)) {
    const added = run('sacctmgr', ['-i', 'add', 'cluster', clusterName], { env });
    if (!added.ok) throw new CannotProvision(`sacctmgr could not add the cluster: ${added.output}`);
  }
}
