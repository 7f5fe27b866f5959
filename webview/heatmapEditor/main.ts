import './main.css';
import {
  type HeatmapEditorState,
  type HeatmapEditorToHost,
  type HostToHeatmapEditor,
  heatmapEditorState,
  hostToHeatmapEditor,
} from '../../src/shared/protocol/heatmapEditor';
import { connectToHost } from '../shared/vscodeApi';
import './view';

const connection = connectToHost<HostToHeatmapEditor, HeatmapEditorToHost, HeatmapEditorState>({
  incoming: hostToHeatmapEditor,
  state: heatmapEditorState,
});
const restored = connection.restoreState();
let chosenExperiment: string | null = restored?.configFile ?? null;

const view = document.createElement('sp-heatmap-editor');
if (restored) {
  const { configFile: _, ...settings } = restored;
  view.settings = settings;
}
const save = () => connection.saveState({ ...view.settings, configFile: chosenExperiment });
view.onSettings = save;
view.onPost = (message) => {
  if (message.type === 'selectExperiment') {
    chosenExperiment = message.configFile;
    save();
  }
  connection.post(message);
};
connection.onMessage((message) => {
  view.receive(message);
  document.getElementById('app')?.setAttribute('aria-busy', String(message.type === 'computing'));
});
const app = document.getElementById('app')!;
app.replaceChildren(view);
connection.post({ type: 'ready', configFile: chosenExperiment });
