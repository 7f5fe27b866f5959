import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { colormapTable } from '../../src/shared/colormaps';
import type { HeatmapSettings } from '../../src/shared/protocol/webview';
import {
  mapMaxima,
  normalisationDivisors,
  normalisedValue,
  upsampleBilinear,
} from '../../webview/dashboard/views/heatmaps/math';
import { compositeOverlay } from '../../webview/shared/heatmapPixels';
import type { FixtureRun } from '../support/fixtureRun';
import {
  analysesMessage,
  bindingMessage,
  byteArray,
  type FixtureStep,
  fixtureDashboard,
  floatArray,
} from './fixtureMessages';
import { assertNoErrors, type OpenedWebview, openDashboard, screenshot } from './harness';
import type { ThemeName } from './themes';

/** The grid's pixels: per tile, its size and RGBA bytes. */
type TilePixels = { width: number; height: number; data: number[] }[];

function readTiles(page: Page): Promise<TilePixels> {
  return page.evaluate(() => {
    const canvases = document
      .querySelector('sp-heatmaps')!
      .shadowRoot!.querySelectorAll('canvas.tile-canvas');
    return [...canvases].map((canvas) => {
      const { width, height } = canvas as HTMLCanvasElement;
      const data = (canvas as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, width, height).data;
      return { width, height, data: Array.from(data) };
    });
  });
}

function differingTiles(before: TilePixels, after: TilePixels): number {
  return before.filter((tile, index) => tile.data.some((value, at) => value !== after[index]!.data[at]))
    .length;
}

/**
 * The tiles are the step's saved per-image heat maps (`heatmap.*`, which the engine normalised itself) over
 * the view's probes, in the settings' colormap and opacity, within rounding.
 */
function assertShowsSavedMaps(
  tiles: TilePixels,
  step: FixtureStep,
  settings: Omit<HeatmapSettings, 'epoch'>,
): void {
  assert.equal(settings.normalisation, 'image');
  const { manifest } = step;
  const size = manifest.imageSize;
  const pixels = size * size;
  const images = byteArray(step, settings.view === 0 ? 'probes.centre' : 'probes.augmented');
  const saved = byteArray(step, `heatmap.${settings.variant}`);
  const probes = manifest.probes.labels.length;
  assert.equal(tiles.length, probes);
  const expected = new Uint8ClampedArray(pixels * 4);
  for (const [probe, tile] of tiles.entries()) {
    assert.equal(tile.width, size);
    const levels = saved.subarray((settings.view * probes + probe) * pixels);
    const table = colormapTable(settings.colormap);
    compositeOverlay(images, probe * pixels * 3, levels, 0, table, settings.opacity, expected);
    const worst = tile.data.reduce(
      (largest, value, index) => Math.max(largest, Math.abs(value - expected[index]!)),
      0,
    );
    assert.ok(
      worst <= 2,
      `${settings.variant} of probe ${probe} differs from the saved map by ${worst} levels`,
    );
  }
}

describe('heat-map view in Chromium', function () {
  this.timeout(240_000);
  let browser: Browser;
  let run: FixtureRun;
  let steps: FixtureStep[];

  before(async () => {
    ({ run, steps, browser } = await fixtureDashboard());
    assert.deepEqual(
      steps.map((step) => step.epoch),
      [1, 2, 3],
    );
  });

  after(async () => {
    await browser?.close();
  });

  const analyses = (shown: FixtureStep[]) => analysesMessage(run.runDir, shown);

  async function openHeatmaps(
    options: { theme?: ThemeName; state?: unknown; shown?: FixtureStep[] } = {},
  ): Promise<OpenedWebview> {
    const webview = await openDashboard(browser, { theme: options.theme ?? 'dark', state: options.state });
    await webview.postFromHost(bindingMessage(run));
    await webview.postFromHost(analyses(options.shown ?? steps));
    await webview.page.locator('#tab-heatmaps').click();
    return webview;
  }

  async function renderedAs(
    page: Page,
    epoch: number,
    settings: Omit<HeatmapSettings, 'epoch'>,
  ): Promise<void> {
    const { variant, view, normalisation, colormap, opacity } = settings;
    const key = `${epoch}|${variant}|${view}|${normalisation}|${colormap}|${opacity}`;
    await page.waitForFunction(
      (wanted) => document.querySelector('sp-heatmaps')?.getAttribute('data-rendered') === wanted,
      key,
      { timeout: 10_000 },
    );
  }

  const defaults = {
    variant: 'gradCam',
    view: 0,
    normalisation: 'image',
    colormap: 'inferno',
    opacity: 0.5,
  } as const satisfies Omit<HeatmapSettings, 'epoch'>;

  async function savedHeatmaps(webview: OpenedWebview): Promise<unknown> {
    return ((await webview.state()) as { heatmaps?: unknown } | undefined)?.heatmaps;
  }

  it('says when heat maps appear while the run has no analysis step', async () => {
    const webview = await openHeatmaps({ shown: [] });
    const empty = webview.page.locator('sp-heatmaps .empty');
    await empty.waitFor();
    assert.match(
      (await empty.textContent()) ?? '',
      /first analysis step[\s\S]*analysis\.everyEpochs[\s\S]*finished an epoch/,
    );
    assert.equal(await webview.page.locator('sp-heatmaps .tile').count(), 0);
    await assertNoErrors(webview);
    await webview.page.close();
  });

  it("draws every probe of the newest step with its map over it, as the engine's saved maps colour it", async () => {
    const webview = await openHeatmaps();
    const { page } = webview;
    await renderedAs(page, 3, defaults);
    assert.equal(await page.locator('sp-heatmaps .tile').count(), 8);
    assert.equal((await page.locator('sp-heatmaps #step-label').textContent())?.trim(), 'epoch 3');
    const newest = steps.at(-1)!;
    const captions = await page.locator('sp-heatmaps .caption').allTextContents();
    assert.deepEqual(
      captions.map((caption) => caption.trim()),
      newest.manifest.probes.labels.map((label) => newest.manifest.probes.classNames[label]),
    );
    const tiles = await readTiles(page);
    for (const [probe, tile] of tiles.entries()) {
      assert.ok(new Set(tile.data).size > 16, `probe ${probe} is not blank`);
    }
    assertShowsSavedMaps(tiles, newest, defaults);
    await assertNoErrors(webview);
    await webview.page.close();
  });

  it('redraws the pixels and saves the settings when opacity, colormap, variant, view or scale change', async () => {
    const webview = await openHeatmaps();
    const { page } = webview;
    await renderedAs(page, 3, defaults);
    let before = await readTiles(page);
    const fetched: string[] = [];
    page.on('request', (request) => fetched.push(request.url()));
    const expectChange = async (settings: Omit<HeatmapSettings, 'epoch'>, what: string) => {
      await renderedAs(page, 3, settings);
      const after = await readTiles(page);
      assert.ok(differingTiles(before, after) >= 6, `${what} changed the pixels of most tiles`);
      assert.deepEqual(await savedHeatmaps(webview), { ...settings, epoch: null }, what);
      before = after;
    };

    await page.locator('sp-heatmaps #opacity').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    let settings: Omit<HeatmapSettings, 'epoch'> = { ...defaults, opacity: 0.6 };
    await expectChange(settings, 'opacity');
    assert.equal((await page.locator('sp-heatmaps .value').textContent())?.trim(), '60 %');

    await page.locator('sp-heatmaps #colormap').click();
    await page.locator('sp-heatmaps #colormap').getByRole('option', { name: 'viridis' }).click();
    settings = { ...settings, colormap: 'viridis' };
    await expectChange(settings, 'colormap');

    await page.locator('sp-heatmaps #variant').click();
    await page.locator('sp-heatmaps #variant').getByRole('option', { name: 'Gradient × activation' }).click();
    settings = { ...settings, variant: 'gradientTimesActivation' };
    // The fixture's encoder pools its feature map by its mean, so ∂L/∂A is constant over space and its gradient
    // × activation map equals Grad-CAM's: the pixels stay, but they must come from the other variant's array.
    await renderedAs(page, 3, settings);
    assert.ok(fetched.some((url) => url.endsWith('/cam.gradientTimesActivation.bin')));
    assertShowsSavedMaps(await readTiles(page), steps.at(-1)!, settings);
    assert.deepEqual(await savedHeatmaps(webview), { ...settings, epoch: null }, 'variant');

    await page.locator('sp-heatmaps vscode-radio[name="view"][value="1"]').click();
    settings = { ...settings, view: 1 };
    await expectChange(settings, 'view');
    assertShowsSavedMaps(before, steps.at(-1)!, settings);

    await page.locator('sp-heatmaps vscode-radio[name="normalisation"][value="global"]').click();
    settings = { ...settings, normalisation: 'global' };
    await renderedAs(page, 3, settings);
    const global = await readTiles(page);
    // Only the probe with the strongest map keeps its colours; the others are scaled down.
    assert.ok(differingTiles(before, global) >= 6, 'the global scale changed the weaker probes');
    assert.deepEqual(await savedHeatmaps(webview), { ...settings, epoch: null });
    await assertNoErrors(webview);
    await page.close();
  });

  it('restores saved settings and moves between steps with the slider and the arrow keys', async () => {
    const state = { heatmaps: { ...defaults, colormap: 'turbo', epoch: 2 } };
    const webview = await openHeatmaps({ state });
    const { page } = webview;
    await renderedAs(page, 2, { ...defaults, colormap: 'turbo' });
    assert.equal((await page.locator('sp-heatmaps #step-label').textContent())?.trim(), 'epoch 2');
    const atTwo = await readTiles(page);

    await page.locator('sp-heatmaps #step').focus();
    await page.keyboard.press('ArrowLeft');
    await renderedAs(page, 1, { ...defaults, colormap: 'turbo' });
    assert.equal((await page.locator('sp-heatmaps #step-label').textContent())?.trim(), 'epoch 1');
    assert.ok(differingTiles(atTwo, await readTiles(page)) >= 6, 'epoch 1 looks different from epoch 2');
    assert.deepEqual(await savedHeatmaps(webview), { ...defaults, colormap: 'turbo', epoch: 1 });

    await page.keyboard.press('End');
    await renderedAs(page, 3, { ...defaults, colormap: 'turbo' });
    // The newest step is followed rather than pinned.
    assert.deepEqual(await savedHeatmaps(webview), { ...defaults, colormap: 'turbo', epoch: null });
    await assertNoErrors(webview);
    await page.close();
  });

  it("follows a live run's new step when on the newest one, and stays on a step picked before", async () => {
    const webview = await openHeatmaps({ shown: steps.slice(0, 2) });
    const { page } = webview;
    await renderedAs(page, 2, defaults);
    // Keep the canvases to check the new step is drawn into them, not into new (blank until drawn) ones.
    await page.evaluate(() => {
      const view = document.querySelector('sp-heatmaps')!;
      (window as unknown as { kept: Element[] }).kept = [...view.shadowRoot!.querySelectorAll('canvas')];
    });
    await webview.postFromHost(analyses(steps));
    await renderedAs(page, 3, defaults);
    assert.equal((await page.locator('sp-heatmaps #step-label').textContent())?.trim(), 'epoch 3');
    const sameCanvases = await page.evaluate(() => {
      const kept = (window as unknown as { kept: Element[] }).kept;
      const now = [...document.querySelector('sp-heatmaps')!.shadowRoot!.querySelectorAll('canvas')];
      return now.length === kept.length && now.every((canvas, index) => canvas === kept[index]);
    });
    assert.ok(sameCanvases, 'the tiles keep their canvases from step to step');

    await page.locator('sp-heatmaps #step').focus();
    await page.keyboard.press('Home');
    await renderedAs(page, 1, defaults);
    await webview.postFromHost(analyses(steps.slice(0, 2)));
    await webview.postFromHost(analyses(steps));
    await page.waitForTimeout(200);
    assert.equal(await page.locator('sp-heatmaps').getAttribute('data-rendered-epoch'), '1');
    await page.close();
  });

  it('opens a probe large with a read-out of the map under the pointer, and Escape closes it', async () => {
    const webview = await openHeatmaps();
    const { page } = webview;
    await renderedAs(page, 3, defaults);
    const probe = 2;
    await page.locator('sp-heatmaps .tile').nth(probe).click();
    const dialog = page.locator('sp-heatmaps dialog');
    await dialog.locator('.large-canvas').waitFor();
    assert.equal(await dialog.evaluate((element) => (element as HTMLDialogElement).open), true);
    const newest = steps.at(-1)!;
    const { classNames, labels } = newest.manifest.probes;
    assert.equal((await dialog.locator('h2').textContent())?.trim(), classNames[labels[probe]!]);
    assert.match((await dialog.locator('.readout').textContent()) ?? '', /Point at the map/);

    const size = newest.manifest.imageSize;
    const [x, y] = [20, 9];
    const box = (await dialog.locator('.large-canvas').boundingBox())!;
    await page.mouse.move(box.x + ((x + 0.5) * box.width) / size, box.y + ((y + 0.5) * box.height) / size);
    const cam = floatArray(newest, 'cam.gradCam');
    const [, probes, height, width] = newest.manifest.arrays['cam.gradCam']!.shape as number[];
    const upsampled = upsampleBilinear(cam, probes!, [height!, width!], [size, size]);
    const divisors = normalisationDivisors(mapMaxima(upsampled, probes!, size * size), 'image');
    const raw = upsampled[probe * size * size + y * size + x]!;
    const value = normalisedValue(raw, divisors[probe]!);
    const readout = ((await dialog.locator('.readout').textContent()) ?? '').replace(/\s+/g, ' ');
    assert.match(readout, new RegExp(`x ${x}, y ${y}`));
    assert.equal((await dialog.locator('.readout-value').textContent())?.trim(), value.toFixed(3));
    const shownRaw = Number((await dialog.locator('.readout-raw').textContent())?.trim());
    assert.ok(Math.abs(shownRaw - raw) <= Math.abs(raw) * 0.01, `raw ${shownRaw} vs ${raw}`);
    // The read-out agrees with the engine's saved map at that pixel.
    const saved = byteArray(newest, 'heatmap.gradCam');
    assert.ok(Math.abs(value * 255 - saved[probe * size * size + y * size + x]!) <= 1);

    const large = await page.evaluate(() => {
      const canvas = document
        .querySelector('sp-heatmaps')!
        .shadowRoot!.querySelector('canvas.large-canvas') as HTMLCanvasElement;
      return Array.from(canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data);
    });
    assert.deepEqual(large, (await readTiles(page))[probe]!.data);
    await screenshot(page, 'heatmaps-large-dark');

    await page.keyboard.press('Escape');
    await page.waitForFunction(
      () => !document.querySelector('sp-heatmaps')!.shadowRoot!.querySelector('dialog')!.open,
    );
    const focused = await page.evaluate(
      () =>
        document.querySelector('sp-heatmaps')!.shadowRoot!.activeElement?.getAttribute('data-probe') ?? null,
    );
    assert.equal(focused, String(probe));

    // From the keyboard: Enter on the focused tile opens it, arrow keys move the read-out.
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      () => document.querySelector('sp-heatmaps')!.shadowRoot!.querySelector('dialog')!.open,
    );
    await page.keyboard.press('ArrowRight');
    assert.match(((await dialog.locator('.readout').textContent()) ?? '').replace(/\s+/g, ' '), /x 16, y 16/);
    await page.keyboard.press('Escape');
    await page.waitForFunction(
      () => !document.querySelector('sp-heatmaps')!.shadowRoot!.querySelector('dialog')!.open,
    );
    await assertNoErrors(webview);
    await page.close();
  });

  for (const theme of ['dark', 'light', 'high-contrast'] as const) {
    it(`draws the grid in the ${theme} theme, also in a narrow editor group`, async () => {
      const webview = await openHeatmaps({ theme });
      await renderedAs(webview.page, 3, defaults);
      await screenshot(webview.page, `heatmaps-${theme}`);
      await webview.page.setViewportSize({ width: 320, height: 720 });
      // Nothing of the view reaches past its own right edge (the shell's header and tabs are not its part).
      const overflow = await webview.page.locator('sp-heatmaps').evaluate((host) => {
        const edge = host.getBoundingClientRect().right;
        const parts = [...host.shadowRoot!.querySelectorAll('*')];
        return Math.max(...parts.map((part) => part.getBoundingClientRect().right)) - edge;
      });
      assert.ok(overflow <= 0, `the view reaches ${overflow} px past its edge at 320 px`);
      await screenshot(webview.page, `heatmaps-${theme}-narrow`);
      await assertNoErrors(webview);
      await webview.page.close();
    });
  }
});
