import type { StudyMetric } from '../../src/shared/config/study/definitions';
import type { StudyManifest } from '../../src/shared/protocol/studyFiles';

/** A study's manifest as `study run` writes it: every condition with every seed, trials named as the CLI names them. */
export function studyManifestOf(study: {
  name: string;
  studyFile: string;
  experimentFile: string;
  metrics: StudyMetric[];
  conditions: StudyManifest['conditions'];
  seeds: number[];
}): StudyManifest {
  return {
    format: 1,
    updatedAt: '2026-12-07T09:14:00.000Z',
    checkpoint: 'best',
    ...study,
    trials: study.conditions.flatMap((condition) =>
      study.seeds.map((seed) => ({
        id: `${condition.id}.seed-${seed}`,
        condition: condition.id,
        seed,
        overrides: [`seed=${seed}`],
      })),
    ),
  };
}
