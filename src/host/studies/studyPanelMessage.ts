import type { HostToStudyPanel } from '../../shared/protocol/studyPanel';
import type { StudyEntry } from './studyCatalog';

/** What the study panel of `file` shows: the study as the catalog holds it, or why there is none to show. */
export function studyPanelMessage(file: string, entry: StudyEntry | undefined): HostToStudyPanel {
  const noStudy = (reason: string): HostToStudyPanel => ({ type: 'noStudy', studyFile: file, reason });
  if (!entry)
    return noStudy('This study file is not in a folder of the workspace, so SynthPair does not follow it.');
  if (entry.problem !== undefined) return noStudy(`The study file is not valid: ${entry.problem}`);
  if (entry.folderProblem !== undefined)
    return noStudy(`The study folder cannot be read: ${entry.folderProblem}`);
  const { state, study, plan } = entry;
  if (!study || !plan) return noStudy('The study file is being read.');
  if (!state) {
    const trials = plan.trials.length;
    return noStudy(
      `This study has not run yet. Run Study trains its ${trials} trial${trials === 1 ? '' : 's'} into ${entry.studyDir}.`,
    );
  }
  return {
    type: 'study',
    studyFile: file,
    studyDir: state.studyDir,
    active: entry.active,
    executor: study.executor.kind,
    trials: state.trials,
    table: state.table,
  };
}
