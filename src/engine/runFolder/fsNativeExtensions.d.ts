// The package ships no types; these are the calls SynthPair makes, as its README documents them.
declare module 'fs-native-extensions' {
  /** An exclusive open-file-description lock on all of `fd`'s file; false when another holder has it. */
  export function tryLock(fd: number): boolean;
}
