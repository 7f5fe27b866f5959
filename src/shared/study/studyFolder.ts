import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod/mini';
import {
  type StudyManifest,
  type StudySubmission,
  studyManifest,
  studySubmission,
  type TrialAttempt,
  trialAttempt,
} from '../protocol/studyFiles';
import { writeJsonAtomically } from '../runFolder/atomicFiles';
import { appendJsonLine, readJsonLines } from '../runFolder/jsonLines';

/** The files of a study folder besides its trials' run folders. */
export const studyFileNames = {
  manifest: 'study.json',
  submissions: 'submissions.jsonl',
  attempts: 'attempts.jsonl',
  logs: 'logs',
  slurm: 'slurm',
  tableMarkdown: 'table.md',
  tableCsv: 'table.csv',
  tableJson: 'table.json',
} as const;

export class StudyFolderError extends Error {
  override name = 'StudyFolderError';
}

export function studyPath(studyDir: string, kind: keyof typeof studyFileNames): string {
  return path.join(studyDir, studyFileNames[kind]);
}

/** A trial's own log: what its processes printed, every attempt appended, each headed by where and when it ran. */
export function trialLogFile(studyDir: string, trial: string): string {
  return path.join(studyDir, studyFileNames.logs, `${trial}.log`);
}

/** Slurm's own output of an array task (`--output`), where what failed before the trial started is. */
export function slurmOutputFile(studyDir: string, jobId: string, task: number): string {
  return path.join(studyDir, studyFileNames.slurm, `slurm-${jobId}_${task}.out`);
}

export function trialFolder(studyDir: string, trial: string): string {
  return path.join(studyDir, trial);
}

/** The study's manifest, or undefined when no `study run` has written one yet. */
export async function readStudyManifest(studyDir: string): Promise<StudyManifest | undefined> {
  const file = studyPath(studyDir, 'manifest');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StudyFolderError(`${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new StudyFolderError(`${file} is not JSON (${(error as Error).message})`);
  }
  const parsed = studyManifest.safeParse(value);
  if (!parsed.success) {
    throw new StudyFolderError(`${file} is not a study manifest: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export async function writeStudyManifest(studyDir: string, manifest: StudyManifest): Promise<void> {
  await mkdir(studyDir, { recursive: true });
  await writeJsonAtomically(studyPath(studyDir, 'manifest'), manifest);
}

export async function appendSubmission(studyDir: string, submission: StudySubmission): Promise<void> {
  await appendJsonLine(studyPath(studyDir, 'submissions'), submission);
}

/** Every submission, oldest first; a line that cannot be read (cut short by a crash) is passed over. */
export async function readSubmissions(studyDir: string): Promise<StudySubmission[]> {
  return (await readJsonLines(studyPath(studyDir, 'submissions'), studySubmission)).records;
}

/** The newest submission of each trial: the one whose scheduler state is the trial's. */
export function latestSubmissionOf(submissions: readonly StudySubmission[]): Map<string, StudySubmission> {
  const latest = new Map<string, StudySubmission>();
  for (const submission of submissions) {
    for (const trial of submission.trials) latest.set(trial, submission);
  }
  return latest;
}

export async function appendTrialAttempt(studyDir: string, attempt: TrialAttempt): Promise<void> {
  await appendJsonLine(studyPath(studyDir, 'attempts'), attempt);
}

/** Each trial's last attempt that has ended. */
export async function readLastAttempts(studyDir: string): Promise<Map<string, TrialAttempt>> {
  const { records } = await readJsonLines(studyPath(studyDir, 'attempts'), trialAttempt);
  return new Map(records.map((attempt) => [attempt.trial, attempt]));
}

/** The Slurm job arrays a study has submitted, each once. */
export function slurmJobIdsOf(submissions: readonly StudySubmission[]): string[] {
  return [
    ...new Set(submissions.flatMap((submission) => (submission.kind === 'slurm' ? [submission.jobId] : []))),
  ];
}
