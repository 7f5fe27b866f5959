/** Every command SynthPair contributes; package.json's `contributes.commands` is generated from this. */
export const commandDefinitions = {
  showBackendInfo: { id: 'synthpair.showBackendInfo', title: 'Show Backend Info', category: 'SynthPair' },
  openDashboard: { id: 'synthpair.openDashboard', title: 'Open Dashboard', category: 'SynthPair' },
} as const;
