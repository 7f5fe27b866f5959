import { experimentFileGlob } from '../../shared/config/experiment/choices';
import { commandDefinitions, contextKeys } from './commandIds';

/** The walkthrough's id; VS Code names it `<publisher>.<name>#firstRun`. */
export const walkthroughId = 'firstRun';

/**
 * The steps in the order a new user takes them. Each is checked off by what the user did, never by reading
 * the step: by a context key the host sets once it happened. A command completion event would check off a
 * Run that failed at once, and would miss the CodeLens, whose commands carry arguments and so reach the
 * extension host under VS Code's delegating command id, not their own.
 */
const steps = [
  {
    id: 'run',
    title: 'Run the experiment',
    description: `Press **▶ Run** above the first line of the experiment file, or the play button in its title bar. The run trains in a worker process of its own; the status bar shows its epoch, images per second and time left, and the **Runs** view lists it.
[Run Experiment](command:${commandDefinitions.runExperiment.id})`,
    media: { markdown: 'media/walkthrough/run.md' },
    completionEvents: [`onContext:${contextKeys.walkthroughTrained}`],
  },
  {
    id: 'dashboard',
    title: 'Open the Dashboard',
    description: `Press **Open Dashboard** above the experiment, or click the status bar while it trains. The **Curves** tab draws every loss term as the run logs it.
[Open Dashboard](command:${commandDefinitions.openDashboard.id})`,
    media: { markdown: 'media/walkthrough/dashboard.md' },
    completionEvents: [`onContext:${contextKeys.walkthroughDashboardOpened}`],
  },
  {
    id: 'threshold',
    title: 'Drag a threshold',
    description:
      'On the **Dimensions** tab, drag the line on the variance histogram to the right once the first epoch is analysed. More dimensions fall into the mask m, and the new `analysis.variance.quantile` is written into the experiment file as an ordinary edit: Undo puts it back.',
    media: { markdown: 'media/walkthrough/threshold.md' },
    completionEvents: [`onContext:${contextKeys.walkthroughThresholdEdited}`],
  },
  {
    id: 'pairs',
    title: 'Look at the synthesized pairs',
    description:
      'On the **Pairs** tab each probe image is followed by the decoder’s redraw d(h), copies d(h′) whose masked dimensions were perturbed, and their difference. After an edit the grid is redrawn from the latest checkpoint, without training.',
    media: { markdown: 'media/walkthrough/pairs.md' },
    completionEvents: [`onContext:${contextKeys.walkthroughPairsShown}`],
  },
  {
    id: 'heatmap',
    title: 'See where the model looks',
    description: `In the Explorer, right-click an image of the experiment’s data (the quickstart’s are under \`data/test/\`), choose **Open With…**, then **SynthPair: Heatmap**: the image with the Grad-CAM map of the newest run.
[Show the Explorer](command:workbench.view.explorer)`,
    media: { markdown: 'media/walkthrough/heatmap.md' },
    completionEvents: [`onContext:${contextKeys.walkthroughHeatmapOpened}`],
  },
] as const;

/** `contributes.walkthroughs`, generated into package.json by `npm run generate`. */
export function walkthroughContributions() {
  return [
    {
      id: walkthroughId,
      title: 'Get Started with SynthPair',
      description:
        'Train the example experiment, watch it learn, move the mask threshold and see the pairs and heat maps follow.',
      // Offered on the Welcome page of any workspace that holds an experiment.
      featuredFor: [experimentFileGlob],
      steps,
    },
  ];
}
