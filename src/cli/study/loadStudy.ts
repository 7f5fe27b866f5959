import path from 'node:path';
import { parseExperimentConfig } from '../../shared/config/experiment/parse';
import { isStudyFileName, type StudyFile, studyFileSuffix } from '../../shared/config/study/definitions';
import { parseStudyFile } from '../../shared/config/study/parse';
import type { StudyManifest } from '../../shared/protocol/studyFiles';
import { planStudy, studyFolderOf } from '../../shared/study/plan';
import { formatDiagnostic } from '../diagnostics';
import { readConfigFile, UsageError } from '../runCommand';

export interface LoadedStudy {
  file: string;
  study: StudyFile;
  studyDir: string;
  plan: Omit<StudyManifest, 'updatedAt'>;
}

/**
 * Reads and checks a study file, and every trial it plans against the base experiment, so that a typo in a
 * condition is reported here, by file and line, and not by a trial that fails an hour into the queue.
 */
export async function loadStudy(file: string, warn: (message: string) => void): Promise<LoadedStudy> {
  if (!isStudyFileName(file)) {
    throw new UsageError(`${file}: not a study file (*${studyFileSuffix})`);
  }
  const text = await readConfigFile(file);
  const { study, diagnostics } = parseStudyFile(text);
  for (const diagnostic of diagnostics) {
    if (diagnostic.severity === 'warning' || !study) warn(formatDiagnostic(file, text, diagnostic));
  }
  if (!study) throw new UsageError(`${file}: not a valid study (see above)`);
  const plan = planStudy(study, file);
  const experimentText = await readConfigFile(plan.experimentFile).catch((error: unknown) => {
    throw new UsageError(`${file}: experiment ${study.experiment}: ${(error as Error).message}`);
  });
  const problems = new Set<string>();
  for (const trial of plan.trials) {
    const parsed = parseExperimentConfig(experimentText, { overrides: trial.overrides });
    for (const diagnostic of parsed.diagnostics) {
      if (diagnostic.severity !== 'error') continue;
      problems.add(`condition ${trial.condition}: ${diagnostic.message.replace(/ \(from --set .*\)$/, '')}`);
    }
  }
  if (problems.size > 0) {
    for (const problem of problems) warn(`${file}: error: ${problem}`);
    throw new UsageError(
      `${file}: ${problems.size} condition(s) make an invalid experiment of ${path.basename(plan.experimentFile)} (see above)`,
    );
  }
  return { file: path.resolve(file), study, studyDir: studyFolderOf(study, file), plan };
}
