import assert from 'node:assert/strict';
import type { Browser, Locator } from 'playwright-core';
import type { StudyMetric } from '../../src/shared/config/study/definitions';
import type { TrialState } from '../../src/shared/protocol/studyFiles';
import type { HostToStudyPanel, StudyTrialView } from '../../src/shared/protocol/studyPanel';
import { differenceMethod, studyTable, type TrialFigures } from '../../src/shared/study/table';
import { studyManifestOf } from '../support/studyManifest';
import {
  assertBundleBuilt,
  assertNoErrors,
  launchChromium,
  type OpenedWebview,
  openWebview,
  screenshot,
} from './harness';
import { type ThemeName, themes } from './themes';

type StudyMessage = Extract<HostToStudyPanel, { type: 'study' }>;

const studyFile = '/home/ada/cub/studies/mask-ablation.study.json';
const studyDir = '/home/ada/cub/studies/mask-ablation';
const metrics: StudyMetric[] = ['knnTop1', 'linearTop1', 'mAP'];
const conditions = [
  { id: 'simclr', label: 'SimCLR', baseline: true },
  { id: 'synthpair', label: 'SynthPair', baseline: false },
  { id: 'no-mask', label: 'SynthPair, no mask', baseline: false },
];
const seeds = [1, 2, 3];

const manifest = studyManifestOf({
  name: 'mask-ablation',
  studyFile,
  experimentFile: '/home/ada/cub/cub.synthpair.json',
  metrics,
  conditions,
  seeds,
});

/**
 * What each trial of the study has reached, on Slurm: SynthPair beats SimCLR on kNN top-1 on both seeds
 * measured (an interval above 0), loses on mAP (below 0), and is level on linear top-1 (an interval about 0);
 * the condition without the mask has one seed completed, so its differences have no interval yet.
 */
interface TrialFixture {
  state: TrialState;
  epoch?: number;
  reason?: string;
  figures?: TrialFigures;
}

const epochs = 30;
const laterTrials: Record<string, TrialFixture> = {
  'simclr.seed-1': {
    state: 'completed',
    epoch: 30,
    figures: { knnTop1: 0.6812, linearTop1: 0.721, mAP: 0.412 },
  },
  'simclr.seed-2': {
    state: 'completed',
    epoch: 30,
    figures: { knnTop1: 0.6905, linearTop1: 0.7302, mAP: 0.4188 },
  },
  'simclr.seed-3': {
    state: 'completed',
    epoch: 30,
    figures: { knnTop1: 0.6741, linearTop1: 0.7155, mAP: 0.4075 },
  },
  'synthpair.seed-1': {
    state: 'completed',
    epoch: 30,
    figures: { knnTop1: 0.7065, linearTop1: 0.729, mAP: 0.402 },
  },
  'synthpair.seed-2': {
    state: 'completed',
    epoch: 30,
    figures: { knnTop1: 0.7142, linearTop1: 0.7251, mAP: 0.4101 },
  },
  'synthpair.seed-3': { state: 'running', epoch: 17 },
  'no-mask.seed-1': {
    state: 'completed',
    epoch: 30,
    figures: { knnTop1: 0.695, linearTop1: 0.724, mAP: 0.415 },
  },
  'no-mask.seed-2': {
    state: 'failed',
    epoch: 4,
    reason: 'CUDA_ERROR_OUT_OF_MEMORY: out of memory allocating 2.1 GiB for the gradients of conv4_x',
  },
  'no-mask.seed-3': { state: 'queued', reason: 'Priority' },
};

/** The same study an hour earlier: the condition without the mask had not started. */
const earlierTrials: Record<string, TrialFixture> = {
  ...laterTrials,
  'synthpair.seed-2': { state: 'running', epoch: 22 },
  'no-mask.seed-1': { state: 'queued', reason: 'Resources' },
  'no-mask.seed-2': { state: 'queued', reason: 'Priority' },
  'no-mask.seed-3': { state: 'queued', reason: 'Priority' },
};

/** The study as the host reads it from its folder and squeue: a Slurm array with task i training trial i. */
function studyMessage(
  options: { active?: boolean; trials?: Record<string, TrialFixture>; executor?: 'local' | 'slurm' } = {},
): StudyMessage {
  const fixtures = options.trials ?? laterTrials;
  const executor = options.executor ?? 'slurm';
  const trials = manifest.trials.map((plan, task): StudyTrialView => {
    const { state, epoch, reason, figures } = fixtures[plan.id]!;
    return {
      id: plan.id,
      condition: plan.condition,
      seed: plan.seed,
      dir: `${studyDir}/${plan.id}`,
      log: `${studyDir}/logs/${plan.id}.log`,
      state,
      ...(epoch === undefined ? {} : { epoch, epochs }),
      ...(reason === undefined ? {} : { reason }),
      scheduler: executor === 'slurm' ? `81234_${task}` : 'local',
      ...(figures === undefined ? {} : { figures }),
    };
  });
  const figures = new Map(
    trials.flatMap((trial) => (trial.figures ? [[trial.id, trial.figures] as const] : [])),
  );
  return {
    type: 'study',
    studyFile,
    studyDir,
    active: options.active ?? true,
    executor,
    trials,
    table: studyTable(manifest, figures),
  };
}

const noStudyReason =
  'mask-ablation.study.json has not run yet: Run Study plans its 9 trials and starts them.';

/** `#rrggbb` as getComputedStyle writes it. */
function rgb(hex: string): string {
  const [r, g, b] = [1, 3, 5].map((start) => Number.parseInt(hex.slice(start, start + 2), 16));
  return `rgb(${r}, ${g}, ${b})`;
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

describe('study panel in Chromium', function () {
  this.timeout(120_000);
  let browser: Browser;

  before(async () => {
    assertBundleBuilt('study');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  const open = (options: { theme?: ThemeName; state?: unknown; width?: number } = {}) =>
    openWebview(browser, {
      bundle: 'study',
      title: 'SynthPair: Study',
      theme: options.theme ?? 'dark',
      state: options.state,
      width: options.width ?? 1000,
      height: 900,
    });

  async function showing(message: HostToStudyPanel, options: { theme?: ThemeName; width?: number } = {}) {
    const webview = await open(options);
    await webview.postFromHost(message);
    await webview.page.locator(message.type === 'study' ? '#figures' : '#no-study').waitFor();
    return webview;
  }

  const panel = (webview: OpenedWebview, selector: string) =>
    webview.page.locator(`sp-study-panel ${selector}`);
  const figureCell = (webview: OpenedWebview, condition: string, metric: StudyMetric) =>
    panel(webview, `#figures tr[data-condition="${condition}"] td[data-metric="${metric}"]`);
  const differenceCell = (webview: OpenedWebview, condition: string, metric: StudyMetric) =>
    panel(webview, `#differences tr[data-condition="${condition}"] td[data-metric="${metric}"]`);

  it('tells the host it is ready and waits for the study', async () => {
    const webview = await open();
    await panel(webview, '.waiting vscode-progress-ring').waitFor();
    assert.deepEqual(await webview.posted(), [{ type: 'ready' }]);
    assert.equal(await webview.page.locator('#app').getAttribute('aria-busy'), 'true');
    await assertNoErrors(webview);
    await webview.page.close();
  });

  for (const theme of Object.keys(themes) as ThemeName[]) {
    it(`draws the header, the table with its seeds, the differences and the trials (${theme})`, async () => {
      const webview = await showing(studyMessage(), { theme });
      assert.equal(await text(panel(webview, '#study-name')), 'mask-ablation');
      assert.equal(await panel(webview, '#study-name').getAttribute('title'), studyFile);
      assert.equal(await text(panel(webview, '#study-dir')), studyDir);
      assert.equal(await text(panel(webview, '#executor')), 'Slurm');
      assert.equal(await text(panel(webview, '#trial-total')), '9 trials');
      assert.deepEqual(
        await panel(webview, '#state-counts li.state').evaluateAll((items) =>
          items.map((item) => [item.getAttribute('data-state'), item.getAttribute('data-count')]),
        ),
        // The order of the Runs view and the CodeLens: what completed, what moves, what ended short.
        [
          ['completed', '6'],
          ['running', '1'],
          ['queued', '1'],
          ['failed', '1'],
        ],
      );

      // Only the baseline's row carries the badge.
      assert.deepEqual(
        await panel(webview, '#figures tbody tr').evaluateAll((rows) =>
          rows.map((row) => [
            row.getAttribute('data-condition'),
            row.querySelector('.baseline-badge') !== null,
          ]),
        ),
        [
          ['simclr', true],
          ['synthpair', false],
          ['no-mask', false],
        ],
      );
      for (const [condition, seedsDone] of [
        ['simclr', 3],
        ['synthpair', 2],
        ['no-mask', 1],
      ] as const) {
        for (const metric of metrics) {
          const cell = figureCell(webview, condition, metric);
          assert.equal(
            await cell.locator('svg.strip circle.seed').count(),
            seedsDone,
            `${condition} ${metric}`,
          );
          assert.equal(await text(cell.locator('.seeds')), `${seedsDone}/3`);
        }
      }
      assert.equal(await text(figureCell(webview, 'simclr', 'knnTop1').locator('.mean')), '68.19 ± 0.82');
      assert.equal(await text(figureCell(webview, 'synthpair', 'knnTop1').locator('.mean')), '71.03 ± 0.54');
      // One seed has no spread to show.
      assert.equal(await text(figureCell(webview, 'no-mask', 'knnTop1').locator('.mean')), '69.50');

      const above = differenceCell(webview, 'synthpair', 'knnTop1');
      const level = differenceCell(webview, 'synthpair', 'linearTop1');
      const below = differenceCell(webview, 'synthpair', 'mAP');
      assert.equal(await above.getAttribute('data-significant'), 'true');
      assert.equal(await above.getAttribute('data-direction'), 'positive');
      assert.match(await text(above.locator('.difference-line')), /^\+2\.45 \[\+1\.43, \+3\.47\]/);
      assert.match(await text(above.locator('.p-line')), /^p = 0\.0\d\d \(Holm\)/);
      assert.equal(await level.getAttribute('data-significant'), 'false');
      assert.match(await text(level.locator('.difference-line')), /^\+0\.15 \[−8\.18, \+8\.47\]$/);
      assert.equal(await below.getAttribute('data-significant'), 'true');
      assert.equal(await below.getAttribute('data-direction'), 'negative');
      assert.equal(await above.locator('svg.interval line.zero').count(), 1);
      // The condition with one seed completed has a difference but no interval: NaN crossed as JSON's null.
      assert.match(
        await text(differenceCell(webview, 'no-mask', 'knnTop1')),
        /\+1\.38.*no interval from one pair/,
      );
      assert.equal(await differenceCell(webview, 'no-mask', 'knnTop1').locator('svg.interval').count(), 0);
      assert.match(await text(panel(webview, '#method')), new RegExp(differenceMethod.slice(0, 40)));

      const styleOf = (cell: Locator) =>
        cell.locator('.difference-line').evaluate((line) => ({
          weight: getComputedStyle(line).fontWeight,
          color: getComputedStyle(line).color,
        }));
      const variables: Record<string, string> = themes[theme].variables;
      assert.deepEqual(await styleOf(above), {
        weight: '700',
        color: rgb(variables['--vscode-testing-iconPassed']!),
      });
      assert.deepEqual(await styleOf(below), {
        weight: '700',
        color: rgb(variables['--vscode-testing-iconFailed'] ?? variables['--vscode-errorForeground']!),
      });
      assert.deepEqual(await styleOf(level), {
        weight: '400',
        color: rgb(variables['--vscode-foreground']!),
      });

      const trialRow = (trial: string) => panel(webview, `#trials tr.trial[data-trial="${trial}"]`);
      assert.equal(await panel(webview, '#trials tr.trial').count(), 9);
      assert.equal(await text(trialRow('synthpair.seed-3').locator('.epochs')), '17/30');
      assert.equal(await text(trialRow('synthpair.seed-3').locator('.scheduler')), '81234_5');
      assert.equal(await text(trialRow('synthpair.seed-3').locator('.state')), 'running');
      assert.match(
        await text(panel(webview, '#trials tr.reason-row[data-trial="no-mask.seed-2"]')),
        /CUDA_ERROR_OUT_OF_MEMORY/,
      );
      await assertNoErrors(webview);
      await screenshot(webview.page, `study-${theme}`);
      await webview.page.close();
    });
  }

  it('keeps its tables readable in a narrow editor group', async () => {
    const webview = await showing(studyMessage(), { width: 506 });
    await screenshot(webview.page, 'study-dark-narrow');
    const overflow = await webview.page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.equal(overflow, 0, 'the page does not scroll sideways: the tables do');
    const trialsOverflow = await panel(webview, '.table-scroll:has(#trials)').evaluate(
      (scroll) => scroll.scrollWidth - scroll.clientWidth,
    );
    assert.equal(trialsOverflow, 0, 'the trials, with their buttons, fit without scrolling');
    await assertNoErrors(webview);
    await webview.page.close();
  });

  it('fills in the table as trials complete', async () => {
    const webview = await showing(studyMessage({ trials: earlierTrials }));
    const empty = figureCell(webview, 'no-mask', 'knnTop1');
    assert.equal(await text(empty.locator('.mean')), '–');
    assert.equal(await text(empty.locator('.seeds')), '0/3');
    assert.equal(await empty.locator('svg.strip').count(), 0);
    assert.equal(await text(differenceCell(webview, 'no-mask', 'mAP')), '–');
    assert.equal(await figureCell(webview, 'synthpair', 'mAP').locator('circle.seed').count(), 1);

    await webview.postFromHost(studyMessage());
    assert.equal(await text(empty.locator('.mean')), '69.50');
    assert.equal(await figureCell(webview, 'synthpair', 'mAP').locator('circle.seed').count(), 2);
    await assertNoErrors(webview);
    await webview.page.close();
  });

  it('offers Cancel Study only while the study is working, and Run Study otherwise', async () => {
    const webview = await showing(studyMessage({ active: true }));
    assert.equal(await panel(webview, '#cancel-study').count(), 1);
    assert.equal(await panel(webview, '#run-study').count(), 0);
    assert.equal(await panel(webview, '#activity').count(), 1);
    await panel(webview, '#cancel-study').click();

    await webview.postFromHost(studyMessage({ active: false, executor: 'local' }));
    assert.equal(await panel(webview, '#cancel-study').count(), 0);
    assert.equal(await panel(webview, '#activity').count(), 0);
    assert.equal(await text(panel(webview, '#executor')), 'local');
    await panel(webview, '#run-study').click();
    assert.deepEqual((await webview.posted()).slice(1), [{ type: 'cancelStudy' }, { type: 'runStudy' }]);
    await assertNoErrors(webview);
    await webview.page.close();
  });

  it('asks the host to export the table and to open a trial’s run or log', async () => {
    const webview = await showing(studyMessage());
    for (const format of ['md', 'csv', 'json']) await panel(webview, `#export-${format}`).click();
    const row = (trial: string) => panel(webview, `#trials tr.trial[data-trial="${trial}"]`);
    await row('no-mask.seed-2').locator('.open-trial').click();
    await row('no-mask.seed-2').locator('.open-log').click();
    await row('synthpair.seed-3').locator('.open-log').click();
    // A queued trial has neither a run folder nor a log yet.
    assert.equal(await row('no-mask.seed-3').locator('.open-trial').getAttribute('disabled'), '');
    assert.equal(await row('no-mask.seed-3').locator('.open-log').getAttribute('disabled'), '');
    assert.equal(await row('no-mask.seed-2').locator('.open-trial').getAttribute('disabled'), null);
    assert.deepEqual((await webview.posted()).slice(1), [
      { type: 'exportTable', format: 'md' },
      { type: 'exportTable', format: 'csv' },
      { type: 'exportTable', format: 'json' },
      { type: 'openTrial', trial: 'no-mask.seed-2' },
      { type: 'openLog', trial: 'no-mask.seed-2' },
      { type: 'openLog', trial: 'synthpair.seed-3' },
    ]);
    assert.match(
      (await row('no-mask.seed-3').locator('.open-trial').getAttribute('title')) ?? '',
      /^No run folder yet/,
    );

    // A trial that failed before its training began, as a missing data folder makes it: its log says why.
    await webview.postFromHost(
      studyMessage({
        trials: {
          ...laterTrials,
          'no-mask.seed-2': { state: 'failed', reason: 'no such folder (data.root)' },
        },
      }),
    );
    assert.equal(await row('no-mask.seed-2').locator('.open-trial').getAttribute('disabled'), '');
    assert.equal(
      await row('no-mask.seed-2').locator('.open-trial').getAttribute('title'),
      'No run folder: the trial failed before it started; its log says why',
    );
    assert.equal(await row('no-mask.seed-2').locator('.open-log').getAttribute('disabled'), null);
    await assertNoErrors(webview);
    await webview.page.close();
  });

  it('works from the keyboard', async () => {
    const webview = await showing(studyMessage({ active: false }));
    const { page } = webview;
    const focused = () =>
      page.evaluate(() => document.querySelector('sp-study-panel')!.shadowRoot!.activeElement?.id ?? '');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'run-study');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'export-md');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space');
    assert.deepEqual((await webview.posted()).slice(1), [
      { type: 'runStudy' },
      { type: 'exportTable', format: 'csv' },
    ]);
    await webview.page.close();
  });

  it('refuses a malformed message and keeps the study it shows', async () => {
    const webview = await showing(studyMessage());
    const { table: _, ...withoutTable } = studyMessage();
    await webview.postFromHost(withoutTable);
    await webview.postFromHost({ type: 'noStudy', studyFile, reason: 42 });
    await webview.postFromHost({ type: 'deleteStudy' });
    assert.equal(await panel(webview, '#figures').count(), 1);
    assert.equal(await panel(webview, '#no-study').count(), 0);
    const refusals = webview.consoleMessages.filter((line) => line.includes('SynthPair: refused message'));
    assert.equal(refusals.length, 3, webview.consoleMessages.join('\n'));
    assert.ok(refusals.every((line) => line.startsWith('warning')));
    assert.match(refusals[0]!, /table/);
    assert.deepEqual(await webview.cspViolations(), []);
    await webview.page.close();
  });

  it('says why there is no study yet, and offers to run it', async () => {
    const webview = await showing({ type: 'noStudy', studyFile, reason: noStudyReason });
    assert.equal(await text(panel(webview, '#study-name')), 'mask-ablation.study.json');
    assert.equal(await text(panel(webview, '#no-study .no-study-reason')), noStudyReason);
    await panel(webview, '#no-study #run-study').click();
    assert.deepEqual((await webview.posted()).slice(1), [{ type: 'runStudy' }]);
    await assertNoErrors(webview);
    await screenshot(webview.page, 'study-no-study-dark');
    await webview.page.close();
  });

  it('draws the last study it was sent at once when the panel is restored', async () => {
    const first = await showing(studyMessage());
    const saved = await first.state();
    await first.page.close();
    assert.equal((saved as { type: string }).type, 'study');

    const restored = await open({ state: saved });
    await panel(restored, '#figures').waitFor({ timeout: 5000 });
    assert.equal(await figureCell(restored, 'simclr', 'mAP').locator('circle.seed').count(), 3);
    assert.deepEqual(await restored.posted(), [{ type: 'ready' }]);
    await assertNoErrors(restored);
    await restored.page.close();

    // A state an older version saved is dropped rather than drawn wrong.
    const stale = await open({ state: { type: 'study', studyFile } });
    await panel(stale, '.waiting').waitFor();
    await stale.page.close();
  });
});
