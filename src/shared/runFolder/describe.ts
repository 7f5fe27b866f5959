import type { EvalRecord, ValidationFigures } from '../protocol/runFiles';

type Figures = Pick<EvalRecord, 'knnTop1' | 'linearTop1' | 'rank1' | 'rank5' | 'mAP'> & {
  validation?: ValidationFigures;
  best?: EvalRecord['best'];
};

const percent = (value: number | undefined) =>
  value === undefined ? undefined : `${(value * 100).toFixed(1)}%`;

/** `kNN 9.1%, linear 14.4%, …` for the test figures that were measured. */
function describeTestFigures(record: Figures): string {
  return [
    ['kNN', percent(record.knnTop1)],
    ['linear', percent(record.linearTop1)],
    ['rank-1', percent(record.rank1)],
    ['rank-5', percent(record.rank5)],
    ['mAP', percent(record.mAP)],
  ]
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
}

/**
 * The test figures that were measured (`kNN 9.1%, linear 14.4%, …`), then the validation ones, then the best
 * checkpoint's when the record holds it.
 */
export function describeEvaluation(record: Figures): string {
  const { validation, best } = record;
  const bestFigures = best && describeTestFigures(best);
  return [
    describeTestFigures(record),
    validation && `validation rank-1 ${percent(validation.rank1)}, mAP ${percent(validation.mAP)}`,
    best &&
      `best by validation ${best.by === 'rank1' ? 'rank-1' : best.by}: epoch ${best.epoch}${bestFigures ? `, ${bestFigures}` : ''}`,
  ]
    .filter((part) => part !== undefined && part !== '')
    .join('; ');
}

/** `total 4.21, contrastive 4.02, …`: every loss term of a metrics record. */
export function describeLosses(losses: Record<string, number>): string {
  return Object.entries(losses)
    .map(([name, value]) => `${name} ${value.toPrecision(3)}`)
    .join(', ');
}

/** `45 s`, `12 min`, `2 h 05 min`: a duration as a person reads it at a glance. */
export function describeDuration(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}
