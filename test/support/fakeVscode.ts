import Module from 'node:module';
import path from 'node:path';

/**
 * Unit tests of host classes cannot load the real `vscode` module, which only an extension host provides:
 * these are the pieces of it the tests stand in for.
 */

/** `vscode.EventEmitter`, with a count of its listeners so a test can see that a class let go of them. */
/** `vscode.Uri` for hosts that only build file paths from it. */
export class FakeUri {
  constructor(readonly fsPath: string) {}
  static file(fsPath: string): FakeUri {
    return new FakeUri(fsPath);
  }
  static joinPath(base: FakeUri, ...segments: string[]): FakeUri {
    return new FakeUri(path.join(base.fsPath, ...segments));
  }
}

export class FakeEventEmitter<T> {
  private readonly listeners = new Set<(value: T) => void>();
  readonly event = (listener: (value: T) => void) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(value: T): void {
    for (const listener of this.listeners) listener(value);
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
  dispose(): void {
    this.listeners.clear();
  }
}

type ModuleLoader = { _load(request: string, ...rest: unknown[]): unknown };

/**
 * Answers `require('vscode')` with `fake` until the returned function is called, so that a host module
 * required in between binds to the fake.
 */
export function substituteVscode(fake: object): () => void {
  const loader = Module as unknown as ModuleLoader;
  const originalLoad = loader._load;
  loader._load = function (this: unknown, request: string, ...rest: unknown[]) {
    return request === 'vscode' ? fake : originalLoad.call(this, request, ...rest);
  };
  return () => {
    loader._load = originalLoad;
  };
}
