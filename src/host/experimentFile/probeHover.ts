import path from 'node:path';
import { getLocation } from 'jsonc-parser';
import * as vscode from 'vscode';
import { readReadableAnalysisSteps } from '../../shared/runFolder/analysisSteps';
import { commandDefinitions } from '../manifest/commandIds';
import type { RunCatalog } from '../runs/runCatalog';

/** Keys of an experiment file whose hover shows the probes' heat maps. */
const probeKeyPaths = ['analysis.probes', 'analysis.probes.count', 'analysis.probes.samples'];

/** Wider grids are scaled down to this many pixels in the hover. */
const hoverWidth = 420;

/** Tiles of the heat-map grid per probe: the image and its two maps, in each of the two views. */
const gridColumns = 6;
/** The white gap the engine leaves between tiles. */
const gridGap = 2;

/**
 * The probes' heat maps in the hover of `analysis.probes` (and of its `count` and `samples`) in an experiment
 * file: the heat-map grid of the newest analysis step of the experiment's newest analysed run, as the engine
 * drew it. The image is the grid file itself, referenced by its file URI, so a hover costs no decoding.
 */
export class ProbeHoverProvider implements vscode.HoverProvider {
  constructor(private readonly catalog: RunCatalog) {}

  async provideHover(
    document: vscode.TextDocument,
    position: vscode.Position,
  ): Promise<vscode.Hover | undefined> {
    const location = getLocation(document.getText(), document.offsetAt(position));
    const keyPath = location.path.join('.');
    if (!location.isAtPropertyKey || !probeKeyPaths.includes(keyPath)) return undefined;
    const range = document.getWordRangeAtPosition(position, /"[^"]*"/);
    const markdown = await this.probesMarkdown(document.uri);
    return new vscode.Hover(markdown, range);
  }

  private async probesMarkdown(configUri: vscode.Uri): Promise<vscode.MarkdownString> {
    const markdown = new vscode.MarkdownString();
    const runs = this.catalog.runs.filter((run) => run.status.configFile === configUri.fsPath);
    for (const run of runs) {
      const step = (await readReadableAnalysisSteps(run.dir)).at(-1);
      const grid = step?.manifest.grids.heatmaps;
      if (!step || grid === undefined) continue;
      const { manifest } = step;
      const size = manifest.imageSize;
      const naturalWidth = gridColumns * size + (gridColumns - 1) * gridGap;
      const width = Math.min(naturalWidth, hoverWidth);
      const gridUri = vscode.Uri.file(path.join(step.folder, grid));
      // The words first: a hover shows the top of a tall grid and scrolls the rest.
      markdown.appendMarkdown(
        `**Probe heat maps** of run \`${path.basename(run.dir)}\`, analysis after epoch ${manifest.epoch} · ` +
          `[Open Dashboard](command:${commandDefinitions.openDashboard.id}?${encodeURIComponent(
            JSON.stringify([configUri]),
          )} "Curves, heat maps and pairs of this experiment")\n\n`,
      );
      markdown.appendText(
        `A row per probe; the centre view, its Grad-CAM and gradient × activation, then the same for the ` +
          `augmented view. L_C of the probes: ${manifest.probes.loss.toFixed(3)}.`,
      );
      markdown.appendMarkdown(
        `\n\n![Heat maps of the ${manifest.probes.testPositions.length} probes](${gridUri.toString()}|width=${width})`,
      );
      markdown.isTrusted = { enabledCommands: [commandDefinitions.openDashboard.id] };
      return markdown;
    }
    markdown.appendText(
      'The probe heat maps appear here once a run of this experiment has been analysed (after its first epoch, ' +
        'every analysis.everyEpochs epochs).',
    );
    return markdown;
  }
}
