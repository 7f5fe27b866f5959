import path from 'node:path';
import type { StudyConditionSpec, StudyFile } from '../config/study/definitions';
import { assignments } from '../config/study/overrideKeys';
import type { StudyManifest } from '../protocol/studyFiles';

/** The study folder a study file trains into: its `out`, else `.synthpair/studies/<name>` beside the file. */
export function studyFolderOf(study: Pick<StudyFile, 'name' | 'out'>, studyFile: string): string {
  return path.resolve(path.dirname(studyFile), study.out ?? path.join('.synthpair', 'studies', study.name));
}

/** A trial's run folder name: the condition and the seed, so a folder listing reads as the study's table. */
export function trialId(condition: string, seed: number): string {
  return `${condition}.seed-${seed}`;
}

/**
 * What a study file asks for, trial by trial: every condition (the non-baseline ones crossed with the grid's
 * combinations or the list's points) with every seed. Conditions keep the file's order, the baseline first.
 */
export function planStudy(study: StudyFile, studyFile: string): Omit<StudyManifest, 'updatedAt'> {
  const baselineIndex = Math.max(
    0,
    study.conditions.findIndex((condition) => condition.baseline),
  );
  const points = sweepPoints(study);
  const conditions = study.conditions.flatMap((spec, index) => {
    const isBaseline = index === baselineIndex;
    const expanded = isBaseline || points.length === 0 ? [{}] : points;
    return expanded.map((point) => ({
      id: conditionId(spec, point),
      label: conditionLabel(spec, point),
      baseline: isBaseline,
      overrides: { ...study.set, ...spec.set, ...point },
    }));
  });
  const ordered = [
    ...conditions.filter((condition) => condition.baseline),
    ...conditions.filter((c) => !c.baseline),
  ];
  return {
    format: 1,
    name: study.name,
    studyFile: path.resolve(studyFile),
    experimentFile: path.resolve(path.dirname(studyFile), study.experiment),
    metrics: study.metrics,
    checkpoint: study.checkpoint,
    seeds: study.seeds,
    conditions: ordered.map(({ id, label, baseline }) => ({ id, label, baseline })),
    trials: ordered.flatMap((condition) =>
      study.seeds.map((seed) => ({
        id: trialId(condition.id, seed),
        condition: condition.id,
        seed,
        overrides: [
          ...assignments(condition.overrides),
          `seed=${seed}`,
          `name=${study.name}.${condition.id}`,
        ],
      })),
    ),
  };
}

/** The grid's combinations (its first key varying slowest), or the list's points; none without either. */
function sweepPoints(study: StudyFile): Record<string, unknown>[] {
  if (study.list) return study.list;
  if (!study.grid) return [];
  return Object.entries(study.grid).reduce<Record<string, unknown>[]>(
    (combinations, [key, values]) =>
      combinations.flatMap((combination) => values.map((value) => ({ ...combination, [key]: value }))),
    [{}],
  );
}

/** `method@perturb.strength=0.5,perturb.fraction=1`: the point is part of the folder name, kept to safe characters. */
function conditionId(spec: StudyConditionSpec, point: Record<string, unknown>): string {
  const entries = Object.entries(point);
  if (entries.length === 0) return spec.name;
  const text = (value: unknown) =>
    (typeof value === 'string' ? value : JSON.stringify(value)).replace(/[^A-Za-z0-9._-]+/g, '_');
  return `${spec.name}@${entries.map(([key, value]) => `${key}=${text(value)}`).join(',')}`;
}

function conditionLabel(spec: StudyConditionSpec, point: Record<string, unknown>): string {
  const base = spec.label ?? spec.name;
  const entries = Object.entries(point);
  if (entries.length === 0) return base;
  return `${base} (${entries.map(([key, value]) => `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`).join(', ')})`;
}
