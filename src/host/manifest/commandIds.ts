/**
 * Every command SynthPair contributes; package.json's `contributes.commands` is generated from this. `icon`
 * is what editor-title and view buttons show. Commands
 * that need a trusted workspace stay enabled and explain themselves in Restricted Mode, and their buttons hide.
 */
export const commandDefinitions = {
  runExperiment: {
    id: 'synthpair.runExperiment',
    title: 'Run Experiment',
    category: 'SynthPair',
    icon: '$(play)',
  },
  runWithOverrides: {
    id: 'synthpair.runWithOverrides',
    title: 'Run Experiment with Overrides…',
    category: 'SynthPair',
    icon: '$(run-all)',
  },
  stopRun: { id: 'synthpair.stopRun', title: 'Stop Run', category: 'SynthPair', icon: '$(debug-stop)' },
  resumeRun: {
    id: 'synthpair.resumeRun',
    title: 'Resume Run',
    category: 'SynthPair',
    icon: '$(debug-continue)',
  },
  newExperiment: {
    id: 'synthpair.newExperiment',
    title: 'New Experiment…',
    category: 'SynthPair',
    icon: '$(add)',
  },
  openDashboard: {
    id: 'synthpair.openDashboard',
    title: 'Open Dashboard',
    category: 'SynthPair',
    icon: '$(graph)',
  },
  revealRunFolder: {
    id: 'synthpair.revealRunFolder',
    title: 'Reveal Run Folder',
    category: 'SynthPair',
    icon: '$(folder-opened)',
  },
  deleteRun: { id: 'synthpair.deleteRun', title: 'Delete Run…', category: 'SynthPair', icon: '$(trash)' },
  compareRuns: {
    id: 'synthpair.compareRuns',
    title: 'Compare Runs…',
    category: 'SynthPair',
    icon: '$(diff)',
  },
  refreshRuns: {
    id: 'synthpair.refreshRuns',
    title: 'Refresh Runs',
    category: 'SynthPair',
    icon: '$(refresh)',
  },
  showBackendInfo: { id: 'synthpair.showBackendInfo', title: 'Show Backend Info', category: 'SynthPair' },
  runStudy: { id: 'synthpair.runStudy', title: 'Run Study', category: 'SynthPair', icon: '$(play)' },
  cancelStudy: {
    id: 'synthpair.cancelStudy',
    title: 'Cancel Study',
    category: 'SynthPair',
    icon: '$(debug-stop)',
  },
  openStudyPanel: {
    id: 'synthpair.openStudyPanel',
    title: 'Open Study Panel',
    category: 'SynthPair',
    icon: '$(table)',
  },
  exportStudyTable: {
    id: 'synthpair.exportStudyTable',
    title: 'Export Study Table…',
    category: 'SynthPair',
    icon: '$(export)',
  },
  openTrialLog: {
    id: 'synthpair.openTrialLog',
    title: 'Open Trial Log',
    category: 'SynthPair',
    icon: '$(output)',
  },
} as const;

/** Context keys the manifest's `when` clauses read; the host sets them. */
export const contextKeys = {
  /** Absolute paths of the experiment files with a run training or queued. */
  busyConfigs: 'synthpair.busyConfigs',
  /**
   * Absolute paths of the study files with a trial queued or training, or a `study run` starting; unset while
   * there are none, so that the key alone says whether any study works.
   */
  activeStudies: 'synthpair.activeStudies',
  /**
   * Steps of the first-run walkthrough done in this window, which its completion events read (VS Code then
   * remembers the step as done): a run trained a step, the dashboard opened, a mask threshold was written
   * from the Dimensions tab, the Pairs tab painted a grid, an image opened in the heat-map editor.
   */
  walkthroughTrained: 'synthpair.walkthrough.trained',
  walkthroughDashboardOpened: 'synthpair.walkthrough.dashboardOpened',
  walkthroughThresholdEdited: 'synthpair.walkthrough.thresholdEdited',
  walkthroughPairsShown: 'synthpair.walkthrough.pairsShown',
  walkthroughHeatmapOpened: 'synthpair.walkthrough.heatmapOpened',
} as const;
