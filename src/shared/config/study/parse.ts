import { closest, distance } from 'fastest-levenshtein';
import {
  findNodeAtLocation,
  getNodeValue,
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from 'jsonc-parser';
import type { ConfigDiagnostic } from '../experiment/parse';
import { maxExperimentFileLength, withoutByteOrderMark } from '../experiment/parse';
import { type StudyFile, studyFileSchema } from './definitions';
import { keysTheStudySets, overridableKeys } from './overrideKeys';

export interface StudyParseResult {
  /** Present when there is no error (warnings allowed). */
  study?: StudyFile;
  diagnostics: ConfigDiagnostic[];
}

/** Parses and validates a study file (JSON with comments): its shape, then what the shape cannot say. */
export function parseStudyFile(text: string): StudyParseResult {
  const diagnostics: ConfigDiagnostic[] = [];
  const report = (
    path: (string | number)[],
    message: string,
    node: Node | undefined,
    severity: ConfigDiagnostic['severity'] = 'error',
  ) =>
    diagnostics.push({
      path: path.join('.'),
      message,
      severity,
      offset: node?.offset ?? 0,
      length: node?.length ?? 0,
    });
  if (text.length > maxExperimentFileLength) {
    report(
      [],
      `the file holds ${text.length} characters, more than a study file can: is it the right file?`,
      undefined,
    );
    return { diagnostics };
  }
  const errors: ParseError[] = [];
  const root = parseTree(withoutByteOrderMark(text), errors, {
    allowTrailingComma: true,
    disallowComments: false,
  });
  for (const error of errors) {
    diagnostics.push({
      path: '',
      message: `not valid JSON: ${printParseErrorCode(error.error)}`,
      severity: 'error',
      offset: error.offset,
      length: error.length,
    });
  }
  if (!root || errors.length > 0) {
    if (!root) report([], 'the file is empty: a study needs name, experiment and conditions', undefined);
    return { diagnostics };
  }
  const nodeAt = (path: (string | number)[]): Node | undefined => {
    for (let length = path.length; length >= 0; length--) {
      const node = findNodeAtLocation(root, path.slice(0, length));
      // A key's diagnostic underlines the key's value; a missing key's, the block it is missing from.
      if (node) return node;
    }
    return root;
  };
  const parsed = studyFileSchema.safeParse(getNodeValue(root));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment));
      const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      if (unknownKeys.length > 0) {
        for (const key of unknownKeys) {
          report(
            [...path, key],
            `${[...path, key].join('.')}: unknown key`,
            findNodeAtLocation(root, [...path, key])?.parent?.children?.[0],
          );
        }
        continue;
      }
      report(path, `${path.join('.') || 'study'}: ${issue.message}`, nodeAt(path));
    }
    return { diagnostics };
  }
  const study = parsed.data;
  checkOverrides(study, nodeAt, report);
  checkConditions(study, nodeAt, report);
  return diagnostics.some((diagnostic) => diagnostic.severity === 'error')
    ? { diagnostics }
    : { study, diagnostics };
}

type Report = (
  path: (string | number)[],
  message: string,
  node: Node | undefined,
  severity?: ConfigDiagnostic['severity'],
) => void;
type NodeAt = (path: (string | number)[]) => Node | undefined;

/** Every overridden key must be one of the experiment's leaves; the seed and the name are the study's. */
function checkOverrides(study: StudyFile, nodeAt: NodeAt, report: Report): void {
  const blocks: [(string | number)[], Record<string, unknown> | undefined][] = [
    [['set'], study.set],
    [['grid'], study.grid],
    ...study.conditions.map(
      (condition, index): [(string | number)[], Record<string, unknown> | undefined] => [
        ['conditions', index, 'set'],
        condition.set,
      ],
    ),
    ...(study.list ?? []).map((point, index): [(string | number)[], Record<string, unknown>] => [
      ['list', index],
      point,
    ]),
  ];
  const candidates = [...overridableKeys];
  for (const [path, block] of blocks) {
    for (const key of Object.keys(block ?? {})) {
      const keyNode = nodeAt([...path, key])?.parent?.children?.[0];
      if (overridableKeys.has(key)) continue;
      if ((keysTheStudySets as readonly string[]).includes(key)) {
        const why =
          key === 'seed' ? 'the study gives each trial its seed from `seeds`' : 'the study names each trial';
        report([...path, key], `${key}: not overridden in a study: ${why}`, keyNode);
        continue;
      }
      const nearest = closest(key, candidates);
      const hint =
        distance(key, nearest) <= Math.max(2, Math.floor(key.length / 3)) ? `; did you mean ${nearest}?` : '';
      report([...path, key], `${key}: not a key of the experiment${hint}`, keyNode);
    }
  }
}

function checkConditions(study: StudyFile, nodeAt: NodeAt, report: Report): void {
  const seen = new Set<string>();
  study.conditions.forEach((condition, index) => {
    if (seen.has(condition.name)) {
      report(
        ['conditions', index, 'name'],
        `conditions: two are named ${condition.name}; each needs a name of its own`,
        nodeAt(['conditions', index, 'name']),
      );
    }
    seen.add(condition.name);
  });
  const baselines = study.conditions.flatMap((condition, index) => (condition.baseline ? [index] : []));
  for (const index of baselines.slice(1)) {
    report(
      ['conditions', index, 'baseline'],
      `conditions: ${study.conditions[index]!.name} is a second baseline; a study compares with one (${study.conditions[baselines[0]!]!.name})`,
      nodeAt(['conditions', index, 'baseline']),
    );
  }
  if (study.grid && study.list) {
    report(
      ['list'],
      'grid and list: give one of them; a list names its points, a grid crosses its values',
      nodeAt(['list']),
    );
  }
  const duplicateSeeds = study.seeds.filter((seed, index) => study.seeds.indexOf(seed) !== index);
  if (duplicateSeeds.length > 0) {
    report(
      ['seeds'],
      `seeds: ${[...new Set(duplicateSeeds)].join(', ')} listed twice; a seed is a trial of each condition`,
      nodeAt(['seeds']),
    );
  }
  if (study.conditions.length === 1 && !study.grid && !study.list) {
    report(
      ['conditions'],
      'conditions: only one, so there is nothing to compare it with',
      nodeAt(['conditions']),
      'warning',
    );
  }
}
