import { experimentFileSuffix } from '../../shared/config/experiment/choices';
import { settingDefinitions, settingsSection } from '../../shared/config/settings';
import { studyFileSuffix } from '../../shared/config/study/definitions';
import { commandDefinitions, contextKeys } from './commandIds';
import { walkthroughContributions } from './walkthrough';

export const runsViewId = 'synthpair.runs';
/** The heat-map editor's viewType (src/host/heatmapEditor/heatmapEditor.ts registers it). */
export const heatmapEditorViewType = 'synthpair.heatmap';
const viewContainerId = 'synthpair';

const isExperimentFile = `resourceFilename =~ /${experimentFileSuffix.replaceAll('.', '\\.')}$/`;
const isBusy = `resourcePath in ${contextKeys.busyConfigs}`;
const isStudyFile = `resourceFilename =~ /${studyFileSuffix.replaceAll('.', '\\.')}$/`;
const isActiveStudy = `resourcePath in ${contextKeys.activeStudies}`;

/** `viewItem` values of the Runs view's nodes, which its menus match. */
export const runsViewItems = {
  config: 'config',
  queued: 'queued',
  run: (state: string, live: boolean) => `run.${state}${live ? '.live' : ''}`,
  study: (active: boolean) => (active ? 'study.active' : 'study'),
  invalidStudy: 'study.invalid',
  condition: 'condition',
  /** `.run` when the trial has a run folder, which the dashboard can show. */
  trial: (state: string, hasRun: boolean) => `trial.${state}${hasRun ? '.run' : ''}`,
} as const;

const { runExperiment, stopRun, resumeRun, openDashboard, revealRunFolder, deleteRun } = commandDefinitions;
const { runStudy, cancelStudy, openStudyPanel, exportStudyTable, openTrialLog } = commandDefinitions;
/** Trials with a run folder, which the dashboard shows and the file explorer reveals. */
const isTrialWithRun = `viewItem =~ /^trial\\..*\\.run$/`;
/** Trials whose scheduler has begun them, and so has written their log: all but those still waiting. */
const isTrialWithLog = `viewItem =~ /^trial\\./ && !(viewItem =~ /^trial\\.(pending|queued)$/)`;

type SettingDefinition = (typeof settingDefinitions)[keyof typeof settingDefinitions] & {
  restricted?: boolean;
};
const settings = Object.entries(settingDefinitions) as [string, SettingDefinition][];

/** `capabilities.untrustedWorkspaces.restrictedConfigurations`, generated into package.json beside `contributes`. */
export function restrictedConfigurations(): string[] {
  return settings
    .filter(([, definition]) => definition.restricted === true)
    .map(([name]) => `${settingsSection}.${name}`);
}

/** What the extension contributes to VS Code, generated into package.json by `npm run generate`. */
export function manifestContributions() {
  return {
    commands: Object.values(commandDefinitions).map((definition) => ({
      command: definition.id,
      title: definition.title,
      category: definition.category,
      ...('icon' in definition ? { icon: definition.icon } : {}),
      ...('enablement' in definition ? { enablement: definition.enablement } : {}),
    })),
    configuration: {
      title: 'SynthPair',
      // VS Code learns which settings are restricted from `restrictedConfigurations` only.
      properties: Object.fromEntries(
        settings.map(([name, { restricted, ...schema }]) => [`${settingsSection}.${name}`, schema]),
      ),
    },
    // The schema lets comments and trailing commas through (VS Code's `allowComments`), so the files need
    // no `jsonc` language association.
    jsonValidation: [
      { fileMatch: `*${experimentFileSuffix}`, url: './media/schema/experiment.schema.json' },
      { fileMatch: `*${studyFileSuffix}`, url: './media/schema/study.schema.json' },
    ],
    // Offered by Open With on any image rather than replacing the image preview: most images are not data.
    customEditors: [
      {
        viewType: heatmapEditorViewType,
        displayName: 'SynthPair: Heatmap',
        selector: [{ filenamePattern: '*.png' }, { filenamePattern: '*.jpg' }, { filenamePattern: '*.jpeg' }],
        priority: 'option',
      },
    ],
    viewsContainers: {
      activitybar: [{ id: viewContainerId, title: 'SynthPair', icon: 'media/activity.svg' }],
    },
    views: {
      [viewContainerId]: [
        { id: runsViewId, name: 'Runs', contextualTitle: 'SynthPair', icon: 'media/activity.svg' },
      ],
    },
    viewsWelcome: [
      {
        view: runsViewId,
        contents: `No SynthPair experiments in this workspace yet.\n[New Experiment](command:${commandDefinitions.newExperiment.id})\nAn experiment is a *${experimentFileSuffix} file. Its runs appear here, grouped by experiment, whether they were started from VS Code or from the synthpair command line. A study (*${studyFileSuffix}) compares conditions of an experiment over seeds; it appears here with its trials.`,
      },
    ],
    walkthroughs: walkthroughContributions(),
    menus: {
      // Cancel Study has nothing to offer while no study works; Open Trial Log needs a trial of the Runs view.
      commandPalette: [
        { command: cancelStudy.id, when: contextKeys.activeStudies },
        { command: openTrialLog.id, when: 'false' },
      ],
      'editor/title': [
        {
          command: runExperiment.id,
          when: `${isExperimentFile} && !(${isBusy}) && isWorkspaceTrusted`,
          group: 'navigation@1',
        },
        { command: stopRun.id, when: `${isExperimentFile} && ${isBusy}`, group: 'navigation@1' },
        { command: openDashboard.id, when: isExperimentFile, group: 'navigation@2' },
        {
          command: commandDefinitions.runWithOverrides.id,
          when: `${isExperimentFile} && isWorkspaceTrusted`,
          group: '1_run@1',
        },
        {
          command: runStudy.id,
          when: `${isStudyFile} && !(${isActiveStudy}) && isWorkspaceTrusted`,
          group: 'navigation@1',
        },
        { command: cancelStudy.id, when: `${isStudyFile} && ${isActiveStudy}`, group: 'navigation@1' },
        { command: openStudyPanel.id, when: isStudyFile, group: 'navigation@2' },
        { command: exportStudyTable.id, when: isStudyFile, group: '1_run@2' },
      ],
      'explorer/context': [
        {
          command: runExperiment.id,
          when: `${isExperimentFile} && isWorkspaceTrusted`,
          group: 'synthpair@1',
        },
        {
          command: commandDefinitions.runWithOverrides.id,
          when: `${isExperimentFile} && isWorkspaceTrusted`,
          group: 'synthpair@2',
        },
        {
          command: runStudy.id,
          when: `${isStudyFile} && !(${isActiveStudy}) && isWorkspaceTrusted`,
          group: 'synthpair@1',
        },
        { command: cancelStudy.id, when: `${isStudyFile} && ${isActiveStudy}`, group: 'synthpair@1' },
        { command: openStudyPanel.id, when: isStudyFile, group: 'synthpair@2' },
      ],
      'view/title': [
        {
          command: commandDefinitions.newExperiment.id,
          when: `view == ${runsViewId}`,
          group: 'navigation@1',
        },
        { command: commandDefinitions.compareRuns.id, when: `view == ${runsViewId}`, group: 'navigation@2' },
        { command: commandDefinitions.refreshRuns.id, when: `view == ${runsViewId}`, group: 'navigation@3' },
      ],
      'view/item/context': [
        {
          command: runExperiment.id,
          when: `view == ${runsViewId} && viewItem == config && isWorkspaceTrusted`,
          group: 'inline@1',
        },
        {
          command: openDashboard.id,
          when: `view == ${runsViewId} && (viewItem == config || viewItem =~ /^run\\./)`,
          group: 'inline@2',
        },
        {
          command: commandDefinitions.runWithOverrides.id,
          when: `view == ${runsViewId} && viewItem == config`,
          group: '1_run@1',
        },
        {
          command: stopRun.id,
          when: `view == ${runsViewId} && (viewItem == queued || viewItem =~ /^run\\..*\\.live$/)`,
          group: 'inline@1',
        },
        {
          command: resumeRun.id,
          when: `view == ${runsViewId} && viewItem =~ /^run\\.(stopped|failed)$/ && isWorkspaceTrusted`,
          group: 'inline@1',
        },
        {
          command: revealRunFolder.id,
          when: `view == ${runsViewId} && viewItem =~ /^run\\./`,
          group: '2_files@1',
        },
        {
          command: deleteRun.id,
          when: `view == ${runsViewId} && viewItem =~ /^run\\.[a-z]+$/`,
          group: '2_files@2',
        },
        {
          command: commandDefinitions.compareRuns.id,
          when: `view == ${runsViewId} && viewItem =~ /^run\\./`,
          group: '3_compare@1',
        },
        {
          command: runStudy.id,
          when: `view == ${runsViewId} && viewItem == study && isWorkspaceTrusted`,
          group: 'inline@1',
        },
        {
          command: cancelStudy.id,
          when: `view == ${runsViewId} && viewItem == study.active`,
          group: 'inline@1',
        },
        {
          command: openStudyPanel.id,
          when: `view == ${runsViewId} && viewItem =~ /^study(\\.active)?$/`,
          group: 'inline@2',
        },
        {
          command: exportStudyTable.id,
          when: `view == ${runsViewId} && viewItem =~ /^study(\\.active)?$/`,
          group: '2_files@1',
        },
        {
          command: openStudyPanel.id,
          when: `view == ${runsViewId} && viewItem == condition`,
          group: '1_open@1',
        },
        {
          command: openTrialLog.id,
          when: `view == ${runsViewId} && viewItem == trial.failed`,
          group: 'inline@1',
        },
        {
          command: openDashboard.id,
          when: `view == ${runsViewId} && ${isTrialWithRun}`,
          group: 'inline@2',
        },
        {
          command: openDashboard.id,
          when: `view == ${runsViewId} && ${isTrialWithRun}`,
          group: '1_open@1',
        },
        {
          command: openTrialLog.id,
          when: `view == ${runsViewId} && ${isTrialWithLog}`,
          group: '1_open@2',
        },
        {
          command: revealRunFolder.id,
          when: `view == ${runsViewId} && ${isTrialWithRun}`,
          group: '2_files@1',
        },
      ],
    },
  };
}
