import { closest, distance } from 'fastest-levenshtein';
import {
  createScanner,
  getNodeValue,
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from 'jsonc-parser';
import { selectedMethod } from '../methods/registry';
import { experimentDefinition, keyPaths, type ResolvedConfig } from './definitions';
import type { GroupKey, IntervalKey, KeyDefinition, LeafKey, NumericKey } from './keys';

export interface ConfigDiagnostic {
  /** Dotted key path, e.g. `train.batchSize`; empty for the file as a whole. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
  /** Location in the config text; `--set` overrides have none and report offset 0, length 0. */
  offset: number;
  length: number;
}

export interface ParseOptions {
  /** `key.path=value` assignments (the CLI's `--set`); the value is JSON when it parses as JSON, else a string. */
  overrides?: readonly string[];
}

export interface ParseResult {
  /** Present when there is no error (warnings allowed). */
  config?: ResolvedConfig;
  diagnostics: ConfigDiagnostic[];
  /**
   * Where a later diagnostic about `keyPath` belongs, one found once the data is listed: the key's value
   * as written, else its closest written block; no location when `--set` gave the value.
   */
  locate(keyPath: string): Span;
}

export interface Span {
  offset: number;
  length: number;
}

const noLocation: Span = { offset: 0, length: 0 };

/**
 * An experiment file is a few kilobytes; a text far beyond that is another file opened by mistake, and
 * reading it would hold up the editor's worker on every keystroke. Characters here; the CLI holds a file's
 * bytes to the same figure before reading it, which no text within it exceeds.
 */
export const maxExperimentFileLength = 1024 * 1024;

/**
 * The experiment's keys nest a few levels; jsonc-parser recurses once per level, so a text nested far deeper
 * would exhaust the stack.
 */
export const maxExperimentNesting = 64;

/**
 * The text with a leading UTF-8 byte-order mark (which editors on Windows write) replaced by a space:
 * jsonc-parser reads the mark as a stray symbol, and a space keeps every offset where it was.
 */
export function withoutByteOrderMark(text: string): string {
  return text.startsWith('\uFEFF') ? ` ${text.slice(1)}` : text;
}

/** Parses and validates an experiment file (JSON with comments), then applies `--set` overrides. */
export function parseExperimentConfig(text: string, options: ParseOptions = {}): ParseResult {
  const state = new ReadState();
  const result = (config?: ResolvedConfig): ParseResult => ({
    ...(config ? { config } : {}),
    diagnostics: state.diagnostics,
    locate: (keyPath) => nearestWrittenSpan(state, keyPath),
  });
  if (text.length > maxExperimentFileLength) {
    state.report(
      '',
      `the file is ${text.length} characters long, more than the ${maxExperimentFileLength} an experiment file may hold; is it the right file?`,
      'error',
      noLocation,
    );
    return result();
  }
  const source = withoutByteOrderMark(text);
  const tooDeep = nestingTooDeepAt(source);
  if (tooDeep !== undefined) {
    state.report('', nestingProblem(''), 'error', { offset: tooDeep, length: 1 });
    return result();
  }
  const syntaxErrors: ParseError[] = [];
  const root = parseTree(source, syntaxErrors, { allowTrailingComma: true });
  for (const error of syntaxErrors) {
    const problem = printParseErrorCode(error.error)
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toLowerCase();
    state.report('', `syntax error: ${problem}`, 'error', error);
  }
  // Without a root (an empty file, a syntax error already reported) nothing else is worth saying; a partial
  // tree from a file with syntax errors still has problems worth reporting in the same pass.
  if (!root) return result();
  state.spans.set('', spanOf(root));
  new Reader(state, spanOf, '').readGroup(root, experimentDefinition, '');
  for (const assignment of options.overrides ?? []) applyOverride(state, assignment);
  // A file cut short by a syntax error lacks keys because of that error, not because they were forgotten.
  if (syntaxErrors.length === 0) reportMissingRequiredKeys(state);

  const hasErrors = () => state.diagnostics.some((diagnostic) => diagnostic.severity === 'error');
  // Cross-key checks on top of values already wrong would only repeat those errors in other words.
  if (hasErrors()) return result();
  const config = resolve(experimentDefinition, '', state.values) as ResolvedConfig;
  checkAcrossKeys(config, state);
  return hasErrors() ? result() : result(config);
}

/**
 * The offset of the first bracket or brace nested deeper than {@link maxExperimentNesting}, found with
 * jsonc-parser's scanner, which does not recurse: strings and comments that hold brackets are tokens of
 * their own.
 */
function nestingTooDeepAt(text: string): number | undefined {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (scanner.scan(); scanner.getTokenLength() > 0; scanner.scan()) {
    const first = text[scanner.getTokenOffset()];
    if (first === '{' || first === '[') {
      depth++;
      if (depth > maxExperimentNesting) return scanner.getTokenOffset();
    } else if (first === '}' || first === ']') {
      depth--;
    }
  }
  return undefined;
}

function nestingProblem(context: string): string {
  return `objects and arrays nested more than ${maxExperimentNesting} levels deep, far deeper than any experiment key; the text was not read further${context}`;
}

class ReadState {
  readonly diagnostics: ConfigDiagnostic[] = [];
  /** Valid leaf values by key path; a later write (an override) replaces an earlier one. */
  readonly values = new Map<string, unknown>();
  /** Where each key that was written (group or leaf) is, for diagnostics that concern it later. */
  readonly spans = new Map<string, Span>();

  report(path: string, message: string, severity: ConfigDiagnostic['severity'], span: Span): void {
    this.diagnostics.push({ path, message, severity, offset: span.offset, length: span.length });
  }
}

function spanOf(node: Node): Span {
  return { offset: node.offset, length: node.length };
}

/** Reads one source of values: the file, or one `--set` value (then `context` says which). */
class Reader {
  constructor(
    private readonly state: ReadState,
    private readonly locate: (node: Node) => Span,
    private readonly context: string,
  ) {}

  private error(path: string, problem: string, node: Node): void {
    const message = `${path ? `${path}: ` : ''}${problem}${this.context}`;
    this.state.report(path, message, 'error', this.locate(node));
  }

  readGroup(node: Node, definition: GroupKey, path: string): void {
    if (node.type !== 'object') {
      this.error(path, `must be an object, got ${describeNode(node)}`, node);
      return;
    }
    const written = new Set<string>();
    for (const property of node.children ?? []) {
      const [nameNode, valueNode] = property.children ?? [];
      if (!nameNode) continue;
      const name = String(nameNode.value);
      const childPath = path ? `${path}.${name}` : name;
      // Readers differ on which of two equal keys wins, and a person reading the file may take either.
      if (written.has(name)) {
        this.error(childPath, 'written more than once in its block; keep one', nameNode);
        continue;
      }
      written.add(name);
      // `$schema` is how editors without the contributed schema are pointed at it; it carries no setting.
      if (!path && name === '$schema') continue;
      const child = Object.hasOwn(definition.keys, name) ? definition.keys[name] : undefined;
      if (!child) {
        this.error(childPath, `unknown key${suggestionFor(name, definition, path)}`, nameNode);
        continue;
      }
      // A property without a value is a syntax error, reported already.
      if (valueNode) this.readValue(valueNode, child, childPath);
    }
  }

  readValue(node: Node, definition: KeyDefinition, path: string): void {
    this.state.spans.set(path, this.locate(node));
    if (definition.kind === 'group') this.readGroup(node, definition, path);
    else this.readLeaf(node, definition, path);
  }

  private readLeaf(node: Node, definition: LeafKey, path: string): void {
    const value: unknown = getNodeValue(node);
    const valid = (() => {
      switch (definition.kind) {
        case 'string':
          // An optional text reads as '' when left out, and a saved config writes it so.
          return definition.default === ''
            ? this.expect(typeof value === 'string', 'a string', path, node)
            : this.expect(typeof value === 'string' && value.trim() !== '', 'a non-empty string', path, node);
        case 'boolean':
          return this.expect(typeof value === 'boolean', 'true or false', path, node);
        case 'enum': {
          if (typeof value === 'string' && definition.values.includes(value)) return true;
          const allowed = definition.values.map((option) => JSON.stringify(option)).join(', ');
          const nearest = typeof value === 'string' ? nearestName(value, definition.values) : undefined;
          const hint = nearest ? `; did you mean ${JSON.stringify(nearest)}?` : '';
          this.error(path, `must be one of ${allowed}, got ${describeNode(node)}${hint}`, node);
          return false;
        }
        case 'integer':
        case 'number':
          return this.expect(isInRange(value, definition), describeNumeric(definition), path, node);
        case 'interval':
          return this.readInterval(node, definition, path);
      }
    })();
    if (valid) this.state.values.set(path, value);
  }

  private expect(condition: boolean, expectation: string, path: string, node: Node): boolean {
    if (!condition) this.error(path, `must be ${expectation}, got ${describeNode(node)}`, node);
    return condition;
  }

  private readInterval(node: Node, definition: IntervalKey, path: string): boolean {
    const bounds = `between ${definition.lowest} and ${definition.highest}`;
    const elements = node.type === 'array' ? (node.children ?? []) : [];
    if (elements.length !== 2) {
      this.error(path, `must be a pair [min, max] of numbers ${bounds}, got ${describeNode(node)}`, node);
      return false;
    }
    let valid = true;
    elements.forEach((element, index) => {
      const value: unknown = getNodeValue(element);
      if (typeof value !== 'number' || value < definition.lowest || value > definition.highest) {
        const which = index === 0 ? 'minimum' : 'maximum';
        this.error(path, `${which} must be a number ${bounds}, got ${describeNode(element)}`, element);
        valid = false;
      }
    });
    const [min, max] = elements.map((element) => getNodeValue(element) as number);
    if (valid && min! > max!) {
      this.error(path, `minimum ${min} is greater than maximum ${max}`, node);
      valid = false;
    }
    return valid;
  }
}

function isInRange(value: unknown, definition: NumericKey): boolean {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (definition.kind === 'integer' && !Number.isInteger(value)) return false;
  const aboveMin = definition.minExclusive ? value > definition.min : value >= definition.min;
  return aboveMin && value <= definition.max;
}

function describeNumeric(definition: NumericKey): string {
  const what = definition.kind === 'integer' ? 'an integer' : 'a number';
  return definition.minExclusive
    ? `${what} greater than ${definition.min} and at most ${definition.max}`
    : `${what} between ${definition.min} and ${definition.max}`;
}

function describeNode(node: Node): string {
  switch (node.type) {
    case 'object':
      return 'an object';
    case 'array':
      return `an array of ${node.children?.length ?? 0}`;
    case 'string': {
      const text = JSON.stringify(node.value);
      return text.length > 40 ? `${text.slice(0, 37)}…"` : text;
    }
    default:
      return String(node.value);
  }
}

/** A close sibling name (a typo), else the full path of a key of that name elsewhere (a misplaced key). */
function suggestionFor(name: string, parent: GroupKey, parentPath: string): string {
  const sibling = nearestName(name, Object.keys(parent.keys));
  if (sibling) return `; did you mean ${parentPath ? `${parentPath}.${sibling}` : sibling}?`;
  const lowerName = name.toLowerCase();
  for (const path of keyPaths().keys()) {
    if (path.split('.').at(-1)!.toLowerCase() === lowerName) return `; did you mean ${path}?`;
  }
  return '';
}

function nearestName(name: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const nearest = closest(
    name.toLowerCase(),
    candidates.map((candidate) => candidate.toLowerCase()),
  );
  const allowedEdits = Math.max(2, Math.floor(name.length / 3));
  if (distance(name.toLowerCase(), nearest) > allowedEdits) return undefined;
  return candidates.find((candidate) => candidate.toLowerCase() === nearest);
}

/** The key path a `--set key=value` assignment writes, or undefined when it has no `key=` part. */
export function overrideKey(assignment: string): string | undefined {
  const separator = assignment.indexOf('=');
  return separator > 0 ? assignment.slice(0, separator).trim() || undefined : undefined;
}

function applyOverride(state: ReadState, assignment: string): void {
  const context = ` (from --set ${assignment})`;
  const separator = assignment.indexOf('=');
  const path = overrideKey(assignment);
  if (!path) {
    state.report('', `--set ${assignment}: expected key.path=value`, 'error', noLocation);
    return;
  }
  let definition: KeyDefinition = experimentDefinition;
  let resolvedPath = '';
  for (const name of path.split('.')) {
    const parent: KeyDefinition = definition;
    const child: KeyDefinition | undefined =
      parent.kind === 'group' && Object.hasOwn(parent.keys, name) ? parent.keys[name] : undefined;
    const childPath = resolvedPath ? `${resolvedPath}.${name}` : name;
    if (!child) {
      const suggestion = parent.kind === 'group' ? suggestionFor(name, parent, resolvedPath) : '';
      const problem = parent.kind === 'group' ? 'unknown key' : `${resolvedPath} has no keys`;
      state.report(childPath, `${childPath}: ${problem}${suggestion}${context}`, 'error', noLocation);
      return;
    }
    definition = child;
    resolvedPath = childPath;
  }
  const rawValue = assignment.slice(separator + 1);
  if (nestingTooDeepAt(rawValue) !== undefined) {
    state.report(path, `${path}: ${nestingProblem(context)}`, 'error', noLocation);
    return;
  }
  new Reader(state, () => noLocation, context).readValue(
    overrideValueNode(rawValue, definition),
    definition,
    path,
  );
}

function overrideValueNode(rawValue: string, definition: KeyDefinition): Node {
  const errors: ParseError[] = [];
  const asJson = parseTree(rawValue, errors);
  // Text keys take the text as written, so `--set name=2024` names the run "2024" rather than failing.
  const textKey = definition.kind === 'string' || definition.kind === 'enum';
  if (asJson && errors.length === 0 && (!textKey || asJson.type === 'string')) return asJson;
  return parseTree(JSON.stringify(rawValue))!;
}

function reportMissingRequiredKeys(state: ReadState): void {
  for (const [path, definition] of keyPaths()) {
    if (definition.kind !== 'string' || definition.default !== undefined || state.values.has(path)) continue;
    if (state.diagnostics.some((diagnostic) => diagnostic.path === path)) continue;
    state.report(path, `${path}: required key is missing`, 'error', nearestWrittenSpan(state, path));
  }
}

/** The span of the key itself when it was written, else of its closest written ancestor (the file's root last). */
function nearestWrittenSpan(state: ReadState, path: string): Span {
  for (let ancestor = path; ; ancestor = ancestor.slice(0, Math.max(ancestor.lastIndexOf('.'), 0))) {
    const span = state.spans.get(ancestor);
    if (span) return span;
    if (!ancestor) return noLocation;
  }
}

function resolve(definition: KeyDefinition, path: string, values: Map<string, unknown>): unknown {
  if (definition.kind === 'group') {
    return Object.fromEntries(
      Object.entries(definition.keys).map(([name, child]) => [
        name,
        resolve(child, path ? `${path}.${name}` : name, values),
      ]),
    );
  }
  const value = values.has(path) ? values.get(path) : definition.default;
  return Array.isArray(value) ? [...value] : value;
}

function checkAcrossKeys(config: ResolvedConfig, state: ReadState): void {
  const { epochs } = config.train;
  const method = selectedMethod(config.ssl);
  for (const problem of method.spec.problems?.(method.options, config.train) ?? []) {
    const path = `ssl.${method.name}.${problem.key}`;
    state.report(
      path,
      `${path}: ${problem.message}`,
      'error',
      nearestWrittenSpan(state, state.spans.has(path) ? path : problem.otherKey),
    );
  }
  if (config.optim.warmupEpochs > 0 && config.optim.warmupEpochs >= epochs) {
    const path = 'optim.warmupEpochs';
    state.report(
      path,
      `${path}: ${config.optim.warmupEpochs} warm-up epochs cover the whole run of ${epochs} epochs, so the learning rate never reaches its base value`,
      'warning',
      nearestWrittenSpan(state, state.spans.has(path) ? path : 'train.epochs'),
    );
  }
  for (const [path, definition] of keyPaths()) {
    if (definition.kind !== 'group' || !definition.appliesWhen) continue;
    const { key, values } = definition.appliesWhen;
    const selected = String(valueAt(config, key));
    const written = [...state.spans.keys()].find(
      (written) => written === path || written.startsWith(`${path}.`),
    );
    if (written === undefined || values.includes(selected)) continue;
    state.report(
      path,
      `${path}: has no effect because ${key} is ${JSON.stringify(selected)}`,
      'warning',
      state.spans.get(written)!,
    );
  }
}

function valueAt(config: ResolvedConfig, path: string): unknown {
  return path.split('.').reduce<unknown>((value, name) => (value as Record<string, unknown>)[name], config);
}
