import path from 'node:path';
import { findNodeAtLocation, type Node, parseTree } from 'jsonc-parser';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { parseExperimentConfig, withoutByteOrderMark } from '../../shared/config/experiment/parse';
import type { ConfigDiagnosticMessage } from '../../shared/protocol/worker';
import { locateNativeBackend, type NativeBackendLookup } from '../backends/nativeBackends';
import { DatasetError, type DatasetListing, listDataset } from '../data/datasets';
import { dataConflicts } from '../training/experiment';
import { isWeightsUrl } from '../weights/download';

type Severity = ConfigDiagnosticMessage['severity'];

/** A problem before it is placed in the text. */
interface Finding {
  keyPath: string;
  message: string;
  severity: Severity;
}

type Criterion = 'variance' | 'gradcam';

const quantileKeys: Record<Criterion, string> = {
  variance: 'analysis.variance.quantile',
  gradcam: 'analysis.gradcam.quantile',
};

/**
 * The problems of an experiment file as the editor holds it: the config reader's own, then what only the
 * data set, this machine's backends and the combination of the mask settings can tell. A file with errors
 * gets the reader's diagnostics alone, since the other checks need every value read.
 *
 * @param configFile the file's path: a relative data.root or model.init is resolved against its folder, as a
 *   run does
 * @param initialWeights why `model.init` cannot start the model, if it cannot; left out, it is not checked
 */
export async function diagnoseExperimentText(
  configFile: string,
  text: string,
  lookup: NativeBackendLookup,
  initialWeights?: (model: ResolvedConfig['model']) => Promise<string | undefined>,
): Promise<ConfigDiagnosticMessage[]> {
  const locator = new TextLocator(text);
  const { config, diagnostics } = parseExperimentConfig(text);
  const fromReader = diagnostics.map(({ path: keyPath, message, severity, offset, length }) => ({
    message,
    severity,
    keyPath,
    range: locator.range(offset, length),
  }));
  if (!config) return fromReader;
  const findings = [
    ...backendFindings(config, lookup),
    ...(await dataFindings(config, configFile)),
    ...(await initialWeightsFindings(config, configFile, initialWeights)),
    ...maskFindings(config, (keyPath) => locator.valueNode(keyPath) !== undefined),
  ];
  return [
    ...fromReader,
    ...findings.map((finding) => {
      const node = locator.nodeOfKey(finding.keyPath);
      return node ? { ...finding, range: locator.range(node.offset, node.length) } : finding;
    }),
  ];
}

/** A forced native backend is checked without loading it: where its package is and whether a GPU is. */
function backendFindings(config: ResolvedConfig, lookup: NativeBackendLookup): Finding[] {
  const { backend } = config;
  if (backend !== 'node' && backend !== 'node-gpu') return [];
  const location = locateNativeBackend(backend, lookup);
  if (location.found) return [];
  return [
    {
      keyPath: 'backend',
      severity: 'error',
      message: `backend: "${backend}" cannot run on this machine: ${location.reason}; "auto" uses the fastest backend that can`,
    },
  ];
}

async function dataFindings(config: ResolvedConfig, configFile: string): Promise<Finding[]> {
  const root = path.resolve(path.dirname(configFile), config.data.root);
  let listing: DatasetListing;
  try {
    listing = await listDataset(root, config.data.layout);
  } catch (error) {
    // An unreadable folder is as much the data set's problem as a missing one, and the user fixes both there.
    const message =
      error instanceof DatasetError
        ? error.message
        : `data.root: ${root} cannot be listed: ${error instanceof Error ? error.message : String(error)}`;
    return [{ keyPath: 'data.root', severity: 'error', message }];
  }
  const findings: Finding[] = listing.warnings.map(({ message }) => ({
    keyPath: 'data.root',
    severity: 'warning',
    message,
  }));
  const resolved = { ...config, data: { ...config.data, root } };
  for (const conflict of dataConflicts(resolved, listing)) {
    findings.push({ keyPath: conflict.path, severity: 'error', message: conflict.message });
  }
  return findings;
}

async function initialWeightsFindings(
  config: ResolvedConfig,
  configFile: string,
  problemOf: ((model: ResolvedConfig['model']) => Promise<string | undefined>) | undefined,
): Promise<Finding[]> {
  const { init } = config.model;
  if (init === '' || !problemOf) return [];
  const source = isWeightsUrl(init) ? init : path.resolve(path.dirname(configFile), init);
  const problem = await problemOf({ ...config.model, init: source });
  return problem ? [{ keyPath: 'model.init', severity: 'error', message: `model.init: ${problem}` }] : [];
}

/**
 * Mask settings that defeat the method: h′ = h + m ⊙ ε changes nothing when the mask m is empty or the
 * perturbation has no strength, so ν·L_Cp trains on pairs (d(h), d(h′)) of one image twice; and a quantile
 * the mask never reads.
 */
function maskFindings(config: ResolvedConfig, isWritten: (keyPath: string) => boolean): Finding[] {
  const { combine } = config.analysis;
  const quantiles: Record<Criterion, number> = {
    variance: config.analysis.variance.quantile,
    gradcam: config.analysis.gradcam.quantile,
  };
  const used: Criterion[] =
    combine === 'union' || combine === 'intersection' ? ['variance', 'gradcam'] : [combine];
  // ⌊0·C⌋ = 0: a zero quantile picks no dimension whatever the encoder's width.
  const picksNone = (criterion: Criterion) => quantiles[criterion] === 0;
  const findings: Finding[] = [];
  const identicalPairs =
    'h′ = h, so each synthesized pair is one image twice and ν·L_Cp has no change to learn from';

  const emptyMask = combine === 'intersection' ? used.some(picksNone) : used.every(picksNone);
  const emptyMaskMatters = emptyMask && config.loss.nu > 0;
  if (emptyMaskMatters) {
    const culprit = used.find(picksNone)!;
    const other: Criterion = culprit === 'variance' ? 'gradcam' : 'variance';
    const key = quantileKeys[culprit];
    const why =
      combine === 'intersection'
        ? ' and analysis.combine "intersection" masks only the dimensions both criteria pick'
        : combine === 'union'
          ? `, nor does ${quantileKeys[other]}`
          : ` and analysis.combine "${combine}" reads this criterion alone`;
    const hint =
      combine === culprit && quantiles[other] > 0 ? `; did you mean analysis.combine "${other}"?` : '';
    findings.push({
      keyPath: key,
      severity: 'warning',
      message: `${key}: 0 picks no dimension${why}: the mask is empty and ${identicalPairs}${hint}`,
    });
  }

  const { mode, strength } = config.perturb;
  // Shuffling takes the partner's value whatever the strength; the other modes scale their step by it.
  if (strength === 0 && mode !== 'shuffle' && config.loss.nu > 0) {
    findings.push({
      keyPath: 'perturb.strength',
      severity: 'warning',
      message: `perturb.strength: 0 gives perturb.mode "${mode}" no step to take: ${identicalPairs}`,
    });
  }

  if (combine === 'variance' || combine === 'gradcam') {
    const unread: Criterion = combine === 'variance' ? 'gradcam' : 'variance';
    const key = quantileKeys[unread];
    // Left at its default or set to 0, the quantile says nothing the user could have meant for the mask; and
    // with an empty mask the warning above already suggests the combination that reads it.
    if (quantiles[unread] > 0 && isWritten(key) && !emptyMaskMatters) {
      findings.push({
        keyPath: key,
        severity: 'information',
        message: `${key}: does not change the mask, since analysis.combine "${combine}" reads ${quantileKeys[combine]} alone; the analysis only records the dimensions it picks`,
      });
    }
  }
  return findings;
}

/** Finds keys in the text and turns offsets into the editor's lines and characters. */
class TextLocator {
  /**
   * Parsed when a key is first looked up, which only happens for a text the config reader accepted: it
   * refuses a text nested too deep for jsonc-parser's recursion.
   */
  private parsed: { root: Node | undefined } | undefined;
  /** Offset at which each line starts; line breaks are \n, \r\n and a lone \r, as editors count them. */
  private readonly lineStarts: number[] = [0];

  constructor(private readonly text: string) {
    for (let offset = 0; offset < text.length; offset++) {
      const code = text.charCodeAt(offset);
      if (code === 13 && text.charCodeAt(offset + 1) === 10) offset++;
      if (code === 13 || code === 10) this.lineStarts.push(offset + 1);
    }
  }

  valueNode(keyPath: string): Node | undefined {
    this.parsed ??= { root: parseTree(withoutByteOrderMark(this.text), [], { allowTrailingComma: true }) };
    const { root } = this.parsed;
    return root && findNodeAtLocation(root, keyPath.split('.'));
  }

  /**
   * The key's value when it is written; else the name of the closest block around it that is, so a
   * default that is wrong points at the block to add it to rather than at the whole file.
   */
  nodeOfKey(keyPath: string): Node | undefined {
    const value = this.valueNode(keyPath);
    if (value) return value;
    const names = keyPath.split('.');
    for (let depth = names.length - 1; depth > 0; depth--) {
      const block = this.valueNode(names.slice(0, depth).join('.'));
      const name = block?.parent?.children?.[0];
      if (name) return name;
    }
    return undefined;
  }

  range(offset: number, length: number): NonNullable<ConfigDiagnosticMessage['range']> {
    return { start: this.position(offset), end: this.position(offset + length) };
  }

  private position(offset: number): { line: number; character: number } {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (this.lineStarts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low, character: offset - this.lineStarts[low]! };
  }
}
