import assert from 'node:assert/strict';
import type * as ConfigDiagnosticsModule from '../../../src/host/experimentFile/configDiagnostics';
import type {
  ConfigDiagnosticMessage,
  WorkerParams,
  WorkerResult,
} from '../../../src/shared/protocol/worker';
import { FakeEventEmitter, substituteVscode } from '../../support/fakeVscode';

class FakeRange {
  constructor(
    readonly startLine: number,
    readonly startCharacter: number,
    readonly endLine: number,
    readonly endCharacter: number,
  ) {}
}

class FakeDiagnostic {
  source?: string;
  code?: string;
  constructor(
    readonly range: FakeRange,
    readonly message: string,
    readonly severity: number,
  ) {}
}

interface FakeDocument {
  uri: { scheme: string; toString(): string };
  fileName: string;
  text: string;
  getText(): string;
}

function document(fileName: string, text: string, scheme = 'file'): FakeDocument {
  return {
    uri: { scheme, toString: () => `${scheme}://${fileName}` },
    fileName,
    text,
    getText() {
      return this.text;
    },
  };
}

const shown = new Map<string, FakeDiagnostic[]>();
let collectionDisposed = false;
const opened = new FakeEventEmitter<FakeDocument>();
const changed = new FakeEventEmitter<{ document: FakeDocument; contentChanges: unknown[] }>();
const saved = new FakeEventEmitter<FakeDocument>();
const closed = new FakeEventEmitter<FakeDocument>();
const openAtStart: FakeDocument[] = [];

/** Just enough of the `vscode` API for the diagnostics class. */
const fakeVscode = {
  DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
  Range: FakeRange,
  Diagnostic: FakeDiagnostic,
  languages: {
    createDiagnosticCollection: () => ({
      set: (uri: FakeDocument['uri'], diagnostics: FakeDiagnostic[]) =>
        shown.set(uri.toString(), diagnostics),
      delete: (uri: FakeDocument['uri']) => shown.delete(uri.toString()),
      dispose: () => {
        collectionDisposed = true;
        shown.clear();
      },
    }),
  },
  workspace: {
    onDidOpenTextDocument: opened.event,
    onDidChangeTextDocument: changed.event,
    onDidSaveTextDocument: saved.event,
    onDidCloseTextDocument: closed.event,
    textDocuments: openAtStart,
  },
};

/** A worker whose answers the test releases one by one, in any order. */
class FakeEngine {
  readonly requests: {
    params: WorkerParams<'diagnoseConfig'>;
    answer(result: WorkerResult<'diagnoseConfig'>): void;
    fail(error: Error): void;
  }[] = [];

  diagnoseConfig(params: WorkerParams<'diagnoseConfig'>): Promise<WorkerResult<'diagnoseConfig'>> {
    return new Promise((resolve, reject) => this.requests.push({ params, answer: resolve, fail: reject }));
  }
}

const debounceMs = 40;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Lets answered requests' continuations run. */
const settle = () => sleep(0);

function diagnostic(message: string, extra: Partial<ConfigDiagnosticMessage> = {}): ConfigDiagnosticMessage {
  return { message, severity: 'error', keyPath: 'data.root', ...extra };
}

describe('config diagnostics in the editor', () => {
  let restoreVscode: () => void;
  let ConfigDiagnostics: typeof ConfigDiagnosticsModule.ConfigDiagnostics;
  let engine: FakeEngine;
  let logged: string[];
  let subject: ConfigDiagnosticsModule.ConfigDiagnostics | undefined;

  before(() => {
    restoreVscode = substituteVscode(fakeVscode);
    ({ ConfigDiagnostics } =
      require('../../../src/host/experimentFile/configDiagnostics') as typeof ConfigDiagnosticsModule);
  });

  after(() => restoreVscode());

  beforeEach(() => {
    shown.clear();
    collectionDisposed = false;
    openAtStart.length = 0;
    engine = new FakeEngine();
    logged = [];
  });

  afterEach(() => {
    subject?.dispose();
    subject = undefined;
  });

  function start(): ConfigDiagnosticsModule.ConfigDiagnostics {
    subject = new ConfigDiagnostics(engine, { debounceMs, log: (message) => logged.push(message) });
    return subject;
  }

  const edit = (doc: FakeDocument, text: string) => {
    doc.text = text;
    changed.fire({ document: doc, contentChanges: [{}] });
  };

  it('checks experiment files open at start and when opened, and no other file', async () => {
    const restored = document('/w/restored.synthpair.json', '{"restored": 1}');
    openAtStart.push(restored);
    start();
    opened.fire(document('/w/other.json', '{}'));
    opened.fire(document('/w/shown.synthpair.json', '{}', 'git'));
    const fresh = document('/w/fresh.synthpair.json', '{"fresh": 1}');
    opened.fire(fresh);
    await sleep(5);
    assert.deepEqual(
      engine.requests.map(({ params }) => params),
      [
        { configFile: '/w/restored.synthpair.json', text: '{"restored": 1}' },
        { configFile: '/w/fresh.synthpair.json', text: '{"fresh": 1}' },
      ],
    );
  });

  it('asks once per pause in typing, with the text as it is then', async () => {
    start();
    const doc = document('/w/typed.synthpair.json', '{');
    for (const text of ['{"n', '{"na', '{"name"']) {
      edit(doc, text);
      await sleep(debounceMs / 4);
    }
    assert.equal(engine.requests.length, 0);
    await sleep(debounceMs * 2);
    assert.deepEqual(
      engine.requests.map(({ params }) => params.text),
      ['{"name"'],
    );
    // A change of the dirty flag alone is no edit.
    changed.fire({ document: doc, contentChanges: [] });
    await sleep(debounceMs * 2);
    assert.equal(engine.requests.length, 1);
  });

  it('shows each answer as a diagnostic located at its range, from SynthPair, coded by its key', async () => {
    start();
    const doc = document('/w/shown.synthpair.json', '{}');
    opened.fire(doc);
    await sleep(5);
    engine.requests[0]!.answer([
      diagnostic('no such folder', {
        range: { start: { line: 2, character: 12 }, end: { line: 2, character: 18 } },
      }),
      diagnostic('unused', { severity: 'information', keyPath: 'analysis.gradcam.quantile' }),
      diagnostic('syntax', { severity: 'warning', keyPath: '' }),
    ]);
    await settle();
    const diagnostics = shown.get(doc.uri.toString())!;
    assert.deepEqual(
      diagnostics.map(({ range, message, severity, source, code }) => ({
        range,
        message,
        severity,
        source,
        code,
      })),
      [
        {
          range: new FakeRange(2, 12, 2, 18),
          message: 'no such folder',
          severity: 0,
          source: 'SynthPair',
          code: 'data.root',
        },
        {
          range: new FakeRange(0, 0, 0, 0),
          message: 'unused',
          severity: 2,
          source: 'SynthPair',
          code: 'analysis.gradcam.quantile',
        },
        {
          range: new FakeRange(0, 0, 0, 0),
          message: 'syntax',
          severity: 1,
          source: 'SynthPair',
          code: undefined,
        },
      ],
    );
  });

  it('keeps the answer to the newest request when an older one arrives later', async () => {
    start();
    const doc = document('/w/raced.synthpair.json', 'old');
    opened.fire(doc);
    await sleep(5);
    edit(doc, 'new');
    await sleep(debounceMs * 2);
    assert.equal(engine.requests.length, 2);
    const [older, newer] = engine.requests;
    newer!.answer([diagnostic('about new')]);
    await settle();
    older!.answer([diagnostic('about old')]);
    await settle();
    assert.deepEqual(
      shown.get(doc.uri.toString())!.map(({ message }) => message),
      ['about new'],
    );
  });

  it('clears a closed document, and drops an answer that arrives after it closed', async () => {
    start();
    const doc = document('/w/closed.synthpair.json', '{}');
    opened.fire(doc);
    await sleep(5);
    engine.requests[0]!.answer([diagnostic('shown')]);
    await settle();
    assert.equal(shown.get(doc.uri.toString())?.length, 1);

    edit(doc, '{"x": 1}');
    await sleep(debounceMs * 2);
    closed.fire(doc);
    assert.equal(shown.has(doc.uri.toString()), false);
    engine.requests[1]!.answer([diagnostic('too late')]);
    await settle();
    assert.equal(shown.has(doc.uri.toString()), false);

    // An edit pending when the document closes is never sent.
    opened.fire(doc);
    await sleep(5);
    edit(doc, '{"y": 1}');
    closed.fire(doc);
    await sleep(debounceMs * 2);
    assert.equal(engine.requests.length, 3);
  });

  it('clears stale diagnostics and logs when the worker cannot answer', async () => {
    start();
    const doc = document('/w/failed.synthpair.json', '{}');
    opened.fire(doc);
    await sleep(5);
    engine.requests[0]!.answer([diagnostic('before the crash')]);
    await settle();
    saved.fire(doc);
    await sleep(5);
    engine.requests[1]!.fail(new Error('worker crashed'));
    await settle();
    assert.equal(shown.has(doc.uri.toString()), false);
    assert.deepEqual(logged, ['/w/failed.synthpair.json: could not be checked: worker crashed']);
  });

  it('stops listening and clears everything when disposed', async () => {
    start().dispose();
    subject = undefined;
    assert.equal(collectionDisposed, true);
    for (const event of [opened, changed, saved, closed]) assert.equal(event.listenerCount, 0);
  });
});
