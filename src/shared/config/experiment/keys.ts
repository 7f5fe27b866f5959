/**
 * The kinds of key an experiment file has, and the helpers that define them: the experiment's own definitions
 * and each SSL method's option block (src/shared/config/methods) are built from these. Descriptions are markdown.
 */

interface Documented {
  description: string;
}

/** A string; without a default the key is required. */
export interface StringKey extends Documented {
  kind: 'string';
  default?: string;
}

export interface EnumKey<Value extends string = string> extends Documented {
  kind: 'enum';
  values: readonly Value[];
  default: Value;
  valueDescriptions: readonly string[];
}

export interface BooleanKey extends Documented {
  kind: 'boolean';
  default: boolean;
}

export interface NumericKey extends Documented {
  kind: 'integer' | 'number';
  min: number;
  max: number;
  /** The minimum itself is not allowed (a learning rate of 0 trains nothing). */
  minExclusive?: boolean;
  default: number;
}

/** A `[min, max]` pair of numbers within `[lowest, highest]`. */
export interface IntervalKey extends Documented {
  kind: 'interval';
  lowest: number;
  highest: number;
  default: readonly [number, number];
}

/** The keys of a group only take effect when another key has one of some values (a per-method block). */
export interface Applicability {
  key: string;
  values: readonly string[];
}

export interface GroupKey<Keys extends Record<string, KeyDefinition> = Record<string, KeyDefinition>>
  extends Documented {
  kind: 'group';
  keys: Keys;
  appliesWhen?: Applicability;
}

export type LeafKey = StringKey | EnumKey | BooleanKey | NumericKey | IntervalKey;
export type KeyDefinition = LeafKey | GroupKey;

export const oneOf = <const Value extends string>(
  values: readonly Value[],
  defaultValue: NoInfer<Value>,
  valueDescriptions: readonly string[],
  description: string,
): EnumKey<Value> => ({ kind: 'enum', values, default: defaultValue, valueDescriptions, description });

export const integer = (min: number, max: number, defaultValue: number, description: string): NumericKey => ({
  kind: 'integer',
  min,
  max,
  default: defaultValue,
  description,
});

export const number = (
  min: number,
  max: number,
  defaultValue: number,
  description: string,
  options: { minExclusive?: boolean } = {},
): NumericKey => ({ kind: 'number', min, max, default: defaultValue, description, ...options });

export const probability = (defaultValue: number, description: string): NumericKey =>
  number(0, 1, defaultValue, description);

export const requiredText = (description: string): StringKey => ({ kind: 'string', description });

/** A string that may be left out, which reads as `''`, as does `""` written. */
export const optionalText = (description: string): StringKey => ({
  kind: 'string',
  default: '',
  description,
});

export const flag = (defaultValue: boolean, description: string): BooleanKey => ({
  kind: 'boolean',
  default: defaultValue,
  description,
});

export const interval = (
  lowest: number,
  highest: number,
  defaultValue: readonly [number, number],
  description: string,
): IntervalKey => ({ kind: 'interval', lowest, highest, default: defaultValue, description });

export const group = <const Keys extends Record<string, KeyDefinition>>(
  description: string,
  keys: Keys,
  appliesWhen?: Applicability,
): GroupKey<Keys> =>
  appliesWhen ? { kind: 'group', description, keys, appliesWhen } : { kind: 'group', description, keys };

/** The value a definition reads as once resolved: a group as an object of its keys' values. */
export type Resolved<Definition> =
  Definition extends GroupKey<infer Keys>
    ? { [Name in keyof Keys]: Resolved<Keys[Name]> }
    : Definition extends EnumKey<infer Value>
      ? Value
      : Definition extends StringKey
        ? string
        : Definition extends BooleanKey
          ? boolean
          : Definition extends IntervalKey
            ? [number, number]
            : number;
